"""The base of every otel-llm handle: one span, one lifecycle, sync and async.

A handle is created cheaply, starts its span on ``start()`` (or ``with``/``async with``),
and ends it exactly once in ``end()``. Subclasses only say what the span is called and what
to record when it ends (``_on_end``). Telemetry failures inside the handle are swallowed and
counted; the caller's exceptions pass through unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from types import TracebackType
from typing import ClassVar, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from . import semconv
from ._fingerprint import fingerprint
from ._runtime import RT, error_type_of, report_error

__all__ = ["Operation"]

Attributes = dict[str, AttributeValue]
_O = TypeVar("_O", bound="Operation")


class Operation:
    """One traced unit of work with an idempotent finaliser."""

    __slots__ = (
        "_ctx",
        "_ended",
        "_error_type",
        "_metric_attrs",
        "_start_time",
        "_token",
        "span",
    )

    _kind: ClassVar[SpanKind] = SpanKind.INTERNAL
    _component: ClassVar[str] = "operation"

    def __init__(self) -> None:
        self.span: Span = trace.INVALID_SPAN
        self._ctx: otel_context.Context | None = None
        self._token: object | None = None
        self._start_time = 0.0
        self._ended = False
        self._error_type: str | None = None
        self._metric_attrs: Attributes = {}

    # -- what subclasses provide ---------------------------------------------------
    def _span_name(self) -> str:
        raise NotImplementedError

    def _start_attributes(self) -> Attributes:
        return {}

    def _span_kind(self) -> SpanKind:
        return self._kind

    def _context_values(self, ctx: otel_context.Context) -> otel_context.Context:
        """Extra context values a child should see (e.g. the active generation)."""
        return ctx

    def _on_end(self, duration: float) -> None:
        """Record span attributes and metrics; the span is still open."""

    def _should_record_span(self, parent: otel_context.Context) -> bool:
        return True

    # -- lifecycle ------------------------------------------------------------------
    @property
    def ended(self) -> bool:
        """True once the finaliser has run."""
        return self._ended

    def start(self: _O) -> _O:
        """Start the span (idempotent) without making it current; returns self."""
        if self._ctx is not None:
            return self
        parent = otel_context.get_current()
        try:
            if self._should_record_span(parent):
                self.span = RT.tracer.start_span(
                    self._span_name(),
                    context=parent,
                    kind=self._span_kind(),
                    attributes=self._start_attributes(),
                )
            ctx = trace.set_span_in_context(self.span, parent)
            self._ctx = self._context_values(ctx)
        except Exception as exc:
            report_error(self._component, exc)
            self._ctx = parent
        self._start_time = time.perf_counter()
        return self

    def end(self, error: BaseException | None = None) -> None:
        """End the span exactly once, recording ``error`` (if any) as the outcome."""
        if self._ended:
            return
        self._ended = True
        duration = time.perf_counter() - self._start_time
        try:
            if error is not None:
                self._record_exception(error)
            self._on_end(duration)
        except Exception as exc:
            report_error(self._component, exc)
        try:
            self.span.end()
        except Exception as exc:  # pragma: no cover - SDK failure
            report_error(self._component, exc)

    def set_error(self, error_type: str, message: str | None = None) -> None:
        """Mark the operation failed without an exception (e.g. an HTTP status)."""
        self._error_type = error_type
        try:
            self.span.set_attribute(semconv.ERROR_TYPE, error_type)
            self.span.set_status(Status(StatusCode.ERROR, message))
        except Exception as exc:
            report_error(self._component, exc)

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        """Set one extra span attribute (span only, never a metric attribute)."""
        try:
            self.span.set_attribute(key, value)
        except Exception as exc:
            report_error(self._component, exc)

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        """Set several extra span attributes (one SDK call: one lock, one validation pass)."""
        try:
            self.span.set_attributes(attributes)
        except Exception as exc:
            report_error(self._component, exc)

    def _record_exception(self, error: BaseException) -> None:
        error_type = error_type_of(error)
        self._error_type = error_type
        span = self.span
        if span.is_recording():
            error_print = fingerprint(error_type, self._component, str(error))
            span.record_exception(error, {semconv.ERROR_FINGERPRINT: error_print}, escaped=True)
            span.set_attribute(semconv.ERROR_TYPE, error_type)
            span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))

    # -- context-manager protocol -------------------------------------------------------
    def __enter__(self: _O) -> _O:
        self.start()
        try:
            self._token = otel_context.attach(self._ctx) if self._ctx is not None else None
        except Exception as exc:
            report_error(self._component, exc)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.end(exc)
        finally:
            token = self._token
            if token is not None:
                self._token = None
                try:
                    otel_context.detach(token)  # type: ignore[arg-type]
                except Exception as detach_exc:
                    report_error(self._component, detach_exc)

    async def __aenter__(self: _O) -> _O:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)
