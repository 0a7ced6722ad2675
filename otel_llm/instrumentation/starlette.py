"""Starlette apps: the official OpenTelemetry ASGI middleware, spans named by route.

``opentelemetry-instrumentation-starlette`` is published only in versions that pin an older
OpenTelemetry SDK than otel-llm needs, so otel-llm puts the contrib ASGI
``OpenTelemetryMiddleware`` (``opentelemetry-instrumentation-asgi``) around each Starlette
app itself. When (and if) the application imports Starlette, it hooks
``Starlette.build_middleware_stack``, which Starlette calls at an app's first request, so
apps created before ``configure()`` are covered too. The server span is named
``{method} {route template}`` and carries ``http.route``; the raw path never names it.
FastAPI overrides that method: FastAPI apps are the ``fastapi`` instrumentor's. A Starlette
app mounted in another instrumented app adds no second span or duration point.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)

from .._runtime import report_error
from ..semconv import HTTP_ROUTE
from ._sdk import Patcher
from .fastapi import ASGI_EXCLUDE_SPANS, ServerOnce

__all__ = ["StarletteInstrumentor"]

_COMPONENT = "instrumentation.starlette"


def _route_details(app: Any) -> Callable[[dict[str, Any]], tuple[str, dict[str, Any]]]:
    """Span name ``{method} {route template}`` and ``http.route``; the raw path never."""
    from starlette.routing import Match

    def details(scope: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        method = str(scope.get("method", "")) or "HTTP"
        for route in getattr(app, "routes", ()):
            match, _ = route.matches(scope)
            if match == Match.FULL and getattr(route, "path", None):
                return f"{method} {route.path}", {HTTP_ROUTE: route.path}
        return method, {}

    return details


def _build_middleware_stack(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    stack = wrapped(*args, **kwargs)
    if getattr(instance, "_is_instrumented_by_opentelemetry", False):
        return stack  # the app carries an OpenTelemetry middleware already
    try:
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

        traced = OpenTelemetryMiddleware(
            stack, default_span_details=_route_details(instance), exclude_spans=ASGI_EXCLUDE_SPANS
        )
        return ServerOnce(traced, stack)
    except Exception as exc:  # never break the application
        report_error(_COMPONENT, exc)
        return stack


_PATCHER = Patcher(
    "starlette",
    (("starlette.applications", "Starlette.build_middleware_stack", _build_middleware_stack),),
)


class StarletteInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """HTTP server spans and ``http.server.request.duration`` for Starlette apps."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("starlette >= 0.40",)

    def _instrument(self, **kwargs: Any) -> None:
        _PATCHER.install()

    def _uninstrument(self, **kwargs: Any) -> None:
        _PATCHER.remove()
