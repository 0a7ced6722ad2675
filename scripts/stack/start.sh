#!/usr/bin/env bash
# Start the loopback observability stack by hand, on the standard ports of 127.0.0.1, from the
# binaries scripts/stack/build.sh cached, with the repository's collector-config/ files:
#   Elasticsearch 7.10 :9200, Prometheus :9090, Jaeger v2 (API :16686, OTLP :14317/:14318),
#   then the collector (OTLP :4317 gRPC, :4318 HTTP); with Alertmanager cached, also
#   Alertmanager :9093 and its webhook receiver :9095 (alerts in $STACK_RUN_DIR/alerts.jsonl).
#   Same code as the e2e fixtures.
#
#   scripts/stack/build.sh && scripts/stack/start.sh [--no-es]
#   otel-llm demo --otlp http://127.0.0.1:4318        # then query http://127.0.0.1:16686
#   scripts/stack/stop.sh
#
# STACK_RUN_DIR (default ${TMPDIR:-/tmp}/otel-llm-stack-run) holds PIDs, logs and data.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PY=${PYTHON:-$ROOT/.venv/bin/python}
RUN=${STACK_RUN_DIR:-${TMPDIR:-/tmp}/otel-llm-stack-run}
cd "$ROOT" && exec "$PY" -m tests.e2e.stack up --run-dir "$RUN" "$@"
