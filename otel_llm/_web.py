"""Web integration: HTTP semconv opt-in and the W3C ``traceresponse`` header middlewares.

The HTTP server spans and the ``http.server.request.duration`` metric come from the official
OpenTelemetry ASGI/FastAPI/WSGI instrumentations, which ``configure()`` turns on (see
``otel_llm.instrumentation``). This module adds what a support team needs on top: the
response header that tells a user which trace served their request, so a bug report can be
found in Jaeger (W3C Trace Context Level 2, ``traceresponse``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from opentelemetry import trace

from ._runtime import report_error
from .semconv import ENV_SEMCONV_STABILITY_OPT_IN, TRACERESPONSE_HEADER

__all__ = [
    "TraceResponseMiddleware",
    "TraceResponseWSGIMiddleware",
    "opt_in_http_semconv",
    "traceresponse",
]

_log = logging.getLogger("otel_llm")
_COMPONENT = "web.traceresponse"
_HEADER = TRACERESPONSE_HEADER.encode("latin-1")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def opt_in_http_semconv() -> bool:
    """Add ``http`` to ``OTEL_SEMCONV_STABILITY_OPT_IN`` unless an ``http`` mode is chosen.

    The contrib instrumentations read the variable ONCE per process, at the first
    instrumentor's ``instrument()``; only then do they emit the stable HTTP names
    (``http.server.request.duration`` in seconds, ``http.request.method``, ...) instead of
    the old ``http.server.duration`` in milliseconds. Returns False when it is too late:
    some instrumentor already read the variable without ``http``.
    """
    from opentelemetry.instrumentation._semconv import (
        _OpenTelemetrySemanticConventionStability as Stability,
    )

    raw = os.environ.get(ENV_SEMCONV_STABILITY_OPT_IN, "")
    modes = [part.strip() for part in raw.split(",") if part.strip()]
    if any(mode in ("http", "http/dup") for mode in modes):
        return True
    if Stability._initialized:
        _log.debug(
            "otel-llm: %s was read before configure(); HTTP telemetry keeps the old names",
            ENV_SEMCONV_STABILITY_OPT_IN,
        )
        return False
    os.environ[ENV_SEMCONV_STABILITY_OPT_IN] = ",".join([*modes, "http"])
    return True


def traceresponse() -> str | None:
    """The ``traceresponse`` value of the active span, ``00-<trace>-<span>-<flags>``, or None."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


class TraceResponseMiddleware:
    """Pure ASGI middleware adding the W3C ``traceresponse`` header to HTTP responses.

    Works with any ASGI framework; with Starlette/FastAPI use
    ``app.add_middleware(TraceResponseMiddleware)``. It runs inside the HTTP server span
    of the OpenTelemetry ASGI middleware, so the header names that span (its trace id is
    what Jaeger searches by). A response without an active span gets no header.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message.get("type") == "http.response.start":
                try:
                    value = traceresponse()
                    if value is not None:
                        headers = [
                            (k, v) for k, v in message.get("headers", ()) if k.lower() != _HEADER
                        ]
                        headers.append((_HEADER, value.encode("latin-1")))
                        message["headers"] = headers
                except Exception as exc:  # never break the response
                    report_error(_COMPONENT, exc)
            await send(message)

        await self.app(scope, receive, send_with_header)


class TraceResponseWSGIMiddleware:
    """WSGI middleware adding the W3C ``traceresponse`` header (Flask: wrap ``app.wsgi_app``).

    ``app.wsgi_app = TraceResponseWSGIMiddleware(app.wsgi_app)``: the OpenTelemetry WSGI
    middleware that ``configure()`` puts around a Flask app calls ``wsgi_app`` inside the
    HTTP server span, so the header names that span.
    """

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        def start_with_header(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            try:
                value = traceresponse()
                if value is not None:
                    headers = [(k, v) for k, v in headers if k.lower() != TRACERESPONSE_HEADER]
                    headers.append((TRACERESPONSE_HEADER, value))
            except Exception as exc:  # never break the response
                report_error(_COMPONENT, exc)
            return start_response(status, headers, *exc_info)

        return self.app(environ, start_with_header)
