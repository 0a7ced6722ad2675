"""The web service the tests/web suite calls over real HTTP: ``python -m tests.web._server``.

Usage: ``python -m tests.web._server KIND ENDPOINT [late|early|auto]``. KIND is
``fastapi``, ``starlette`` or ``flask``; ``early`` builds the app (and imports its class)
BEFORE ``otel_llm.configure()``, as an app module that configures late does; ``auto`` calls
no ``configure()`` (the process runs under ``otel-llm run``). ``configure()``
instruments what ``OTEL_LLM_INSTRUMENT`` selects. The service exports
over OTLP/HTTP to ENDPOINT, serves on a free 127.0.0.1 port (printed as ``PORT <n>``) with
uvicorn (ASGI) or werkzeug's WSGI server, and flushes its telemetry when SIGTERM stops it.

``POST /chat/{conversation_id}`` runs a tool-calling turn through the real openai SDK whose
HTTP is a recorded OpenAI exchange served at the transport: a route, a generation asking for
two tool calls, one ``execute_tool`` span per call, and the final generation. It answers the
trace id ``otel_llm.current_trace_id()`` saw inside the handler.
"""

from __future__ import annotations

import json
import signal
import sys
from typing import Any

from tests.instrumentation.conftest import Replay, load_cassette, openai_client

CASSETTE = "test_async_chat_completion_tool_calls_no_content"


def _tool_result(name: str, arguments: str) -> str:
    return json.dumps({"tool": name, "location": json.loads(arguments)["location"], "temp_c": 14})


async def chat_turn(conversation_id: str) -> dict[str, Any]:
    """One tool-calling turn; returns what the handler saw."""
    import otel_llm

    recorded = load_cassette(CASSETTE)
    first, second = (item.request_body for item in recorded)
    client = openai_client(Replay(recorded), asynchronous=True)
    with otel_llm.attributes(conversation_id=conversation_id):
        with otel_llm.route("web-router", candidates=["gpt-4o-mini"]) as router:
            response = await client.chat.completions.create(**first)
            for call in response.choices[0].message.tool_calls or []:
                with otel_llm.tool(call.function.name, call_id=call.id):
                    _tool_result(call.function.name, call.function.arguments)
            final = await client.chat.completions.create(**second)
            router.select(final.model, reason="primary")
            trace_id = otel_llm.current_trace_id()
    await client.close()
    return {"trace_id": trace_id, "answer": final.choices[0].message.content}


def sync_chat_turn(conversation_id: str) -> dict[str, Any]:
    """The same turn for a WSGI app (one event loop per request)."""
    import asyncio

    return asyncio.run(chat_turn(conversation_id))


def build(kind: str) -> Any:
    """The app of ``kind`` with its ``/chat/{conversation_id}`` route and traceresponse."""
    import otel_llm

    if kind == "fastapi":
        from fastapi import FastAPI

        api = FastAPI()
        api.add_middleware(otel_llm.TraceResponseMiddleware)

        @api.post("/chat/{conversation_id}")
        async def chat(conversation_id: str) -> dict[str, Any]:
            return await chat_turn(conversation_id)

        return api
    if kind == "starlette":
        from starlette.applications import Starlette
        from starlette.middleware import Middleware
        from starlette.requests import Request
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        async def endpoint(request: Request) -> JSONResponse:
            return JSONResponse(await chat_turn(request.path_params["conversation_id"]))

        return Starlette(
            routes=[Route("/chat/{conversation_id}", endpoint, methods=["POST"])],
            middleware=[Middleware(otel_llm.TraceResponseMiddleware)],
        )
    from flask import Flask, jsonify

    flask_app = Flask("web-test")
    flask_app.wsgi_app = otel_llm.TraceResponseWSGIMiddleware(flask_app.wsgi_app)  # type: ignore[method-assign]

    @flask_app.post("/chat/<conversation_id>")
    def flask_chat(conversation_id: str) -> Any:
        return jsonify(sync_chat_turn(conversation_id))

    return flask_app


def main(kind: str, endpoint: str, mode: str) -> None:
    import otel_llm

    app = build(kind) if mode == "early" else None
    if mode != "auto":  # "auto": started by otel-llm run / opentelemetry-instrument
        otel_llm.configure(
            service_name=f"web-{kind}",
            traces_exporter="otlp",
            metrics_exporter="otlp",
            logs_exporter="none",
            otlp_protocol="http/protobuf",
            otlp_endpoint=endpoint,
        )
    app = app or build(kind)
    import threading

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if kind == "flask":
        from werkzeug.serving import make_server

        wsgi = make_server("127.0.0.1", 0, app, threaded=True)
        wsgi.daemon_threads = False  # server_close() waits for requests still finishing
        thread = threading.Thread(target=wsgi.serve_forever)
        thread.start()
        print(f"PORT {wsgi.port}", flush=True)
        stop.wait()
        wsgi.shutdown()
        wsgi.server_close()
    else:
        import socket

        import uvicorn

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)  # connections wait in the backlog until uvicorn accepts them
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        # Off the main thread uvicorn installs no signal handlers: SIGTERM stops it here.
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]})
        thread.start()
        print(f"PORT {sock.getsockname()[1]}", flush=True)
        stop.wait()
        server.should_exit = True
    thread.join()
    otel_llm.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "late")
