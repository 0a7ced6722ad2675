"""FastAPI apps: the contrib ``FastAPIInstrumentor.instrument_app``, applied at first request.

The contrib ``FastAPIInstrumentor.instrument()`` replaces the ``fastapi.FastAPI`` class, so
it misses every app built from a class imported, or an app created, before it ran (the
usual ``from fastapi import FastAPI`` at the top of a module that calls ``configure()``
later), and importing it imports FastAPI. Instead, when (and if) the application imports
FastAPI, this instrumentor hooks ``FastAPI.build_middleware_stack``, which FastAPI calls at
an app's first request, and hands each app not instrumented yet to the contrib
``FastAPIInstrumentor.instrument_app``: the same server spans, route names and metrics, for
every app that has not served a request before ``configure()``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)

from .._runtime import report_error
from ._sdk import Patcher

__all__ = ["ASGI_EXCLUDE_SPANS", "FastAPIInstrumentor", "ServerOnce"]

_COMPONENT = "instrumentation.fastapi"

ASGI_EXCLUDE_SPANS: list[Any] = ["receive", "send"]
"""No span per ASGI message: a streamed LLM answer would get one per chunk."""

SERVED_KEY = "otel_llm.http_server"
"""ASGI scope key: an outer app already records this request's server span and duration."""


class ServerOnce:
    """ASGI app: ``app`` (traced) for the outermost instrumented app of a request, else ``plain``.

    A Starlette app mounted inside another instrumented app would otherwise add a second
    span and count the request twice in ``http.server.request.duration``. ``plain`` None:
    only mark the scope. The attribute is ``app`` because FastAPI looks for the contrib
    middleware along the ``.app`` chain to switch its own telemetry off.
    """

    def __init__(self, app: Any, plain: Any) -> None:
        self.app = app
        self.plain = plain

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get(SERVED_KEY) and self.plain is not None:
            await self.plain(scope, receive, send)
            return
        scope[SERVED_KEY] = True
        await self.app(scope, receive, send)


def _build_middleware_stack(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    if getattr(instance, "_is_instrumented_by_opentelemetry", False):
        return wrapped(*args, **kwargs)
    try:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor as Contrib

        Contrib.instrument_app(instance, exclude_spans=ASGI_EXCLUDE_SPANS)
    except Exception as exc:  # never break the application
        report_error(_COMPONENT, exc)
        return wrapped(*args, **kwargs)
    # instrument_app set an instance method that calls this hook's original.
    return ServerOnce(instance.build_middleware_stack(), None)


_PATCHER = Patcher(
    "fastapi",
    (("fastapi.applications", "FastAPI.build_middleware_stack", _build_middleware_stack),),
)


class FastAPIInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """HTTP server spans and ``http.server.request.duration`` for FastAPI apps."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("fastapi >= 0.92",)

    def _instrument(self, **kwargs: Any) -> None:
        _PATCHER.install()

    def _uninstrument(self, **kwargs: Any) -> None:
        _PATCHER.remove()
