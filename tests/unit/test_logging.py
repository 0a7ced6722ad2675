"""Trace-correlated logs: structlog and stdlib events rendered once and exported once."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import structlog
from opentelemetry import _logs, trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

import otel_llm
from otel_llm._logging import _Sampler, get_logger, log_event, setup_logging, teardown_logging
from otel_llm._redact import Redactor
from otel_llm.testing import Capture
from tests.helpers import run_python

TRACE_HEX = re.compile(r"^[0-9a-f]{32}$")
SPAN_HEX = re.compile(r"^[0-9a-f]{16}$")


class Pipeline:
    """A local tracer, a local LoggerProvider with an in-memory exporter, and the stream."""

    def __init__(self) -> None:
        self.exporter = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
        self.provider = LoggerProvider()
        self.provider.add_log_record_processor(SimpleLogRecordProcessor(self.exporter))
        self.tracer = TracerProvider().get_tracer("test")
        self.stream = io.StringIO()

    def setup(self, **kwargs: Any) -> None:
        """setup_logging with this pipeline's provider and stream (JSON unless told)."""
        options: dict[str, Any] = {"fmt": "json", "redactor": Redactor(), "stream": self.stream}
        options.update(kwargs)
        setup_logging(logger_provider=self.provider, service_name="chat-api", **options)

    def lines(self) -> list[dict[str, Any]]:
        """The rendered JSON lines."""
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]

    def records(self) -> list[ReadableLogRecord]:
        """The exported LogRecords."""
        return list(self.exporter.get_finished_logs())


@pytest.fixture
def pipe() -> Iterator[Pipeline]:
    """A pipeline; logging and structlog are restored afterwards."""
    structlog.contextvars.clear_contextvars()
    pipeline = Pipeline()
    yield pipeline
    teardown_logging()
    structlog.contextvars.clear_contextvars()
    pipeline.provider.shutdown()


def test_json_line_and_log_record_carry_the_active_span_ids(pipe: Pipeline) -> None:
    """Rendered line, exported LogRecord and active span agree on trace and span ids."""
    pipe.setup()
    with pipe.tracer.start_as_current_span("work") as span:
        get_logger("app").info("answered", tokens=42)
    ctx = span.get_span_context()
    (line,) = pipe.lines()
    (record,) = pipe.records()
    assert TRACE_HEX.match(line["trace_id"])
    assert SPAN_HEX.match(line["span_id"])
    assert line["trace_id"] == format(ctx.trace_id, "032x")
    assert line["span_id"] == format(ctx.span_id, "016x")
    assert line["trace_flags"] == format(int(ctx.trace_flags), "02x")
    assert record.log_record.trace_id == ctx.trace_id
    assert record.log_record.span_id == ctx.span_id
    assert line["event"] == record.log_record.body == "answered"
    assert line["service.name"] == "chat-api"
    assert line["level"] == "info"
    assert line["logger"] == "app"
    assert line["tokens"] == 42
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$", line["timestamp"])
    assert record.log_record.attributes is not None
    assert record.log_record.attributes["tokens"] == 42
    assert record.instrumentation_scope is not None
    assert record.instrumentation_scope.name == "app"


def test_no_ids_outside_a_span(pipe: Pipeline) -> None:
    """Outside any span the line has no trace fields and the record has no trace id."""
    pipe.setup()
    get_logger("app").info("idle")
    logging.getLogger("lib").warning("idle too")
    for line in pipe.lines():
        assert "trace_id" not in line
        assert "span_id" not in line
        assert "trace_flags" not in line
    for record in pipe.records():
        assert record.log_record.trace_id == 0
        assert record.log_record.span_id == 0


def test_nested_spans_use_the_innermost(pipe: Pipeline) -> None:
    """A log inside a child span carries the child's span id and the shared trace id."""
    pipe.setup()
    with pipe.tracer.start_as_current_span("outer") as outer:
        with pipe.tracer.start_as_current_span("inner") as inner:
            get_logger().info("deep")
        get_logger().info("shallow")
    deep, shallow = pipe.lines()
    assert deep["span_id"] == format(inner.get_span_context().span_id, "016x")
    assert shallow["span_id"] == format(outer.get_span_context().span_id, "016x")
    assert deep["trace_id"] == shallow["trace_id"]


def test_contextvars_bindings_appear(pipe: Pipeline) -> None:
    """bind_contextvars values show on structlog and stdlib events, lines and records."""
    pipe.setup()
    structlog.contextvars.bind_contextvars(request_id="req-7", tenant="acme")
    get_logger("app").info("structlog event")
    logging.getLogger("lib").info("stdlib event")
    for line in pipe.lines():
        assert line["request_id"] == "req-7"
        assert line["tenant"] == "acme"
    for record in pipe.records():
        assert record.log_record.attributes is not None
        assert record.log_record.attributes["request_id"] == "req-7"


def test_request_attributes_appear(pipe: Pipeline) -> None:
    """Ids set with otel_llm.attributes() are on log events too."""
    pipe.setup()
    with otel_llm.attributes(conversation_id="conv-1", user_id="u-9"):
        get_logger("app").info("hello")
    (line,) = pipe.lines()
    assert line["gen_ai.conversation.id"] == "conv-1"
    assert line["user.id"] == "u-9"


def test_stdlib_records_get_the_same_fields_once(pipe: Pipeline) -> None:
    """A third-party stdlib logger's record is rendered once and exported once, correlated,
    with its %-args merged and its extra= fields kept."""
    pipe.setup()
    with pipe.tracer.start_as_current_span("call") as span:
        logging.getLogger("vendor.client").info(
            "HTTP %s %s", "POST", "/v1/chat", extra={"status": 200}
        )
    (line,) = pipe.lines()
    (record,) = pipe.records()
    assert line["event"] == "HTTP POST /v1/chat"
    assert line["logger"] == "vendor.client"
    assert line["level"] == "info"
    assert line["status"] == 200
    assert not {"otelTraceID", "otelSpanID", "otelServiceName"} & set(line)
    assert line["service.name"] == "chat-api"
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert record.log_record.body == "HTTP POST /v1/chat"
    assert record.log_record.trace_id == span.get_span_context().trace_id


def test_structlog_events_are_not_emitted_twice(pipe: Pipeline) -> None:
    """Each structlog call gives exactly one line and one record, also after a second setup."""
    pipe.setup()
    pipe.setup()  # idempotent: replaces, does not add a second handler
    log = get_logger("app")
    for i in range(5):
        log.info("event", i=i)
    assert [line["i"] for line in pipe.lines()] == [0, 1, 2, 3, 4]
    assert len(pipe.records()) == 5
    handlers = [h for h in logging.getLogger().handlers if type(h).__name__ == "_Handler"]
    assert len(handlers) == 1


def test_exceptions_are_rendered_and_recorded(pipe: Pipeline) -> None:
    """log.exception renders the traceback and sets exception.* attributes on the record."""
    pipe.setup()
    try:
        {}["missing"]
    except KeyError:
        get_logger("app").exception("lookup failed", key="missing")
    try:
        raise TimeoutError("upstream slow")
    except TimeoutError as exc:
        logging.getLogger("lib").error("stdlib failure", exc_info=exc)
    first, second = pipe.lines()
    assert "Traceback (most recent call last)" in first["exception"]
    assert "KeyError: 'missing'" in first["exception"]
    assert "TimeoutError: upstream slow" in second["exception"]
    r1, r2 = (r.log_record for r in pipe.records())
    assert r1.severity_number is SeverityNumber.ERROR
    assert r1.attributes is not None
    assert r2.attributes is not None
    assert r1.attributes["exception.type"] == "KeyError"
    assert r1.attributes["exception.message"] == "'missing'"
    assert "KeyError" in str(r1.attributes["exception.stacktrace"])
    assert r2.attributes["exception.type"] == "TimeoutError"
    assert r2.attributes["exception.message"] == "upstream slow"
    assert "exception" not in r1.attributes


def test_console_format_renders_fields_and_exceptions(pipe: Pipeline) -> None:
    """The console renderer shows the event, the ids and the traceback text."""
    pipe.setup(fmt="console")
    with pipe.tracer.start_as_current_span("work") as span:
        try:
            raise ValueError("bad input")
        except ValueError:
            get_logger("app").exception("rejected", user="ann")
    text = pipe.stream.getvalue()
    assert "rejected" in text
    assert "user=ann" in text
    assert f"trace_id={format(span.get_span_context().trace_id, '032x')}" in text
    assert "ValueError: bad input" in text
    assert not text.lstrip().startswith("{")


def test_format_defaults_to_json_off_a_terminal(pipe: Pipeline) -> None:
    """With no format given and a non-terminal stream, lines are JSON."""
    pipe.setup(fmt=None)
    get_logger().info("auto")
    assert pipe.lines()[0]["event"] == "auto"


@pytest.mark.parametrize(
    ("method", "number", "text"),
    [
        ("debug", SeverityNumber.DEBUG, "DEBUG"),
        ("info", SeverityNumber.INFO, "INFO"),
        ("warning", SeverityNumber.WARN, "WARN"),
        ("error", SeverityNumber.ERROR, "ERROR"),
        ("critical", SeverityNumber.FATAL, "FATAL"),
    ],
)
def test_severity_is_mapped(pipe: Pipeline, method: str, number: SeverityNumber, text: str) -> None:
    """Python levels map to OTel severity numbers and texts."""
    pipe.setup(level="DEBUG")
    getattr(get_logger("app"), method)("leveled")
    (record,) = pipe.records()
    assert record.log_record.severity_number is number
    assert record.log_record.severity_text == text


def test_level_filters_below_threshold(pipe: Pipeline) -> None:
    """Events below the configured level are neither rendered nor exported."""
    pipe.setup(level="WARNING")
    get_logger("app").info("quiet")
    logging.getLogger("lib").debug("quieter")
    get_logger("app").warning("loud")
    assert [line["event"] for line in pipe.lines()] == ["loud"]
    assert len(pipe.records()) == 1


def test_attributes_are_otlp_safe(pipe: Pipeline) -> None:
    """Nested values become JSON strings, objects strings, homogeneous lists stay lists."""

    class Thing:
        def __str__(self) -> str:
            return "thing!"

    pipe.setup()
    get_logger("app").info(
        "typed", n=1, f=0.5, ok=True, tags=["a", "b"], mixed=[1, "x"], d={"k": [1, 2]}, obj=Thing()
    )
    (record,) = pipe.records()
    attrs = record.log_record.attributes
    assert attrs is not None
    assert attrs["n"] == 1
    assert attrs["f"] == 0.5
    assert attrs["ok"] is True
    assert tuple(attrs["tags"]) == ("a", "b")  # type: ignore[arg-type]
    assert attrs["mixed"] == '[1, "x"]'
    assert json.loads(str(attrs["d"])) == {"k": [1, 2]}
    assert attrs["obj"] == '"thing!"'
    assert attrs["code.function.name"] == "test_attributes_are_otlp_safe"
    assert pipe.lines()[0]["obj"] == "thing!"


def test_opentelemetry_records_are_rendered_not_exported(pipe: Pipeline) -> None:
    """The SDK's own log records are shown but never fed back into the exporter."""
    pipe.setup()
    logging.getLogger("opentelemetry.sdk._shared_internal").warning("export failed")
    assert pipe.lines()[0]["event"] == "export failed"
    assert pipe.records() == []


def test_teardown_restores_logging_and_structlog(pipe: Pipeline) -> None:
    """teardown_logging removes the handler and restores the root level and structlog."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    before, configured = structlog.get_config(), structlog.is_configured()
    pipe.setup(level="DEBUG")
    assert root.level == logging.DEBUG
    assert structlog.get_config() != before
    teardown_logging()
    assert root.level == level
    assert root.handlers == handlers
    assert structlog.get_config() == before
    assert structlog.is_configured() == configured


def test_logger_made_before_setup_is_correlated_after(pipe: Pipeline) -> None:
    """A module-level logger created before setup logs through the pipeline after it."""
    early = get_logger("early")
    pipe.setup()
    with pipe.tracer.start_as_current_span("s"):
        early.info("late event")
    assert "trace_id" in pipe.lines()[0]
    assert len(pipe.records()) == 1


def test_application_handlers_keep_rendering(
    pipe: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    """With no stream given and the app's own root handler present, otel-llm renders
    nothing itself and only exports."""
    app_stream = io.StringIO()
    app_handler = logging.StreamHandler(app_stream)
    root = logging.getLogger()
    root.addHandler(app_handler)
    level = root.level
    try:
        pipe.setup(stream=None, level="DEBUG")
        assert root.level == level  # the application's level decides what it sees
        logging.getLogger("lib").warning("from the app")
    finally:
        root.removeHandler(app_handler)
    assert "from the app" in app_stream.getvalue()
    assert "from the app" not in capsys.readouterr().out
    assert [r.log_record.body for r in pipe.records()] == ["from the app"]


def test_broken_stream_never_raises_into_the_caller(pipe: Pipeline, otel_capture: Capture) -> None:
    """A failing output stream is swallowed and counted as an instrumentation error."""

    class Broken(io.StringIO):
        def write(self, s: str) -> int:
            raise OSError("disk full")

    pipe.setup(stream=Broken())
    get_logger("app").info("still fine")
    assert otel_capture.metric_sum("otel_llm.instrumentation.errors") >= 1


def test_invalid_arguments_are_rejected(pipe: Pipeline) -> None:
    """Bad level, ratio, rate or format give a ValueError naming the allowed values."""
    with pytest.raises(ValueError, match="DEBUG, INFO"):
        pipe.setup(level="LOUD")
    with pytest.raises(ValueError, match="between 0 and 1"):
        pipe.setup(sample_ratio=1.5)
    with pytest.raises(ValueError, match="positive"):
        pipe.setup(rate_limit=0)
    with pytest.raises(ValueError, match="json, console"):
        pipe.setup(fmt="xml")


# -- sampling -------------------------------------------------------------------------------


def _in_trace(trace_id: int) -> Any:
    ctx = SpanContext(trace_id, 0x1234, is_remote=False, trace_flags=TraceFlags(1))
    return trace.use_span(NonRecordingSpan(ctx))


def test_sampling_keeps_or_drops_whole_traces(pipe: Pipeline, otel_capture: Capture) -> None:
    """With a ratio, every event of a trace shares one decision, WARNING+ is always kept,
    and the dropped events are counted by reason."""
    pipe.setup(sample_ratio=0.5)
    kept_low = 0x0123456789ABCDEF_0000000000000001  # low 64 bits far below half
    dropped_high = 0x0123456789ABCDEF_F000000000000000  # far above half
    log = get_logger("app")
    for trace_id in (kept_low, dropped_high):
        with _in_trace(trace_id):
            for i in range(3):
                log.info("step", i=i)
            logging.getLogger("lib").debug("lib step")
            log.warning("important")
    lines = pipe.lines()
    by_trace: dict[str, list[str]] = {}
    for line in lines:
        by_trace.setdefault(line["trace_id"], []).append(line["event"])
    assert by_trace[format(kept_low, "032x")] == ["step", "step", "step", "important"]
    assert by_trace[format(dropped_high, "032x")] == ["important"]
    assert len(pipe.records()) == len(lines) == 5
    assert (
        otel_capture.metric_sum("otel_llm.logs.dropped", **{"otel_llm.logs.drop.reason": "sampled"})
        == 3
    )


def test_sampling_is_deterministic_and_matches_the_ratio() -> None:
    """The same trace ids get the same decisions every time, about ratio of them kept."""
    ids = [(i * 0x9E3779B97F4A7C15 + 7) & ((1 << 128) - 1) for i in range(1, 2001)]
    contexts = [SpanContext(t, 1, is_remote=False) for t in ids]
    first = [_Sampler(0.25, None).drop_reason(logging.INFO, c) is None for c in contexts]
    second = [_Sampler(0.25, None).drop_reason(logging.INFO, c) is None for c in contexts]
    assert first == second
    assert 0.2 < sum(first) / len(first) < 0.3


def test_sampling_outside_traces_keeps_every_nth() -> None:
    """Untraced events below WARNING keep a deterministic 1-in-(1/ratio) share."""
    sampler = _Sampler(0.25, None)
    invalid = trace.INVALID_SPAN_CONTEXT
    kept = [sampler.drop_reason(logging.INFO, invalid) is None for _ in range(8)]
    assert kept == [False, False, False, True, False, False, False, True]
    assert sampler.drop_reason(logging.ERROR, invalid) is None


def test_rate_limit_caps_events_per_second() -> None:
    """Below WARNING, at most rate_limit events per clock second pass; warnings always do."""
    now = [100.2]
    sampler = _Sampler(1.0, 3, clock=lambda: now[0])
    ctx = trace.INVALID_SPAN_CONTEXT
    first = [sampler.drop_reason(logging.INFO, ctx) for _ in range(5)]
    assert first == [None, None, None, "rate_limited", "rate_limited"]
    assert sampler.drop_reason(logging.WARNING, ctx) is None
    now[0] = 101.0
    assert sampler.drop_reason(logging.INFO, ctx) is None


def test_rate_limit_through_the_pipeline(pipe: Pipeline, otel_capture: Capture) -> None:
    """A burst above the cap is cut and the cut is counted as rate_limited."""
    pipe.setup(rate_limit=5)
    for i in range(20):
        get_logger("app").info("burst", i=i)
    kept = len(pipe.lines())
    assert 5 <= kept <= 10  # the burst may straddle one second boundary
    assert len(pipe.records()) == kept
    dropped = otel_capture.metric_sum(
        "otel_llm.logs.dropped", **{"otel_llm.logs.drop.reason": "rate_limited"}
    )
    assert dropped == 20 - kept


# -- engine events and the global pipeline --------------------------------------------------


def test_route_fallback_is_logged_in_its_span(pipe: Pipeline, otel_capture: Capture) -> None:
    """A route fallback logs a WARNING carrying the route span's trace and span ids."""
    provider = _logs.get_logger_provider()
    setup_logging(
        logger_provider=provider, service_name="svc", fmt="json", redactor=Redactor(),
        stream=pipe.stream,
    )  # fmt: skip
    with otel_llm.route("router", candidates=["a", "b"]) as r:
        r.fallback("a", "b", reason="rate_limited")
        r.select("b", reason="fallback")
    span = otel_capture.span("route router")
    (line,) = [line for line in pipe.lines() if line["event"] == "route fallback"]
    assert line["level"] == "warning"
    assert span.context is not None
    assert line["trace_id"] == format(span.context.trace_id, "032x")
    assert line["span_id"] == format(span.context.span_id, "016x")
    (record,) = [r for r in otel_capture.logs() if r.log_record.body == "route fallback"]
    assert record.log_record.span_id == span.context.span_id


def test_log_event_without_setup_uses_plain_stdlib(caplog: pytest.LogCaptureFixture) -> None:
    """Before setup, engine events go to the stdlib 'otel_llm' logger only."""
    with caplog.at_level(logging.INFO, logger="otel_llm"):
        log_event(logging.INFO, "stream aborted", reason="cancelled")
    assert [r.name for r in caplog.records] == ["otel_llm"]
    assert "stream aborted" in caplog.records[0].getMessage()


def test_bad_format_arguments_never_raise(pipe: Pipeline, otel_capture: Capture) -> None:
    """A %-format mismatch in a structlog call is counted, not raised; the event survives."""
    pipe.setup()
    get_logger("app").info("%s and %s", "only one")
    (line,) = pipe.lines()
    assert line["event"] == "%s and %s"
    assert otel_capture.metric_sum("otel_llm.instrumentation.errors") >= 1


def test_failed_redaction_keeps_no_fields(pipe: Pipeline, otel_capture: Capture) -> None:
    """If a value breaks redaction, the event keeps only fields that cannot hold a secret."""

    class Unreadable(Mapping[str, str]):
        def __getitem__(self, key: str) -> str:
            raise RuntimeError("unreadable")

        def __iter__(self) -> Iterator[str]:
            raise RuntimeError("unreadable")

        def __len__(self) -> int:
            return 1

    pipe.setup()
    with pipe.tracer.start_as_current_span("s"):
        get_logger("app").info(
            "leaky sk-proj-Zx9_Yw8-Vu7Ts6Rq5Po4Nm3", odd=Unreadable(), pin="4321"
        )
    (line,) = pipe.lines()
    assert line["event"] == "[REDACTED]"
    assert line["otel_llm.redaction_failed"] is True
    assert "pin" not in line
    assert "trace_id" in line
    assert "Zx9_Yw8" not in pipe.stream.getvalue()
    assert pipe.records()[0].log_record.body == "[REDACTED]"
    assert otel_capture.metric_sum("otel_llm.instrumentation.errors") >= 1


async def test_concurrent_tasks_keep_their_own_ids(pipe: Pipeline) -> None:
    """Interleaved asyncio tasks each log with their own span ids and contextvars."""
    pipe.setup()
    log = get_logger("worker")
    spans: dict[str, int] = {}

    async def work(name: str) -> None:
        structlog.contextvars.bind_contextvars(job=name)
        with pipe.tracer.start_as_current_span(name) as span:
            spans[name] = span.get_span_context().span_id
            for step in range(3):
                log.info("step", step=step)
                await asyncio.sleep(0)

    await asyncio.gather(work("a"), work("b"))
    lines = pipe.lines()
    assert len(lines) == 6
    assert [line["job"] for line in lines[:2]] == ["a", "b"]  # interleaved
    for line in lines:
        assert line["span_id"] == format(spans[line["job"]], "016x")
    for record in pipe.records():
        attrs = record.log_record.attributes or {}
        assert record.log_record.span_id == spans[str(attrs["job"])]


def test_application_formatters_can_show_the_ids(pipe: Pipeline) -> None:
    """Stdlib records carry otelTraceID/otelSpanID for an app's own format strings ("0"
    outside a span), and teardown removes the record factory again."""
    app_stream = io.StringIO()
    app_handler = logging.StreamHandler(app_stream)
    app_handler.setFormatter(
        logging.Formatter("%(message)s trace=%(otelTraceID)s span=%(otelSpanID)s")
    )
    logging.getLogger().addHandler(app_handler)
    factory = logging.getLogRecordFactory()
    try:
        pipe.setup(stream=None)
        pipe.setup(stream=None)  # a second setup does not stack factories
        with pipe.tracer.start_as_current_span("s") as span:
            logging.getLogger("lib").warning("inside")
        logging.getLogger("lib").warning("outside")
        teardown_logging()
        assert logging.getLogRecordFactory() is factory
    finally:
        logging.getLogger().removeHandler(app_handler)
    ctx = span.get_span_context()
    inside, outside = app_stream.getvalue().splitlines()
    assert inside == f"inside trace={ctx.trace_id:032x} span={ctx.span_id:016x}"
    assert outside == "outside trace=0 span=0"
    attrs = pipe.records()[0].log_record.attributes or {}
    assert "otelTraceID" not in attrs


def test_teardown_restores_an_application_structlog_configuration(pipe: Pipeline) -> None:
    """A structlog configuration the application made before setup comes back at teardown."""
    own = [structlog.processors.KeyValueRenderer()]
    structlog.configure(processors=own)
    try:
        pipe.setup()
        assert structlog.get_config()["processors"] != own
        teardown_logging()
        assert structlog.get_config()["processors"] == own
    finally:
        structlog.reset_defaults()


def test_an_opentelemetry_handler_already_exporting_is_not_duplicated(pipe: Pipeline) -> None:
    """With the SDK's LoggingHandler on the root logger, each record is exported once (by
    it) and still rendered once (by otel-llm)."""
    from opentelemetry.sdk._logs import LoggingHandler

    with pytest.warns(DeprecationWarning):
        sdk_handler = LoggingHandler(logger_provider=pipe.provider)
    root = logging.getLogger()
    root.addHandler(sdk_handler)
    try:
        pipe.setup()
        handlers = list(root.handlers)
        logging.getLogger("lib").warning("once")
    finally:
        root.removeHandler(sdk_handler)
    assert [line["event"] for line in pipe.lines()] == ["once"], (handlers, pipe.lines())
    assert [r.log_record.body for r in pipe.records()] == ["once"]


# -- configure() and the environment (subprocess: configure() sets process-wide state) -------

APP = """
import logging, otel_llm
otel_llm.configure(service_name="env-app")
log = otel_llm.get_logger("app")
with otel_llm.generation(model="m", provider="openai"):
    log.info("info event", note="customer cust_12345 pin", pin="4321", ticket="internal-77")
    log.warning("warning event")
otel_llm.shutdown()
"""
QUIET = {"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none",
         "OTEL_LOGS_EXPORTER": "none"}  # fmt: skip


def _run_app(**env: str) -> tuple[list[dict[str, Any]], str]:
    proc = run_python(APP, env={**QUIET, **env})
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return lines, proc.stderr


def test_configure_renders_json_lines_by_default_off_a_terminal() -> None:
    """configure() alone gives correlated JSON lines on stdout for every event."""
    lines, _ = _run_app()
    assert [line["event"] for line in lines] == ["info event", "warning event"]
    assert all(TRACE_HEX.match(line["trace_id"]) for line in lines)
    assert lines[0]["service.name"] == "env-app"


def test_environment_settings_apply() -> None:
    """OTEL_LLM_LOG_LEVEL, OTEL_LLM_REDACT_PATTERNS (;; separated) and
    OTEL_LLM_REDACT_FIELDS reach the logging pipeline."""
    lines, _ = _run_app(OTEL_LLM_LOG_LEVEL="WARNING")
    assert [line["event"] for line in lines] == ["warning event"]
    lines, _ = _run_app(
        OTEL_LLM_REDACT_PATTERNS=r"cust_\d+;;internal-\d+", OTEL_LLM_REDACT_FIELDS="pin"
    )
    assert lines[0]["note"] == "customer [REDACTED] pin"
    assert lines[0]["pin"] == "[REDACTED]"
    assert lines[0]["ticket"] == "[REDACTED]"


def test_environment_sampling_keeps_warnings() -> None:
    """OTEL_LLM_LOG_SAMPLE_RATIO=0 drops every event below WARNING and keeps warnings."""
    lines, _ = _run_app(OTEL_LLM_LOG_SAMPLE_RATIO="0")
    assert [line["event"] for line in lines] == ["warning event"]


def test_logging_opt_out() -> None:
    """OTEL_LLM_LOGGING=false leaves logging alone: no correlated lines at all."""
    lines, _ = _run_app(OTEL_LLM_LOGGING="false")
    assert lines == []


def test_bad_environment_value_warns_and_uses_the_default() -> None:
    """A bad OTEL_LLM_LOG_FORMAT gives one warning naming it and the allowed values."""
    proc = run_python(APP, env={**QUIET, "OTEL_LLM_LOG_FORMAT": "xml"})
    assert proc.returncode == 0, proc.stderr
    output = proc.stdout + proc.stderr
    assert output.count("OTEL_LLM_LOG_FORMAT") == 1
    assert "json" in output
    assert "console" in output
    events = [json.loads(line)["event"] for line in proc.stdout.splitlines() if line[:1] == "{"]
    assert "info event" in events


def test_bad_redaction_pattern_in_the_environment_warns() -> None:
    """A pattern that does not compile is skipped with one warning; the others still apply."""
    proc = run_python(APP, env={**QUIET, "OTEL_LLM_REDACT_PATTERNS": r"(;;cust_\d+"})
    assert proc.returncode == 0, proc.stderr
    assert (proc.stdout + proc.stderr).count("OTEL_LLM_REDACT_PATTERNS") == 1
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line[:1] == "{"]
    (info,) = [line for line in lines if line["event"] == "info event"]
    assert info["note"] == "customer [REDACTED] pin"
