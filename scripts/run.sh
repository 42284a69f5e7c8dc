#!/usr/bin/env bash
# The main job on embedded defaults: install, index the sample corpus, start the chat.
#   ./scripts/run.sh            -> http://127.0.0.1:8000 (demo mode: user demo / password demo)
# Demo mode (FAGPRAT_DEMO_MODE=true) creates the demo user under the data folder when there is no
# users file, and the chat says it is a demo. Real deployments leave it off and add users with
# `fagprat users add` (see docs/security.md); set FAGPRAT_DEMO_MODE=false to run this without it.
# Extra arguments go to `fagprat ui` (e.g. --host 0.0.0.0 --port 8080 --headless).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source .venv/bin/activate
python scripts/build_sample_corpus.py --check >/dev/null || python scripts/build_sample_corpus.py
fagprat ingest data/sample --prune
export FAGPRAT_DEMO_MODE="${FAGPRAT_DEMO_MODE:-true}"
if [[ "$FAGPRAT_DEMO_MODE" == "true" ]]; then
  echo "DEMO MODE: sign in as demo / demo (sample documents, not for clinical use)." >&2
fi
exec fagprat ui "$@"
