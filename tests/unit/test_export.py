"""Export health: lost spans, log records and metric exports are counted and summarised.

Real SDK batch processors and readers with exporters that fail the way real ones do (raise,
return FAILURE, block); the drop counter is read back through the in-memory capture.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from typing import Any

import pytest
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    LogRecordExporter,
    LogRecordExportResult,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from otel_llm import semconv
from otel_llm._export import DropReport, watch
from otel_llm.testing import Capture
from tests.helpers import run_python

DROPPED = semconv.METRIC_EXPORT_DROPPED


def dropped(capture: Capture, signal: str, error_type: str) -> float:
    """otel_llm.export.dropped for one signal and error.type."""
    attrs = {semconv.EXPORT_SIGNAL: signal, semconv.ERROR_TYPE: error_type}
    return capture.metric_sum(DROPPED, **attrs)


class RaisingSpanExporter(SpanExporter):
    """A span exporter whose export raises, as a broken third-party exporter might."""

    def __init__(self) -> None:
        self.calls = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.calls += 1
        raise ConnectionResetError("exporter blew up")

    def shutdown(self) -> None:
        pass


class FailingLogExporter(LogRecordExporter):
    """A log exporter that reports FAILURE, as OTLP does after its retries."""

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        return LogRecordExportResult.FAILURE

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    def shutdown(self) -> None:
        pass


class BlockingSpanExporter(SpanExporter):
    """Holds its first export until released: a stuck collector, queue filling behind it."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.exported = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.entered.set()
        self.release.wait(10)
        self.exported += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.release.set()


class RaisingMetricExporter(MetricExporter):
    """A metric exporter whose export raises."""

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        raise ValueError("metric exporter blew up")

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        pass


class CollectingMetricExporter(MetricExporter):
    """A metric exporter that accepts everything and keeps the metric names it saw."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        for rm in metrics_data.resource_metrics:
            for sm in rm.scope_metrics:
                self.names += [m.name for m in sm.metrics]
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        pass


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def end_spans(provider: TracerProvider, count: int) -> None:
    tracer = provider.get_tracer("test")
    for i in range(count):
        tracer.start_span(f"s{i}").end()


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "otel_llm" and r.levelno == logging.WARNING and "dropped" in r.getMessage()
    ]


def test_raising_span_exporter_is_swallowed_counted_and_logged_once(
    otel_capture: Capture, caplog: pytest.LogCaptureFixture
) -> None:
    """An exporter that raises never reaches the caller; its spans are counted by class."""
    exporter = RaisingSpanExporter()
    provider = TracerProvider()
    processor = BatchSpanProcessor(exporter, max_export_batch_size=5, schedule_delay_millis=60_000)
    provider.add_span_processor(processor)
    assert watch(provider, None, None, report=DropReport()) == 1
    caplog.set_level(logging.WARNING, logger="otel_llm")
    for _ in range(3):
        end_spans(provider, 5)
        assert provider.force_flush()
    provider.shutdown()
    assert exporter.calls == 3
    assert dropped(otel_capture, "traces", "ConnectionResetError") == 15
    # The first drop is reported at once; the two batches after it wait for the interval.
    assert warnings_of(caplog) == [warnings_of(caplog)[0]]
    assert warnings_of(caplog)[0].startswith("otel-llm: 5 spans dropped in the last ")
    assert "(ConnectionResetError: 5)" in warnings_of(caplog)[0]


def test_failed_log_export_counts_every_record(otel_capture: Capture) -> None:
    """A FAILURE result counts each record of the batch as export_failed."""
    provider = LoggerProvider()
    provider.add_log_record_processor(
        BatchLogRecordProcessor(FailingLogExporter(), schedule_delay_millis=60_000)
    )
    assert watch(None, None, provider, report=DropReport()) == 1
    logger = provider.get_logger("test")
    from opentelemetry._logs import LogRecord

    for i in range(7):
        logger.emit(LogRecord(body=f"record {i}"))
    provider.force_flush()
    provider.shutdown()
    assert dropped(otel_capture, "logs", semconv.ERROR_EXPORT_FAILED) == 7


def test_full_queue_drops_are_counted_exactly(otel_capture: Capture) -> None:
    """While the exporter is stuck, each span pushed out of the full queue is one queue_full."""
    exporter = BlockingSpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(
        BatchSpanProcessor(
            exporter, max_queue_size=4, max_export_batch_size=1, schedule_delay_millis=60_000
        )
    )
    watch(provider, None, None, report=DropReport())
    end_spans(provider, 1)  # wakes the worker, which takes it and blocks in export
    assert exporter.entered.wait(10)
    end_spans(provider, 10)  # 4 fit in the queue, 6 push older ones out
    exporter.release.set()
    provider.force_flush()
    provider.shutdown()
    assert dropped(otel_capture, "traces", semconv.ERROR_QUEUE_FULL) == 6
    assert exporter.exported == 5


def test_raising_metric_exporter_counts_one_per_export(otel_capture: Capture) -> None:
    """A metric exporter that raises: each lost export counts 1 (metrics signal)."""
    reader = PeriodicExportingMetricReader(RaisingMetricExporter(), export_interval_millis=600_000)
    provider = MeterProvider(metric_readers=[reader])
    assert watch(None, provider, None, report=DropReport()) == 1
    provider.get_meter("test").create_counter("c").add(1)
    provider.force_flush()
    provider.force_flush()
    provider.shutdown()
    assert dropped(otel_capture, "metrics", "ValueError") >= 2


def test_cardinality_overflow_is_logged_once_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A metric past its cardinality limit is named in one WARNING per interval; the export
    itself goes on unchanged."""
    from opentelemetry.sdk.metrics import Counter as SdkCounter

    exporter = CollectingMetricExporter()
    reader = PeriodicExportingMetricReader(
        exporter, export_interval_millis=600_000, cardinality_limits={SdkCounter: 3}
    )
    provider = MeterProvider(metric_readers=[reader])
    clock = Clock()
    watch(None, provider, None, report=DropReport(interval_s=60, clock=clock))
    counter = provider.get_meter("test").create_counter("requests.by.user")
    within = provider.get_meter("test").create_counter("requests.by.route")
    caplog.set_level(logging.WARNING, logger="otel_llm")
    for user in range(10):
        counter.add(1, {"user": str(user)})
    within.add(1, {"route": "a"})
    provider.force_flush()
    provider.force_flush()  # the overflow series is still there: no second warning yet
    clock.now += 61
    provider.force_flush()
    provider.shutdown()
    overflow = [r.getMessage() for r in caplog.records if "cardinality limit" in r.getMessage()]
    assert len(overflow) == 2, overflow
    assert overflow[0].startswith("otel-llm: requests.by.user passed the cardinality limit")
    assert "requests.by.route" not in overflow[0]
    assert "requests.by.user" in exporter.names


def test_watch_twice_wraps_once(otel_capture: Capture) -> None:
    """A provider watched twice (configure() after configure()) counts each drop once."""
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(RaisingSpanExporter()))
    report = DropReport()
    watch(provider, None, None, report=report)
    watch(provider, None, None, report=report)
    end_spans(provider, 4)
    provider.force_flush()
    provider.shutdown()
    assert dropped(otel_capture, "traces", "ConnectionResetError") == 4


def test_report_logs_once_per_interval_with_the_count_since_the_last(
    otel_capture: Capture, caplog: pytest.LogCaptureFixture
) -> None:
    """One WARNING per signal per interval, carrying the drops since the previous one."""
    clock = Clock()
    report = DropReport(interval_s=60, clock=clock)
    caplog.set_level(logging.WARNING, logger="otel_llm")
    report.dropped("traces", "queue_full", 5)
    clock.now += 10
    report.dropped("traces", "queue_full", 3)
    report.dropped("logs", "timeout", 2)  # another signal has its own interval
    clock.now += 49
    report.tick("traces")
    assert len(warnings_of(caplog)) == 2
    clock.now += 2  # 61 s after the first warning
    report.dropped("traces", "export_failed", 4)
    report.tick("logs")  # logs' interval has not passed
    messages = warnings_of(caplog)
    assert messages[0].startswith("otel-llm: 5 spans dropped in the last 0 s (queue_full: 5)")
    assert messages[1].startswith("otel-llm: 2 log records dropped in the last 10 s (timeout: 2)")
    assert messages[2].startswith(
        "otel-llm: 7 spans dropped in the last 61 s (export_failed: 4, queue_full: 3)"
    )
    assert len(messages) == 3
    report.dropped("logs", "timeout", 1)
    report.flush()
    assert warnings_of(caplog)[3].startswith("otel-llm: 1 log record dropped in the last 51 s")
    report.flush()  # nothing pending: nothing logged
    assert len(warnings_of(caplog)) == 4
    assert dropped(otel_capture, "traces", "queue_full") == 8


def test_a_drop_caused_by_the_warning_itself_is_kept_for_the_next_summary(
    otel_capture: Capture, caplog: pytest.LogCaptureFixture
) -> None:
    """The WARNING can land in a full log queue (one more dropped record): that nested drop
    is counted and summed into a later WARNING, never logged from inside the first."""
    report = DropReport()

    class FullLogQueue(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            report.dropped("logs", semconv.ERROR_QUEUE_FULL, 1)

    handler = FullLogQueue()
    logging.getLogger("otel_llm").addHandler(handler)
    caplog.set_level(logging.WARNING, logger="otel_llm")
    try:
        report.dropped("logs", semconv.ERROR_QUEUE_FULL, 10)
        assert len(warnings_of(caplog)) == 1
        report.flush()
    finally:
        logging.getLogger("otel_llm").removeHandler(handler)
    messages = warnings_of(caplog)
    assert len(messages) == 2, messages
    assert messages[0].startswith("otel-llm: 10 log records dropped")
    assert messages[1].startswith("otel-llm: 1 log record dropped")
    assert dropped(otel_capture, "logs", semconv.ERROR_QUEUE_FULL) == 12


def test_interval_must_be_positive() -> None:
    """A zero interval is a caller error, said at the call."""
    with pytest.raises(ValueError, match="interval_s must be positive"):
        DropReport(interval_s=0)


@pytest.mark.parametrize(
    ("protocol", "collector", "error_type", "sdk_line"),
    [
        ("http/protobuf", "closed", "ConnectionError", "Failed to export spans batch"),
        ("http/protobuf", "silent", semconv.ERROR_TIMEOUT, "Failed to export spans batch due"),
        ("grpc", "closed", "UNAVAILABLE", "Failed to export traces to"),
        ("grpc", "silent", semconv.ERROR_TIMEOUT, "Failed to export traces to"),
    ],
)
def test_configure_failing_collector_one_warning_and_quiet_sdk_logs(
    protocol: str, collector: str, error_type: str, sdk_line: str
) -> None:
    """configure() against a closed port or a collector that never answers, over OTLP/HTTP
    and gRPC: the app runs, the drops are classified, otel-llm warns once plus once at
    shutdown, each SDK log line appears once."""
    result = run_python(
        f"""
        import json, socket
        import otel_llm
        from opentelemetry import trace
        s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
        if {collector!r} == "silent":
            s.listen(16)  # accepts connections (kernel backlog), never answers
        else:
            s.close()
        tel = otel_llm.configure(
            service_name="failing", traces_exporter="otlp", metrics_exporter="none",
            logs_exporter="none", otlp_endpoint=f"http://127.0.0.1:{{port}}",
            otlp_protocol={protocol!r}, logging=False,
        )
        tracer = trace.get_tracer("t")
        for batch in range(3):
            for i in range(4):
                with tracer.start_as_current_span("work"):
                    pass
            tel.force_flush()
        tel.shutdown()
        print(json.dumps({{"ok": True}}))
        """,
        env={"OTEL_EXPORTER_OTLP_TIMEOUT": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"ok": True}
    lines = result.stderr.splitlines()
    ours = [line for line in lines if "otel-llm:" in line and "dropped" in line]
    # The first failed batch is reported at once, the other two at shutdown.
    assert len(ours) == 2, result.stderr
    assert "4 spans dropped" in ours[0] and f"({error_type}: 4)" in ours[0], ours
    assert "8 spans dropped" in ours[1] and f"({error_type}: 8)" in ours[1], ours
    sdk = [line for line in lines if sdk_line in line]
    assert len(sdk) == 1, result.stderr
