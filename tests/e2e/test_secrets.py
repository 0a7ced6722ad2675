"""The whole secrets corpus, sent through the real stack, is absent from every backend.

The scenario of tests/reliability/_secrets_scenario.py (every corpus secret in prompts,
completions, provider errors, exceptions, logs, URLs, user attributes and a model name)
runs under ``otel_llm.configure()`` against the stack's collector. Jaeger's API JSON for its
traces, its Elasticsearch log documents and the Prometheus series of its metrics hold no
secret and no 8-character slice of one, while the redacted content itself did arrive.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

from tests.e2e.conftest import wait_for, workload_env
from tests.e2e.stack import Stack, get_json
from tests.e2e.test_logs import log_records
from tests.reliability.secrets_corpus import CORPUS, leaks

pytestmark = pytest.mark.e2e

SERVICE = "secrets-scenario"


@pytest.fixture(scope="module")
def scenario(stack: Stack) -> int:
    """Run the scenario once against the stack; returns its placement count."""
    result = subprocess.run(
        [sys.executable, "-m", "tests.reliability._secrets_scenario", stack.otlp_http],
        capture_output=True,
        text=True,
        timeout=300,
        env=workload_env(),
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return int(json.loads(result.stderr.strip().splitlines()[-1])["placements"])


def test_jaeger_holds_no_secret(stack: Stack, scenario: int) -> None:
    """Every trace of the scenario in Jaeger's API: redacted content, no secret."""
    query = urllib.parse.urlencode({"service": SERVICE, "limit": 100, "lookback": "1h"})

    def traces() -> list[dict[str, object]]:
        data = get_json(f"{stack.jaeger}/api/traces?{query}")["data"]
        spans = sum(len(trace["spans"]) for trace in data)
        return data if spans >= 10 else []

    data = wait_for("the secrets scenario's traces in Jaeger", traces, deadline_s=90)
    text = json.dumps(data)
    assert leaks(text) == []
    assert text.count("[REDACTED]") >= 5 * len(CORPUS)
    assert "remember this: " in text
    assert scenario > len(CORPUS)


def test_elasticsearch_holds_no_secret(stack: Stack, scenario: int) -> None:
    """Every log record of the scenario in Elasticsearch: one per corpus secret, none leaks."""

    def records() -> list[dict[str, object]]:
        found = [r for r in log_records(stack) if r["service"] == SERVICE]
        return found if len(found) >= len(CORPUS) else []

    found = wait_for("the secrets scenario's log records in Elasticsearch", records, 90)
    text = json.dumps(found)
    assert leaks(text) == []
    assert text.count("connecting with ") >= len(CORPUS)


def test_prometheus_labels_hold_no_secret(stack: Stack, scenario: int) -> None:
    """The scenario's SDK token series (model label [REDACTED] where a key was the model) and
    its span-metric series (span names) in Prometheus hold no secret."""

    def series(promql: str) -> list[dict[str, object]]:
        url = f"{stack.prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        result: list[dict[str, object]] = get_json(url)["data"]["result"]
        return result if any("[REDACTED]" in json.dumps(s) for s in result) else []

    tokens = wait_for(
        "the secrets scenario's token series in Prometheus",
        lambda: series(f'gen_ai_client_token_usage_count{{job="{SERVICE}"}}'),
        90,
    )
    spans = wait_for(
        "the secrets scenario's span metrics in Prometheus",
        lambda: series(f'traces_span_metrics_calls_total{{service_name="{SERVICE}"}}'),
        90,
    )
    assert leaks(json.dumps(tokens + spans)) == []
