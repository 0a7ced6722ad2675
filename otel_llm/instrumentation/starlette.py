"""Starlette (and late FastAPI) apps: the official OpenTelemetry ASGI middleware, by route.

The contrib ``FastAPIInstrumentor`` replaces the ``fastapi.FastAPI`` class, so it misses
every app built from a class imported, or an app created, before ``configure()`` ran (the
usual ``from fastapi import FastAPI`` at the top of a module). Starlette builds an app's
middleware stack at its first request; this instrumentor hooks that one method (on
``Starlette`` and on ``FastAPI``, which overrides it) and, for an app not instrumented yet:

- a FastAPI app (when otel-llm instrumented FastAPI): ``FastAPIInstrumentor.instrument_app``;
- any other Starlette app: the contrib ASGI ``OpenTelemetryMiddleware`` outermost, with
  the matched route template as span name and ``http.route``.

An app that has already served a request keeps its stack; instrument before serving.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Collection
from typing import Any

import wrapt
from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)
from opentelemetry.instrumentation.utils import unwrap

from .._runtime import report_error
from ..semconv import HTTP_ROUTE

__all__ = ["ASGI_EXCLUDE_SPANS", "StarletteInstrumentor"]

_COMPONENT = "instrumentation.starlette"

_TARGETS = (("starlette.applications", "Starlette"), ("fastapi.applications", "FastAPI"))
"""Classes whose ``build_middleware_stack`` is hooked (FastAPI overrides Starlette's)."""

ASGI_EXCLUDE_SPANS: list[Any] = ["receive", "send"]
"""No span per ASGI message: a streamed LLM answer would get one per chunk."""


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


def _fastapi_instrumentor(app: Any) -> Any:
    """The contrib FastAPI instrumentor when ``app`` is a FastAPI app and it is on, else None."""
    module = sys.modules.get("opentelemetry.instrumentation.fastapi")
    # fastapi.applications keeps the original class: the contrib swaps fastapi.FastAPI.
    fastapi = sys.modules.get("fastapi.applications")
    if module is None or fastapi is None:
        return None
    if not isinstance(app, fastapi.FastAPI):
        return None
    instrumentor = module.FastAPIInstrumentor()
    return instrumentor if instrumentor.is_instrumented_by_opentelemetry else False


def _build_middleware_stack(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    if getattr(instance, "_is_instrumented_by_opentelemetry", False):
        return wrapped(*args, **kwargs)
    try:
        fastapi = _fastapi_instrumentor(instance)
        if fastapi is False:  # a FastAPI app, FastAPI instrumentation switched off
            return wrapped(*args, **kwargs)
        if fastapi is not None:
            fastapi.instrument_app(instance, exclude_spans=ASGI_EXCLUDE_SPANS)
            # instrument_app set an instance method that calls this hook's original.
            return instance.build_middleware_stack()
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

        middleware = OpenTelemetryMiddleware
        details = _route_details(instance)
    except Exception as exc:  # never break the application
        report_error(_COMPONENT, exc)
        return wrapped(*args, **kwargs)
    return middleware(
        wrapped(*args, **kwargs), default_span_details=details, exclude_spans=ASGI_EXCLUDE_SPANS
    )


class StarletteInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """HTTP server spans and ``http.server.request.duration`` for Starlette/FastAPI apps."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("starlette >= 0.40",)

    def _instrument(self, **kwargs: Any) -> None:
        for module, cls in _TARGETS:
            if importlib.util.find_spec(module.partition(".")[0]) is not None:
                wrapt.wrap_function_wrapper(
                    module, f"{cls}.build_middleware_stack", _build_middleware_stack
                )

    def _uninstrument(self, **kwargs: Any) -> None:
        for module, cls in _TARGETS:
            if module in sys.modules:
                unwrap(getattr(sys.modules[module], cls), "build_middleware_stack")
