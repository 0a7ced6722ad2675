"""The traceresponse middlewares and the HTTP semconv opt-in, in-process."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import trace

import otel_llm
from otel_llm import semconv
from otel_llm._web import traceresponse
from otel_llm.testing import Capture
from tests.helpers import run_python

HEADER = semconv.TRACERESPONSE_HEADER


def _expected(span: trace.Span) -> str:
    ctx = span.get_span_context()
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


async def _asgi_call(app: Any, scope: dict[str, Any]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


async def _hello(scope: Any, receive: Any, send: Any) -> None:
    headers = [(b"content-type", b"text/plain"), (HEADER.encode(), b"stale")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"hi"})


async def test_asgi_header_names_the_active_span(otel_capture: Capture) -> None:
    """Inside a span the ASGI middleware sets one traceresponse naming that span."""
    app = otel_llm.TraceResponseMiddleware(_hello)
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("server") as span:
        sent = await _asgi_call(app, {"type": "http", "method": "GET", "path": "/"})
    headers = [(k, v) for k, v in sent[0]["headers"] if k == HEADER.encode()]
    assert headers == [(HEADER.encode(), _expected(span).encode())]
    assert sent[1]["body"] == b"hi"


async def test_asgi_without_span_or_http_adds_nothing(otel_capture: Capture) -> None:
    """No active span: the response passes unchanged; non-HTTP scopes are not touched."""
    app = otel_llm.TraceResponseMiddleware(_hello)
    sent = await _asgi_call(app, {"type": "http", "method": "GET", "path": "/"})
    assert (HEADER.encode(), b"stale") in sent[0]["headers"]
    with trace.get_tracer("test").start_as_current_span("server"):
        sent = await _asgi_call(app, {"type": "websocket", "path": "/"})
    assert (HEADER.encode(), b"stale") in sent[0]["headers"]


def test_wsgi_header_names_the_active_span(otel_capture: Capture) -> None:
    """The WSGI middleware replaces any traceresponse with the active span's."""
    seen: list[list[tuple[str, str]]] = []

    def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain"), (HEADER, "stale")])
        return [b"hi"]

    app = otel_llm.TraceResponseWSGIMiddleware(wsgi_app)
    with trace.get_tracer("test").start_as_current_span("server") as span:
        body = app({}, lambda status, headers, *exc: seen.append(headers))
    assert list(body) == [b"hi"]
    assert [v for k, v in seen[0] if k == HEADER] == [_expected(span)]
    app({}, lambda status, headers, *exc: seen.append(headers))
    assert [v for k, v in seen[1] if k == HEADER] == ["stale"], "no span, no new header"


def test_traceresponse_format(otel_capture: Capture) -> None:
    """traceresponse() is 00-<32 hex>-<16 hex>-<2 hex> and agrees with current_trace_id()."""
    assert traceresponse() is None
    with trace.get_tracer("test").start_as_current_span("server"):
        value = traceresponse()
        assert value is not None
        version, trace_id, span_id, flags = value.split("-")
        assert (version, len(trace_id), len(span_id), len(flags)) == ("00", 32, 16, 2)
        assert trace_id == otel_llm.current_trace_id()


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (None, "http"),
        ("gen_ai_latest_experimental", "gen_ai_latest_experimental,http"),
        ("http/dup", "http/dup"),
    ],
)
def test_configure_opts_in_to_stable_http_names(before: str | None, after: str) -> None:
    """configure() with a web framework adds `http` to the opt-in unless an http mode is set."""
    proc = run_python(
        """
        import os, otel_llm
        otel_llm.configure(traces_exporter="none", metrics_exporter="none",
                           logs_exporter="none", instrument=["starlette"])
        print(os.environ.get("OTEL_SEMCONV_STABILITY_OPT_IN"))
        """,
        env={semconv.ENV_SEMCONV_STABILITY_OPT_IN: before} if before else None,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == after


def test_mounted_starlette_app_is_one_request() -> None:
    """A Starlette app mounted in a FastAPI app: one server span, one duration point."""
    proc = run_python(
        """
        import asyncio, httpx, otel_llm
        from otel_llm.testing import install
        capture = install()
        otel_llm.configure(instrument=["fastapi", "starlette"], logging=False)
        from fastapi import FastAPI
        from starlette.applications import Starlette
        from starlette.responses import PlainTextResponse
        from starlette.routing import Route

        sub = Starlette(routes=[Route("/hello/{name}", lambda r: PlainTextResponse("hi"))])
        app = FastAPI()
        app.mount("/sub", sub)

        async def main():
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                assert (await client.get("/sub/hello/x")).status_code == 200

        asyncio.run(main())
        print("SPANS", sorted(s.name for s in capture.spans()))
        print("POINTS", capture.histogram_count("http.server.request.duration"))
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert "SPANS ['GET /sub']" in proc.stdout, proc.stdout
    assert "POINTS 1" in proc.stdout, proc.stdout
