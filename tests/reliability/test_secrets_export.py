"""No corpus secret reaches any exporter, from any place an application can put one.

The scenario (tests/reliability/_secrets_scenario.py) puts all of them into prompts and
completions (real openai and anthropic SDKs, content capture on), provider errors, user
exceptions, log messages and fields, URLs, user span attributes and a model name. Two runs:

- in process, on the in-memory providers: the raw spans DO hold every secret (the control:
  the placement worked), and what the redacting wrapper hands to an in-memory exporter and
  to the console exporter holds none; nor do log records, rendered log lines or metrics;
- under ``otel_llm.configure()`` in a subprocess: OTLP/HTTP protobuf bytes received on
  127.0.0.1, and the console exporters' text, hold none.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk._logs.export import ConsoleLogRecordExporter, InMemoryLogRecordExporter
from opentelemetry.sdk.trace.export import ConsoleSpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_llm import _runtime, semconv
from otel_llm._logging import setup_logging, teardown_logging
from otel_llm._redact import REDACTED, Redactor, wrap_log_exporter, wrap_span_exporter
from otel_llm.testing import Capture
from tests.helpers import Received, otlp_http_receiver
from tests.reliability import _secrets_scenario
from tests.reliability.conftest import FIGURES
from tests.reliability.secrets_corpus import CORPUS, leaks

ALL = [secret.name for secret in CORPUS]


@pytest.fixture
def instrumented() -> Iterator[None]:
    """openai and anthropic instrumented, content captured on spans and events."""
    from otel_llm.instrumentation.anthropic import AnthropicInstrumentor
    from otel_llm.instrumentation.openai import OpenAIInstrumentor

    instrumentors: list[Any] = [OpenAIInstrumentor(), AnthropicInstrumentor()]
    for instrumentor in instrumentors:
        instrumentor.instrument()
    _runtime.RT.capture = "SPAN_AND_EVENT"  # otel_capture restores the mode
    try:
        yield
    finally:
        for instrumentor in instrumentors:
            instrumentor.uninstrument()


def test_in_process_exporters_never_see_a_secret(otel_capture: Capture, instrumented: None) -> None:
    """Raw spans carry all secrets; the redacted copies in the in-memory and console
    exporters carry none, and neither do log records, rendered lines or metric points."""
    from opentelemetry import _logs

    rendered = io.StringIO()
    setup_logging(
        logger_provider=_logs.get_logger_provider(),
        service_name="secrets",
        fmt="json",
        redactor=Redactor(),
        stream=rendered,
    )
    try:
        placements = _secrets_scenario.run(CORPUS)
    finally:
        teardown_logging()
    spans = otel_capture.spans()
    raw = "\n".join(span.to_json() for span in spans)
    assert leaks(raw) == ALL  # control: every secret did reach the spans

    memory = InMemorySpanExporter()
    wrap_span_exporter(memory, Redactor()).export(spans)
    exported = memory.get_finished_spans()
    assert len(exported) == len(spans) >= 8
    dumped = "\n".join(span.to_json() for span in exported)
    assert leaks(dumped) == []
    assert dumped.count(REDACTED) >= 5 * len(CORPUS)
    assert "remember this: " in dumped  # the prompts themselves are still there

    console = io.StringIO()
    wrap_span_exporter(ConsoleSpanExporter(out=console), Redactor()).export(spans)
    assert leaks(console.getvalue()) == []
    assert "remember this: " in console.getvalue()

    records = otel_capture.logs()
    assert len(records) >= len(CORPUS) + 2
    assert leaks("\n".join(record.to_json() for record in records)) == []
    assert leaks(rendered.getvalue()) == []
    assert rendered.getvalue().count("connecting with ") == len(CORPUS)
    log_memory = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    log_console = io.StringIO()
    wrap_log_exporter(log_memory, Redactor()).export(records)
    wrap_log_exporter(ConsoleLogRecordExporter(out=log_console), Redactor()).export(records)
    assert leaks("\n".join(r.to_json() for r in log_memory.get_finished_logs())) == []
    assert leaks(log_console.getvalue()) == []

    points = otel_capture.metric_points(semconv.METRIC_TOKEN_USAGE)
    assert len(points) >= 4
    labels = json.dumps([point.attributes for point in points], default=str)
    assert leaks(labels) == []
    # the key used as a model name and the one used as a feature name: both labels redacted
    assert any(
        point.attributes.get(semconv.GEN_AI_REQUEST_MODEL) == REDACTED
        and point.attributes.get(semconv.GEN_AI_RESPONSE_MODEL) == REDACTED
        and point.attributes.get(semconv.FEATURE) == REDACTED
        for point in points
    )
    FIGURES.append(
        f"secrets: {len(CORPUS)} shapes x {placements} placements, "
        f"{len(spans)} spans, {len(records)} log records: 0 leaks in process"
    )


@pytest.fixture
def receiver() -> Iterator[tuple[str, Received]]:
    """A real OTLP/HTTP receiver on 127.0.0.1 (decoded requests and raw bodies)."""
    with otlp_http_receiver() as endpoint_and_received:
        yield endpoint_and_received


def test_configured_pipeline_sends_no_secret(receiver: tuple[str, Received]) -> None:
    """Under configure(): OTLP protobuf bytes (traces, metrics, logs) and the console
    exporters' output hold no secret, though every signal arrived with redacted content."""
    url, received = receiver
    result = subprocess.run(
        [sys.executable, "-m", "tests.reliability._secrets_scenario", url],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stderr.strip().splitlines()[-1])["placements"] > len(CORPUS)
    records = [
        lr
        for r in received.logs
        for rl in r.resource_logs
        for sl in rl.scope_logs
        for lr in sl.log_records
    ]
    assert len(received.span_names()) >= 8
    assert len(records) >= len(CORPUS)
    assert any(r.resource_metrics for r in received.metrics)
    raw = b"\n".join(received.raw).decode("utf-8", "replace")
    assert leaks(raw) == []
    assert raw.count(REDACTED) >= 5 * len(CORPUS)
    assert "remember this: " in raw
    assert leaks(result.stdout) == []
    assert leaks(result.stderr) == []
    assert "chat gpt-4o-mini" in result.stderr  # the console span tree ran
    assert "load_settings" in result.stderr
    assert '"severity_text": "INFO"' in result.stdout  # the console log exporter ran
    FIGURES.append(
        f"secrets: configure() pipeline, {len(received.span_names())} spans and {len(records)} log "
        f"records over OTLP/HTTP ({sum(len(b) for b in received.raw)} bytes) and the "
        "console exporters: 0 leaks"
    )
