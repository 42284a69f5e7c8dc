#!/usr/bin/env bash
# Installs fagprat into .venv on a machine with Python 3.11 and nothing else.
# Idempotent: re-running with an unchanged pyproject.toml does nothing.
#
# Installer: uv (pinned, installed into the venv by pip) resolves and installs in parallel from its
# cache: about a minute on a clean clone, bytecode included, against over 2 minutes with pip alone
# (measured on 2 cores).
# uv reads its own settings (UV_DEFAULT_INDEX for a PyPI mirror, UV_SYSTEM_CERTS=1 for an intercepting
# proxy; see the README), not pip's; pip's find-links (local wheel folders) are passed on.
# FAGPRAT_INSTALLER=pip uses pip alone; when uv fails the script falls back to pip by itself.
#
# torch: the CPU build is wanted (the LLM runs in llama.cpp; torch only embeds).
# torch comes from $FAGPRAT_TORCH_INDEX when set (e.g. https://download.pytorch.org/whl/cpu),
# else from the configured sources (this workplace keeps the CPU wheel in a local find-links folder).
# llama-cpp-python compiles from source (~6 min on 2 cores); its wheel is cached in
# $FAGPRAT_WHEEL_CACHE so later installs and CI runs skip the build. Set CMAKE_ARGS=-DGGML_CUDA=on
# before the first install for GPU offload.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
TORCH_VERSION=2.13.0
LLAMA_CPP_VERSION=0.3.36
UV_VERSION=0.13.9
INSTALLER=${FAGPRAT_INSTALLER:-uv}
WHEEL_CACHE=${FAGPRAT_WHEEL_CACHE:-$HOME/.cache/fagprat-wheels}
STAMP=.venv/.fagprat-installed

want=$( (cat pyproject.toml scripts/setup.sh; echo "${CMAKE_ARGS:-}") | sha256sum | cut -d' ' -f1)
if [[ -f $STAMP && $(cat $STAMP) == "$want" ]]; then
  exit 0
fi

if ! command -v "$PYTHON" >/dev/null; then
  echo "fagprat needs Python 3.11 ($PYTHON not found; set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi
[[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)

mkdir -p "$WHEEL_CACHE"
if ! ls "$WHEEL_CACHE"/llama_cpp_python-"$LLAMA_CPP_VERSION"-*.whl >/dev/null 2>&1; then
  echo "Building llama-cpp-python $LLAMA_CPP_VERSION (once; about 6 minutes on 2 cores)..." >&2
  "${PIP[@]}" wheel --no-deps -w "$WHEEL_CACHE" "llama-cpp-python==$LLAMA_CPP_VERSION"
fi
llama_wheel() { ls "$WHEEL_CACHE"/llama_cpp_python-"$LLAMA_CPP_VERSION"-*.whl | head -1; }

install_with_uv() {
  "${PIP[@]}" install "uv==$UV_VERSION" || return 1
  # --compile-bytecode as pip does: where PYTHONDONTWRITEBYTECODE is set (this workplace), every
  # process would otherwise compile torch, langchain and chainlit again (the main imports took
  # 30 s instead of 16 s, measured).
  local UV=(.venv/bin/uv pip install -q --compile-bytecode --python .venv/bin/python) links=() folder
  # pip's find-links folders (a local torch CPU wheel, say) and the llama-cpp-python wheel cache.
  for folder in ${PIP_FIND_LINKS:-} $("${PIP[@]}" config get global.find-links 2>/dev/null || true) "$WHEEL_CACHE"; do
    links+=(--find-links "$folder")
  done
  if [[ -n ${FAGPRAT_TORCH_INDEX:-} ]]; then
    "${UV[@]}" --default-index "$FAGPRAT_TORCH_INDEX" "torch==$TORCH_VERSION" || return 1
  fi
  "${UV[@]}" "${links[@]}" "torch==$TORCH_VERSION" -e ".[dev]" || return 1
  if [[ -n ${CMAKE_ARGS:-} ]]; then
    # A GPU build replaces whatever llama-cpp-python was installed before.
    "${UV[@]}" --no-deps --reinstall "$(llama_wheel)" || return 1
  fi
}

install_with_pip() {
  "${PIP[@]}" install --upgrade pip wheel setuptools
  local torch_args=()
  [[ -n ${FAGPRAT_TORCH_INDEX:-} ]] && torch_args=(--index-url "$FAGPRAT_TORCH_INDEX")
  "${PIP[@]}" install "${torch_args[@]}" "torch==$TORCH_VERSION"
  "${PIP[@]}" install --find-links "$WHEEL_CACHE" "torch==$TORCH_VERSION" -e ".[dev]"
  if [[ -n ${CMAKE_ARGS:-} ]]; then
    "${PIP[@]}" install --no-deps --force-reinstall "$(llama_wheel)"
  fi
}

if [[ $INSTALLER == uv ]]; then
  if ! install_with_uv; then
    echo "uv could not install fagprat (above); trying pip, which reads pip's own configuration..." >&2
    install_with_pip
  fi
else
  install_with_pip
fi
echo "$want" > $STAMP
echo "fagprat installed in .venv" >&2
