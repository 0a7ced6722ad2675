#!/usr/bin/env bash
# Stop what scripts/stack/start.sh started: only the PIDs saved in $STACK_RUN_DIR/pids
# (SIGTERM, then SIGKILL after 20 s), never processes found by name.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PY=${PYTHON:-$ROOT/.venv/bin/python}
RUN=${STACK_RUN_DIR:-${TMPDIR:-/tmp}/otel-llm-stack-run}
cd "$ROOT" && exec "$PY" -m tests.e2e.stack down --run-dir "$RUN"
