"""``route()``: a routing decision with its attempts, fallbacks and the model it served."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import ClassVar

from opentelemetry import context as otel_context

from . import semconv
from ._cost import usage_from_attributes
from ._generation import Generation
from ._logging import log_event
from ._noop import NOOP
from ._operation import Attributes, Operation
from ._pricing import get_table
from ._runtime import ROUTE_KEY, RT, error_type_of, report_error

__all__ = ["Route", "route"]


def _model(name: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value


class Route(Operation):
    """Handle of one routed request; generations started inside it are its attempts."""

    __slots__ = (
        "_attempts",
        "_candidates",
        "_fallbacks",
        "_last_attempt",
        "_name",
        "_reason",
        "_requested",
        "_selected",
    )

    _component: ClassVar[str] = "route"

    def __init__(self, name: str, candidates: Sequence[str], requested_model: str | None) -> None:
        super().__init__()
        self._name = _model("route name", name)
        self._candidates = [_model("candidate", c) for c in candidates]
        self._requested = requested_model
        self._selected: str | None = None
        self._reason: str | None = None
        self._attempts = 0
        self._fallbacks = 0
        self._last_attempt: Generation | None = None
        self._metric_attrs = {semconv.ROUTE_NAME: name}

    def _span_name(self) -> str:
        return f"{semconv.SPAN_ROUTE_PREFIX} {self._name}"

    def _start_attributes(self) -> Attributes:
        attributes: Attributes = {semconv.ROUTE_NAME: self._name}
        if self._candidates:
            attributes[semconv.ROUTE_CANDIDATES] = self._candidates
        if self._requested:
            attributes[semconv.ROUTE_REQUESTED_MODEL] = self._requested
        return attributes

    def _context_values(self, ctx: otel_context.Context) -> otel_context.Context:
        return otel_context.set_value(ROUTE_KEY, self, ctx)

    def attempt_started(self, generation: Generation) -> None:
        """Called by a generation that starts inside this route: one more attempt."""
        self._attempts += 1
        self._last_attempt = generation

    def select(self, model: str, reason: str | None = None) -> None:
        """Record the model the router chose (finally served) and why."""
        self._selected = _model("model", model)
        self._reason = reason
        try:
            attributes: Attributes = {semconv.ROUTE_SELECTED_MODEL: model}
            if reason:
                attributes[semconv.ROUTE_REASON] = reason
            self.set_attributes(attributes)
            RT.instruments.route_selections.add(
                1, {**self._metric_attrs, **attributes}, context=self._ctx
            )
        except Exception as exc:
            report_error(self._component, exc)

    def fallback(
        self,
        from_model: str,
        to_model: str,
        reason: str | None = None,
        error: BaseException | str | None = None,
    ) -> None:
        """Record giving up ``from_model`` for ``to_model`` (an event and a counter)."""
        _model("from_model", from_model)
        _model("to_model", to_model)
        self._fallbacks += 1
        try:
            event: Attributes = {
                semconv.ROUTE_FALLBACK_FROM: from_model,
                semconv.ROUTE_FALLBACK_TO: to_model,
            }
            if reason:
                event[semconv.ROUTE_FALLBACK_REASON] = reason
            if error is not None:
                event[semconv.ERROR_TYPE] = (
                    error if isinstance(error, str) else error_type_of(error)
                )
            self.span.add_event(semconv.EVENT_FALLBACK, event)
            RT.instruments.route_fallbacks.add(
                1, {**self._metric_attrs, **event}, context=self._ctx
            )
            log_event(
                logging.WARNING,
                "route fallback",
                route=self._name,
                from_model=from_model,
                to_model=to_model,
                reason=reason,
                error_type=event.get(semconv.ERROR_TYPE),
            )
        except Exception as exc:
            report_error(self._component, exc)

    def _on_end(self, duration: float) -> None:
        self.span.set_attributes(
            {semconv.ROUTE_ATTEMPTS: self._attempts, semconv.ROUTE_FALLBACKS: self._fallbacks}
        )
        attrs = dict(self._metric_attrs)
        if self._selected:
            attrs[semconv.ROUTE_SELECTED_MODEL] = self._selected
        if self._error_type is not None:
            attrs[semconv.ERROR_TYPE] = self._error_type
        RT.instruments.route_duration.record(duration, attrs, context=self._ctx)
        self._record_savings()

    def _record_savings(self) -> None:
        """When the served model differs from the requested one, price the same usage at
        the requested model: ``otel_llm.cost.savings`` (an estimate; negative = extra cost)."""
        served = self._last_attempt
        requested = self._requested
        if served is None or not requested or requested in (served.model, self._selected):
            return
        usage = usage_from_attributes(served.usage)
        if usage is None:
            return
        table = get_table()
        actual = table.cost(served.provider, served.response_model or served.model, usage)
        hypothetical = table.cost(served.provider, requested, usage)
        if actual is None or hypothetical is None:
            return
        savings = float(hypothetical.total - actual.total)
        self.span.set_attributes(
            {semconv.COST_SAVINGS_USD: savings, semconv.COST_SAVINGS_ESTIMATED: True}
        )
        RT.instruments.cost_savings.add(
            savings,
            {
                semconv.ROUTE_NAME: self._name,
                semconv.ROUTE_REQUESTED_MODEL: requested,
                semconv.ROUTE_SELECTED_MODEL: self._selected or served.model,
            },
            context=self._ctx,
        )


def route(
    name: str, candidates: Sequence[str] = (), *, requested_model: str | None = None
) -> Route:
    """Trace a routing decision (``route {name}``): call ``select()`` and ``fallback()``.

    Generations started inside the ``with`` block are recorded as its attempts.
    """
    if not RT.enabled:
        return NOOP  # type: ignore[return-value]
    return Route(name, candidates, requested_model)
