"""Flask apps: the official OpenTelemetry WSGI middleware around every app, by route.

The contrib ``opentelemetry-instrumentation-flask`` is published only in versions that pin
an older OpenTelemetry SDK than otel-llm needs, so otel-llm puts the contrib WSGI
``OpenTelemetryMiddleware`` (``opentelemetry-instrumentation-wsgi``) around each Flask app
itself. When (and if) the application imports Flask, it hooks ``Flask.__call__`` on the
class, so apps created before ``configure()`` are covered too, from their next request on.
Flask's ``request_started`` signal names the server span ``{method} {url rule}`` and sets
``http.route``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)

from .._runtime import report_error
from ..semconv import HTTP_ROUTE
from ._sdk import Patcher

__all__ = ["FlaskInstrumentor"]

_COMPONENT = "instrumentation.flask"
_ATTR = "_otel_llm_wsgi"


def _name_span(sender: Any, **extra: Any) -> None:
    """``request_started`` receiver: the server span gets the matched url rule."""
    try:
        from flask import request

        rule = request.url_rule
        span = trace.get_current_span()
        if rule is not None and span.is_recording():
            span.update_name(f"{request.method} {rule.rule}")
            span.set_attribute(HTTP_ROUTE, rule.rule)
    except Exception as exc:
        report_error(_COMPONENT, exc)


def _middleware(app: Any) -> Callable[..., Iterable[bytes]]:
    from flask import request_started
    from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware

    def inner(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        # Looked up per request, so a wsgi_app wrapped later (ProxyFix, ...) still runs.
        result: Iterable[bytes] = app.wsgi_app(environ, start_response)
        return result

    request_started.connect(_name_span, app, weak=False)
    middleware: Callable[..., Iterable[bytes]] = OpenTelemetryMiddleware(inner)
    return middleware


def _call(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    middleware = instance.__dict__.get(_ATTR)
    if middleware is None:
        try:
            middleware = _middleware(instance)
            setattr(instance, _ATTR, middleware)
        except Exception as exc:  # never break the application
            report_error(_COMPONENT, exc)
            return wrapped(*args, **kwargs)
    return middleware(*args, **kwargs)


_PATCHER = Patcher("flask", (("flask.app", "Flask.__call__", _call),))


class FlaskInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """HTTP server spans and ``http.server.request.duration`` for Flask apps."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("flask >= 2.2",)

    def _instrument(self, **kwargs: Any) -> None:
        _PATCHER.install()

    def _uninstrument(self, **kwargs: Any) -> None:
        _PATCHER.remove()
