"""Export health: count and report the telemetry lost on its way out of the process.

Telemetry is lost in two places, both on the OpenTelemetry SDK's side of the API:

* a **full queue**: a batch processor holds at most ``max_queue_size`` spans or log records;
  while its exporter is stuck (collector down or slow) new items push the oldest out;
* a **failed export**: the exporter returned FAILURE (OTLP gives up after its retries and its
  timeout) or raised. An exporter that raises is caught here, never reaches the application.

Both are counted in ``otel_llm.export.dropped`` by ``otel_llm.signal`` and ``error.type``
(``queue_full``; for a failed export ``timeout``, the HTTP or gRPC status, the error's class
or ``export_failed``; for a raising exporter the exception's class), and summed up in
one WARNING per signal per interval, never per item. The OTel exporters' own log lines (one
or more per failed batch) are let through once per message per interval for the same reason.
Metrics that passed their cardinality limit (a series with ``otel.metric.overflow=true`` in a
pushed export) are named in one WARNING per interval too.

``watch()`` hooks the batch processors and periodic metric readers the providers hold when
``configure()`` runs, those it built and those of providers it adopted: it wraps each exporter
and listens at the SDK's own accounting (``BatchProcessor`` reports every queue drop to a
``ProcessorMetrics``-shaped object, an OTLP exporter records the error of each export in an
``ExporterMetrics``-shaped one; both are wrapped, nothing of the SDK is copied).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final, Literal, TypeVar

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

from . import semconv
from ._fork import fork_safe_lock
from ._runtime import RT, report_error

__all__ = ["REPORT", "DropReport", "quiet_sdk_export_logs", "watch"]

Signal = Literal["traces", "metrics", "logs"]
_R = TypeVar("_R")

_log = logging.getLogger("otel_llm")

INTERVAL_S: Final = 60.0
"""At most one drop WARNING per signal, and one SDK export log line per message, per interval."""

_OVERFLOW: Final = "overflow"
_NOUNS: Final[dict[str, str]] = {
    "traces": "span",
    "logs": "log record",
    "metrics": "metric export",
}
_SDK_EXPORT_LOGGERS: Final = (
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http._log_exporter",
    "opentelemetry.exporter.otlp.proto.http.metric_exporter",
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.common.http",
    "opentelemetry.sdk._shared_internal",
    "opentelemetry.sdk.metrics._internal.export",
)
"""Loggers the OTel SDK writes per failed batch, full queue or raising exporter."""


class DropReport:
    """Counts dropped telemetry and logs one summary WARNING per signal per interval.

    The first drop of a signal is logged at once; later ones are summed and logged with the
    first drop or export after the interval has passed, and by ``flush()`` at shutdown.
    """

    def __init__(
        self, interval_s: float = INTERVAL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s!r}")
        self._interval_s = interval_s
        self._clock = clock
        self._lock = fork_safe_lock()
        self._pending: dict[str, Counter[str]] = {}
        self._last: dict[str, float] = {}
        self._started = clock()
        self._local = threading.local()

    def dropped(self, signal: Signal, error_type: str, count: int) -> None:
        """Count ``count`` items of ``signal`` lost for ``error_type``; may log the summary."""
        try:
            RT.instruments.export_dropped.add(
                count, {semconv.EXPORT_SIGNAL: signal, semconv.ERROR_TYPE: error_type}
            )
        except Exception as exc:
            report_error("export.dropped", exc)
        with self._lock:
            self._pending.setdefault(signal, Counter())[error_type] += count
        self.tick(signal)

    def tick(self, signal: Signal) -> None:
        """Log the pending summary of ``signal`` if its interval has passed."""
        if not self._busy():  # inside our own WARNING: keep it pending for the next one
            self._emit(self._take(signal, force=False))

    def flush(self) -> None:
        """Log every pending summary now (shutdown)."""
        with self._lock:
            signals = list(self._pending)
        messages = [self._take(signal, force=True) for signal in signals]
        self._emit([m for part in messages for m in part])

    def overflowed(self, names: list[str]) -> None:
        """Log the metrics that passed their cardinality limit, once per interval."""
        if not names:
            return
        now = self._clock()
        with self._lock:
            last = self._last.get(_OVERFLOW)
            if last is not None and now - last < self._interval_s:
                return
            self._last[_OVERFLOW] = now
        self._emit(
            [
                f"otel-llm: {', '.join(sorted(set(names)))} passed the cardinality limit: new "
                f"attribute sets are summed into the series with {semconv.METRIC_OVERFLOW}=true"
                " (totals stay right, the breakdown is lost). Raise "
                "OTEL_LLM_METRIC_CARDINALITY_LIMIT or drop the unbounded attribute."
            ]
        )

    def _take(self, signal: str, *, force: bool) -> list[str]:
        now = self._clock()
        with self._lock:
            pending = self._pending.get(signal)
            if not pending:
                return []
            last = self._last.get(signal)
            if not force and last is not None and now - last < self._interval_s:
                return []
            self._pending[signal] = Counter()
            self._last[signal] = now
        since = now - (last if last is not None else self._started)
        total = sum(pending.values())
        reasons = ", ".join(f"{kind}: {n}" for kind, n in pending.most_common())
        return [
            f"otel-llm: {total} {_NOUNS.get(signal, signal)}{'' if total == 1 else 's'} dropped "
            f"in the last {since:.0f} s "
            f"({reasons}); counted in {semconv.METRIC_EXPORT_DROPPED}. Is the collector "
            "reachable and keeping up? See docs/reliability.md, Self-observability."
        ]

    def _busy(self) -> bool:
        return bool(getattr(self._local, "busy", False))

    def _emit(self, messages: list[str]) -> None:
        # A WARNING can itself become a log record for a full log queue: that drop is
        # counted, and logged with a later summary, not from inside this call (no recursion).
        if not messages or self._busy():
            return
        self._local.busy = True
        try:
            for message in messages:
                _log.warning(message)
        except Exception as exc:  # a broken log handler must not reach the exporter thread
            report_error("export.report", exc)
        finally:
            self._local.busy = False


REPORT: Final = DropReport()
"""The process's report, shared by every watched processor and reader."""


class _ExportErrors:
    """Stands in for an OTLP exporter's ``ExporterMetrics``: passes every call on and keeps
    the error the exporter records for its last export (the SDK sets ``result.error``)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.last: tuple[BaseException | None, Any] = (None, None)

    @contextmanager
    def export_operation(self, num_items: int) -> Iterator[Any]:
        with self.inner.export_operation(num_items) as result:
            try:
                yield result
            finally:
                self.last = (result.error, result.error_attrs)


def _hook_errors(exporter: object) -> _ExportErrors | None:
    """Find the OTLP exporter under our wrappers and listen to the errors it records."""
    for _ in range(4):
        accounting = getattr(exporter, "_metrics", None)
        if isinstance(accounting, _ExportErrors):
            return accounting
        if accounting is not None and hasattr(accounting, "export_operation"):
            errors = _ExportErrors(accounting)
            exporter._metrics = errors  # type: ignore[attr-defined]
            return errors
        exporter = getattr(exporter, "_exporter", None)
        if exporter is None:
            break
    return None


def error_type_of_failure(error: BaseException | None, attributes: Any) -> str:
    """``error.type`` of a failed export: timeout, the HTTP or gRPC status, the error class."""
    status = None
    if isinstance(attributes, dict) and attributes:
        status = next(iter(attributes.values()))
    name = type(error).__qualname__ if error is not None else ""
    if isinstance(error, TimeoutError) or "Timeout" in name or status == "DEADLINE_EXCEEDED":
        return semconv.ERROR_TIMEOUT
    if status is not None:
        return str(status)
    return name or semconv.ERROR_EXPORT_FAILED


class _Guard:
    """Runs one export: a FAILURE or an exception becomes a counted drop, never a raise."""

    def __init__(self, signal: Signal, exporter: object, report: DropReport) -> None:
        self.signal: Signal = signal
        self.report = report
        self.errors = _hook_errors(exporter)

    def run(self, count: int, export: Callable[[], _R], success: _R, failure: _R) -> _R:
        errors = self.errors
        if errors is not None:
            errors.last = (None, None)
        try:
            result = export()
        except Exception as exc:
            _log.debug("otel-llm: a %s exporter raised", self.signal, exc_info=True)
            self.report.dropped(self.signal, type(exc).__qualname__, count)
            return failure
        if result == success:
            self.report.tick(self.signal)
            return result
        error, attributes = errors.last if errors is not None else (None, None)
        self.report.dropped(self.signal, error_type_of_failure(error, attributes), count)
        return result


class _GuardedSpanExporter(SpanExporter):
    """Counts the spans of failed exports; swallows what the wrapped exporter raises."""

    def __init__(self, exporter: SpanExporter, report: DropReport) -> None:
        self.exporter = exporter
        self._guard = _Guard("traces", exporter, report)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self._guard.run(
            len(spans),
            lambda: self.exporter.export(spans),
            SpanExportResult.SUCCESS,
            SpanExportResult.FAILURE,
        )

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.exporter.force_flush(timeout_millis)


class _GuardedLogExporter(LogRecordExporter):
    """Counts the log records of failed exports; swallows what the wrapped exporter raises."""

    def __init__(self, exporter: LogRecordExporter, report: DropReport) -> None:
        self.exporter = exporter
        self._guard = _Guard("logs", exporter, report)

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        return self._guard.run(
            len(batch),
            lambda: self.exporter.export(batch),
            LogRecordExportResult.SUCCESS,
            LogRecordExportResult.FAILURE,
        )

    def shutdown(self) -> None:
        self.exporter.shutdown()  # type: ignore[no-untyped-call]

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.exporter.force_flush(timeout_millis)


class _GuardedMetricExporter(MetricExporter):
    """Counts failed metric exports (one per export); swallows what the exporter raises.

    Installed after the reader read its preferred temporality and aggregation from the
    wrapped exporter, so only export, flush and shutdown are delegated.
    """

    def __init__(self, exporter: MetricExporter, report: DropReport) -> None:
        super().__init__()
        self.exporter = exporter
        self._guard = _Guard("metrics", exporter, report)

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        try:
            self._guard.report.overflowed(_overflowed(metrics_data))
        except Exception as exc:
            report_error("export.overflow", exc)
        return self._guard.run(
            1,
            lambda: self.exporter.export(metrics_data, timeout_millis=timeout_millis, **kwargs),
            MetricExportResult.SUCCESS,
            MetricExportResult.FAILURE,
        )

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self.exporter.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self.exporter.shutdown(timeout_millis=timeout_millis, **kwargs)


def _overflowed(metrics_data: MetricsData) -> list[str]:
    """Names of the metrics that have a cardinality-overflow series in this export."""
    names = []
    for resource_metrics in metrics_data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                points = getattr(metric.data, "data_points", ())
                if any((p.attributes or {}).get(semconv.METRIC_OVERFLOW) for p in points):
                    names.append(metric.name)
    return names


class _QueueDrops:
    """Stands in for a batch processor's ``ProcessorMetrics``: passes every call on and
    counts the drops it is told of (queue full; emitted after shutdown)."""

    def __init__(self, inner: Any, signal: Signal, report: DropReport) -> None:
        self.inner = inner
        self._signal: Signal = signal
        self._report = report

    def register_queue_size(self, get_queue_size: Callable[[], int]) -> None:
        self.inner.register_queue_size(get_queue_size)

    def drop_items(self, count: int, error_type: str = semconv.ERROR_QUEUE_FULL) -> None:
        self.inner.drop_items(count, error_type)
        self._report.dropped(self._signal, error_type, count)

    def finish_items(self, count: int) -> None:
        self.inner.finish_items(count)


def _watch_batch(processor: Any, signal: Signal, report: DropReport) -> bool:
    """Guard the exporter and count the queue drops of one SDK batch processor."""
    batch = getattr(processor, "_batch_processor", None)
    exporter = getattr(batch, "_exporter", None)
    accounting = getattr(batch, "_metrics", None)
    if batch is None or exporter is None or accounting is None:
        return False  # an SDK whose batch processor looks different: leave it alone
    if not isinstance(exporter, (_GuardedSpanExporter, _GuardedLogExporter)):
        if signal == "traces":
            batch._exporter = _GuardedSpanExporter(exporter, report)
        else:
            batch._exporter = _GuardedLogExporter(exporter, report)
    if not isinstance(accounting, _QueueDrops):
        batch._metrics = _QueueDrops(accounting, signal, report)
    return True


def watch(
    tracer_provider: TracerProvider | None,
    meter_provider: MeterProvider | None,
    logger_provider: LoggerProvider | None,
    report: DropReport = REPORT,
) -> int:
    """Hook every batch processor and periodic reader the providers hold now.

    Returns how many were hooked. Processors added later are not watched.
    """
    hooked = 0
    active = getattr(tracer_provider, "_active_span_processor", None)
    spans = getattr(active, "_span_processors", ())
    for processor in spans:
        if isinstance(processor, BatchSpanProcessor):
            hooked += _watch_batch(processor, "traces", report)
    logs = getattr(
        getattr(logger_provider, "_multi_log_record_processor", None), "_log_record_processors", ()
    )
    for processor in logs:
        if isinstance(processor, BatchLogRecordProcessor):
            hooked += _watch_batch(processor, "logs", report)
    readers = getattr(meter_provider, "_metric_readers", ())
    for reader in readers:
        exporter = getattr(reader, "_exporter", None)
        if isinstance(reader, PeriodicExportingMetricReader) and isinstance(
            exporter, MetricExporter
        ):
            if not isinstance(exporter, _GuardedMetricExporter):
                reader._exporter = _GuardedMetricExporter(exporter, report)
            hooked += 1
    return hooked


class _OncePerInterval(logging.Filter):
    """Lets a logger's record through once per message template per interval."""

    def __init__(self, interval_s: float) -> None:
        super().__init__()
        self._interval_s = interval_s
        self._seen: dict[tuple[int, str], float] = {}
        self._lock = fork_safe_lock()

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.levelno, str(record.msg))
        now = time.monotonic()
        with self._lock:
            last = self._seen.get(key)
            if last is not None and now - last < self._interval_s:
                return False
            if len(self._seen) > 1000:  # templates are few; bound the map anyway
                self._seen.clear()
            self._seen[key] = now
        return True


def quiet_sdk_export_logs(interval_s: float = INTERVAL_S) -> None:
    """Let the OTel exporters' per-batch log lines through once per message per interval."""
    for name in _SDK_EXPORT_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _OncePerInterval) for f in logger.filters):
            logger.addFilter(_OncePerInterval(interval_s))
