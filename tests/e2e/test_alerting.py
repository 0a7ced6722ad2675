"""Alerts reach someone, on the real stack: SDK -> collector -> Prometheus (the shipped rules and
one rule of this test) -> Alertmanager (the shipped alertmanager.yml with waits of a second)
-> the webhook receiver (scripts/stack/alert_receiver.py), all on 127.0.0.1.

Its own stack (ledger "e2e-alerting", no Elasticsearch), so the other real-stack tests do not
start Alertmanager."""

from __future__ import annotations

import json
import sys
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import python_workload, started_stack, wait_for
from tests.e2e.stack import Stack, free_ports, get_json

pytestmark = pytest.mark.e2e

TEST_RULES = """
groups:
  - name: e2e_alerting
    rules:
      - alert: E2EGenerationFailed
        expr: >-
          sum by (job) (gen_ai_client_operation_duration_seconds_count{
            job="e2e-alerting", error_type!=""}) > 0
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.job }}: a generation failed"
"""

FAILING_WORKLOAD = """
import otel_llm
tel = otel_llm.configure(
    service_name="e2e-alerting", traces_exporter="otlp", metrics_exporter="otlp",
    logs_exporter="none", otlp_endpoint=%r, otlp_protocol="http/protobuf",
)
try:
    with otel_llm.generation(model="gpt-4o-mini", provider="openai", operation="chat"):
        raise TimeoutError("upstream timed out")
except TimeoutError:
    pass
tel.shutdown()
"""

# Spans go to a port nobody listens on, metrics to the collector: the SDK counts the lost spans
# in otel_llm.export.dropped and the shipped rule OtelLlmTelemetryExportDropped must fire.
DROPPING_WORKLOAD = """
import otel_llm
from opentelemetry import trace
tel = otel_llm.configure(
    service_name="e2e-alert-drops", traces_exporter="otlp", metrics_exporter="otlp",
    logs_exporter="none", otlp_protocol="http/protobuf",
)
for _ in range(%d):
    with otel_llm.generation(model="gpt-4o-mini", provider="openai", operation="chat") as g:
        g.set_response(model="gpt-4o-mini", input_tokens=3, output_tokens=1)
trace.get_tracer_provider().force_flush()
tel.shutdown()
"""
DROPPED_SPANS = 3


@pytest.fixture(scope="module")
def alert_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Collector, Jaeger, Prometheus with one extra rule, Alertmanager and the receiver."""
    rules = tmp_path_factory.mktemp("rules") / "e2e_alerting.yml"
    rules.write_text(TEST_RULES)
    yield from started_stack(
        tmp_path_factory, "e2e-alerting", with_es=False, alerting=True, extra_rule_files=[rules]
    )


def received(stack: Stack, alertname: str) -> list[dict[str, Any]]:
    """Alerts of that name the webhook receiver was sent, oldest first."""
    if not stack.alerts_file.exists():
        return []
    lines = [json.loads(line) for line in stack.alerts_file.read_text().splitlines()]
    return [a for a in lines if a["alertname"] == alertname]


def test_a_firing_rule_reaches_the_webhook(alert_stack: Stack) -> None:
    """A failed generation recorded by the SDK fires a Prometheus rule, and Alertmanager posts
    it to the webhook with its labels and summary, routed as a page."""
    assert received(alert_stack, "E2EGenerationFailed") == []
    result = python_workload(FAILING_WORKLOAD % alert_stack.otlp_http, timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    sent = time.monotonic()
    alerts = wait_for(
        "E2EGenerationFailed at the webhook",
        lambda: received(alert_stack, "E2EGenerationFailed"),
        deadline_s=60,
    )
    print(
        f"\nalert at the webhook {time.monotonic() - sent:.1f}s after the workload exited",
        file=sys.stderr,
    )
    first = alerts[0]
    assert first["status"] == "firing"
    assert first["severity"] == "page"
    assert first["labels"]["job"] == "e2e-alerting"
    assert first["summary"] == "e2e-alerting: a generation failed"
    assert first["receiver"] == "webhook"


def test_a_shipped_alert_reaches_the_webhook(alert_stack: Stack) -> None:
    """The SDK's count of spans it could not export reaches Prometheus, and the shipped
    self-observability rule OtelLlmTelemetryExportDropped fires and reaches the webhook."""
    dead = free_ports(["dead"])["dead"]
    result = python_workload(
        DROPPING_WORKLOAD % DROPPED_SPANS,
        timeout=90,
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=f"http://127.0.0.1:{dead}/v1/traces",
        OTEL_EXPORTER_OTLP_TRACES_TIMEOUT="2",
        OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=f"{alert_stack.otlp_http}/v1/metrics",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    query = 'sum(otel_llm_export_dropped_total{job="e2e-alert-drops", otel_llm_signal="traces"})'
    url = f"{alert_stack.prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": query})

    def dropped() -> float:
        data = get_json(url)["data"]["result"]
        return float(data[0]["value"][1]) if data else 0.0

    assert wait_for("the drop count in Prometheus", dropped, deadline_s=60) == DROPPED_SPANS
    alerts = wait_for(
        "OtelLlmTelemetryExportDropped at the webhook",
        lambda: [
            a
            for a in received(alert_stack, "OtelLlmTelemetryExportDropped")
            if a["labels"].get("job") == "e2e-alert-drops"
        ],
        deadline_s=60,
    )
    first = alerts[0]
    assert first["status"] == "firing"
    assert first["severity"] == "warning"
    assert first["labels"]["otel_llm_signal"] == "traces"
    expected = f"e2e-alert-drops: {DROPPED_SPANS} traces items not exported"
    assert first["summary"].startswith(expected), first["summary"]


# Two batches of streams, metrics pushed after each: Prometheus sees the second batch as an
# increase (a counter that appears already counting has no rate yet). In the second batch one
# stream of five waits 1.2 s for its first chunk, over the SLO's 1 s bound.
STREAMS_WORKLOAD = """
import time
import otel_llm
tel = otel_llm.configure(
    service_name="e2e-slo", traces_exporter="none", metrics_exporter="otlp",
    logs_exporter="none", otlp_endpoint=%r, otlp_protocol="http/protobuf",
)
def streams(count, slow):
    for i in range(count):
        with otel_llm.stream(model="llama-3-8b", provider="vllm") as s:
            if i < slow:
                time.sleep(1.2)
            s.chunk("hello")
            s.chunk("world")
streams(5, 0)
tel.force_flush()
time.sleep(4)
streams(5, 1)
tel.force_flush()
tel.shutdown()
"""


def test_slo_rules_read_the_real_histogram(alert_stack: Stack) -> None:
    """On real data from the collector, the time-to-first-chunk SLO finds its 1 s bucket bound
    (however the exposition spells it) and measures 1 slow stream of 5."""
    result = python_workload(STREAMS_WORKLOAD % alert_stack.otlp_http, timeout=90)
    assert result.returncode == 0, result.stderr[-3000:]

    def sli() -> dict[str, float]:
        url = f"{alert_stack.prometheus}/api/v1/query?" + urllib.parse.urlencode(
            {"query": "slo:sli_error:ratio_rate5m"}
        )
        data = get_json(url)["data"]["result"]
        values = {r["metric"]["slo"]: float(r["value"][1]) for r in data}
        ttfc = values.get("genai-time-to-first-chunk")
        return values if ttfc is not None and ttfc == ttfc and ttfc > 0 else {}

    values = wait_for("the time-to-first-chunk SLI", sli, deadline_s=60)
    print(f"\nSLIs on real data: {values}", file=sys.stderr)
    assert values["genai-time-to-first-chunk"] == pytest.approx(0.2)


PROCESS_WORKLOAD = """
import otel_llm
tel = otel_llm.configure(
    service_name="e2e-process", traces_exporter="none", metrics_exporter="otlp",
    logs_exporter="none", otlp_endpoint=%r, otlp_protocol="http/protobuf", process_metrics=True,
)
tel.force_flush()
tel.shutdown()
"""


def test_process_memory_reaches_prometheus_under_the_alerts_name(alert_stack: Stack) -> None:
    """process.memory.usage from the opt-in process metrics arrives through the collector as
    process_memory_usage_bytes labelled with the service's job: what ProcessMemoryHigh reads."""
    pytest.importorskip("psutil")
    result = python_workload(PROCESS_WORKLOAD % alert_stack.otlp_http, timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    query = 'max by (job, instance) (process_memory_usage_bytes{job="e2e-process"})'
    url = f"{alert_stack.prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    series = wait_for("process_memory_usage_bytes", lambda: get_json(url)["data"]["result"])
    assert len(series) == 1
    resident = float(series[0]["value"][1])
    print(f"\nresident memory of the workload: {resident / 2**20:.0f} MiB", file=sys.stderr)
    assert 1 << 20 < resident < 2 << 30
