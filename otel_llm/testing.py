"""Test helpers and a pytest plugin: capture otel-llm telemetry in memory.

Installed as a pytest plugin (``pytest11`` entry point). Request the ``otel_capture``
fixture in a test to get the spans, metric points and log records recorded during it::

    def test_summarise(otel_capture):
        summarise("...")
        span = otel_capture.span("chat gpt-4o-mini")
        assert span.attributes["gen_ai.usage.output_tokens"] > 0
        assert otel_capture.metric_sum("gen_ai.client.token.usage", gen_ai_token_type="output")

OpenTelemetry's global providers can be set only once per process, so the first use
installs in-memory SDK providers for the whole test session (unless the application under
test installed its own first) and each test starts from a cleared capture.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from opentelemetry import _logs, metrics, trace
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    MeterProvider,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from . import _runtime
from ._attributes import AttributesSpanProcessor

__all__ = ["Capture", "MetricPoint", "install", "otel_capture"]

_DELTA: dict[type, AggregationTemporality] = {
    kind: AggregationTemporality.DELTA
    for kind in (
        Counter,
        UpDownCounter,
        Histogram,
        ObservableCounter,
        ObservableUpDownCounter,
        ObservableGauge,
    )
}


class MetricPoint:
    """One recorded data point: metric name, attributes and its value (sum/count/buckets)."""

    __slots__ = ("attributes", "count", "exemplars", "name", "point", "value")

    def __init__(self, name: str, point: Any) -> None:
        self.name = name
        self.point = point
        self.attributes: dict[str, Any] = dict(point.attributes or {})
        self.count: int | None = getattr(point, "count", None)
        self.value: float = point.sum if hasattr(point, "sum") else point.value
        self.exemplars: Sequence[Any] = tuple(getattr(point, "exemplars", ()) or ())

    def __repr__(self) -> str:
        return (
            f"MetricPoint({self.name!r}, {self.attributes}, value={self.value}, count={self.count})"
        )


class Capture:
    """In-memory telemetry recorded since the last ``clear()``."""

    def __init__(self, reader: InMemoryMetricReader, spans: InMemorySpanExporter,
                 logs: InMemoryLogRecordExporter) -> None:  # fmt: skip
        self._reader = reader
        self._span_exporter = spans
        self._log_exporter = logs
        self._points: list[MetricPoint] = []
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forget everything recorded so far (metrics included)."""
        with self._lock:
            self._collect()
            self._points.clear()
            self._span_exporter.clear()
            self._log_exporter.clear()

    # -- spans -----------------------------------------------------------------------
    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        """Finished spans, oldest first, optionally only those called ``name``."""
        finished = list(self._span_exporter.get_finished_spans())
        return [s for s in finished if name is None or s.name == name]

    def span(self, name: str) -> ReadableSpan:
        """The one finished span called ``name`` (AssertionError if not exactly one)."""
        found = self.spans(name)
        names = [s.name for s in self.spans()]
        assert len(found) == 1, f"expected one span {name!r}, found {len(found)} among {names}"
        return found[0]

    def children(self, parent: ReadableSpan) -> list[ReadableSpan]:
        """Finished spans whose parent is ``parent``, in start order."""
        parent_id = parent.context.span_id if parent.context else None
        kids = [s for s in self.spans() if s.parent is not None and s.parent.span_id == parent_id]
        return sorted(kids, key=lambda s: s.start_time or 0)

    # -- metrics ---------------------------------------------------------------------
    def _collect(self) -> None:
        data = self._reader.get_metrics_data()
        if data is None:
            return
        for resource_metrics in data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    for point in metric.data.data_points:
                        self._points.append(MetricPoint(metric.name, point))

    def metric_points(self, name: str, **attributes: Any) -> list[MetricPoint]:
        """Data points of metric ``name`` whose attributes include ``attributes``.

        Attribute keys use ``_`` for ``.`` (``gen_ai_token_type="input"``); exact dotted
        keys can be passed with ``**{"gen_ai.token.type": "input"}``. Points are deltas:
        one per collection and attribute set.
        """
        with self._lock:
            self._collect()
            points = [p for p in self._points if p.name == name]
        return [p for p in points if all(_match(p.attributes, k, v) for k, v in attributes.items())]

    def metric_sum(self, name: str, **attributes: Any) -> float:
        """Sum of the values (counter increments, histogram sums) of matching points."""
        return sum(p.value for p in self.metric_points(name, **attributes))

    def histogram_count(self, name: str, **attributes: Any) -> int:
        """Number of measurements in matching histogram points."""
        return sum(p.count or 0 for p in self.metric_points(name, **attributes))

    # -- logs ------------------------------------------------------------------------
    def logs(self) -> list[ReadableLogRecord]:
        """Exported log records, oldest first."""
        return list(self._log_exporter.get_finished_logs())


def _match(attributes: dict[str, Any], key: str, value: Any) -> bool:
    if key in attributes:
        return bool(attributes[key] == value)
    # an underscore-written key whose dotted form is ambiguous: compare normalised names
    normalised = {k.replace(".", "_"): v for k, v in attributes.items()}
    return bool(normalised.get(key.replace(".", "_"), _MISSING) == value)


_MISSING = object()
_installed: Capture | None = None
_install_lock = threading.Lock()


def install() -> Capture:
    """Install in-memory providers as the OpenTelemetry globals (once) and return the capture."""
    global _installed
    with _install_lock:
        if _installed is not None:
            return _installed
        resource = Resource.create({"service.name": "otel-llm-tests"})
        span_exporter = InMemorySpanExporter()
        tracer_provider = TracerProvider(resource=resource)
        tracer_provider.add_span_processor(AttributesSpanProcessor())
        tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
        reader = InMemoryMetricReader(preferred_temporality=_DELTA)
        meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
        log_exporter = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
        logger_provider = LoggerProvider(resource=resource)
        logger_provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
        trace.set_tracer_provider(tracer_provider)
        metrics.set_meter_provider(meter_provider)
        _logs.set_logger_provider(logger_provider)
        if not isinstance(trace.get_tracer_provider(), TracerProvider) or not isinstance(
            metrics.get_meter_provider(), MeterProvider
        ):  # pragma: no cover - someone else won the race for the globals
            raise RuntimeError("otel_llm.testing could not install in-memory providers")
        _runtime.RT.reset()
        _installed = Capture(reader, span_exporter, log_exporter)
        return _installed


@pytest.fixture
def otel_capture() -> Iterator[Capture]:
    """In-memory spans, metrics and logs recorded during this test."""
    capture = install()
    enabled, capture_mode = _runtime.RT.enabled, _runtime.RT.capture
    _runtime.RT.enabled = True
    capture.clear()
    yield capture
    _runtime.RT.enabled, _runtime.RT.capture = enabled, capture_mode
