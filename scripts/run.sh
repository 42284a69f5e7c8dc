#!/usr/bin/env bash
# The main job on embedded defaults: install, index the sample corpus, start the chat.
#   ./scripts/run.sh            -> http://127.0.0.1:8000 (user demo / password demo)
# Extra arguments go to `fagprat ui` (e.g. --host 0.0.0.0 --port 8080 --headless).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source .venv/bin/activate
python scripts/build_sample_corpus.py --check >/dev/null || python scripts/build_sample_corpus.py
fagprat ingest data/sample --prune
exec fagprat ui "$@"
