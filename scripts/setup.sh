#!/usr/bin/env bash
# Installs fagprat into .venv on a machine with Python 3.11 and nothing else.
# Idempotent: re-running with an unchanged pyproject.toml does nothing.
#
# torch: the CPU build is wanted (the LLM runs in llama.cpp; torch only embeds).
# pip takes torch from $FAGPRAT_TORCH_INDEX when set (e.g. https://download.pytorch.org/whl/cpu),
# else from pip's configured sources (this workplace keeps the CPU wheel on local disk).
# llama-cpp-python compiles from source (~6 min on 2 cores); its wheel is cached in
# $FAGPRAT_WHEEL_CACHE so later installs and CI runs skip the build. Set CMAKE_ARGS=-DGGML_CUDA=on
# before the first install for GPU offload.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
TORCH_VERSION=2.13.0
LLAMA_CPP_VERSION=0.3.36
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
"${PIP[@]}" install --upgrade pip wheel setuptools

torch_args=()
[[ -n ${FAGPRAT_TORCH_INDEX:-} ]] && torch_args=(--index-url "$FAGPRAT_TORCH_INDEX")
"${PIP[@]}" install "${torch_args[@]}" "torch==$TORCH_VERSION"

mkdir -p "$WHEEL_CACHE"
if ! ls "$WHEEL_CACHE"/llama_cpp_python-"$LLAMA_CPP_VERSION"-*.whl >/dev/null 2>&1; then
  echo "Building llama-cpp-python $LLAMA_CPP_VERSION (once; about 6 minutes on 2 cores)..." >&2
  "${PIP[@]}" wheel --no-deps -w "$WHEEL_CACHE" "llama-cpp-python==$LLAMA_CPP_VERSION"
fi

"${PIP[@]}" install --find-links "$WHEEL_CACHE" "torch==$TORCH_VERSION" -e ".[dev]"
if [[ -n ${CMAKE_ARGS:-} ]]; then
  # A GPU build replaces whatever llama-cpp-python was installed before.
  "${PIP[@]}" install --no-deps --force-reinstall "$WHEEL_CACHE"/llama_cpp_python-"$LLAMA_CPP_VERSION"-*.whl
fi
echo "$want" > $STAMP
echo "fagprat installed in .venv" >&2
