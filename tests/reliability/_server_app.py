"""Tiny web apps for the worker-server tests: each request makes one chat call with the
real, instrumented ``openai`` SDK (answered at its transport with a recorded completion
whose id names the request) and returns the worker's pid and that id as JSON.

``wsgi`` runs under gunicorn, which configures otel-llm in its ``post_fork`` hook
(``_gunicorn_conf.py``); ``asgi`` runs under ``uvicorn --workers 2``, whose workers are
fresh interpreters that import this module, so it configures otel-llm at import when
``OTEL_LLM_TEST_CONFIGURE_AT_IMPORT`` is set.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

import otel_llm
from tests.instrumentation.conftest import openai_client, openai_http
from tests.reliability import _openai_payloads as payloads

MESSAGES = [{"role": "user", "content": "Say this is a test"}]
_RECORDED = payloads.chat()


def _answer(request: Any) -> Any:
    """The recorded chat completion, its id set to the request's ``n``."""
    body = dict(_RECORDED, id=f"chatcmpl-{request.headers['x-request-n']}")
    return openai_http().Response(200, json=body)


async def _aanswer(request: Any) -> Any:
    return _answer(request)


def configure() -> otel_llm.Telemetry:
    """What the app does once per worker process (settings from ``OTEL_*``)."""
    return otel_llm.configure(service_name="worker-test", instrument=["openai"])


def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """One chat call per request."""
    n = parse_qs(environ.get("QUERY_STRING", "")).get("n", ["0"])[0]
    with openai_client(_answer) as client:
        reply = client.chat.completions.create(
            model="gpt-4", messages=MESSAGES, extra_headers={"x-request-n": n}
        )
    body = json.dumps({"pid": os.getpid(), "id": reply.id}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def asgi(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """The async counterpart of :func:`wsgi`; flushes telemetry at lifespan shutdown
    (uvicorn re-raises the SIGTERM it handled once it has shut down, so its worker dies
    of the signal and ``atexit`` never runs)."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            kind = message["type"].removeprefix("lifespan.")
            if kind == "shutdown":
                otel_llm.shutdown()
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
    n = parse_qs(scope.get("query_string", b"").decode()).get("n", ["0"])[0]
    async with openai_client(_aanswer, asynchronous=True) as client:
        reply = await client.chat.completions.create(
            model="gpt-4", messages=MESSAGES, extra_headers={"x-request-n": n}
        )
    body = json.dumps({"pid": os.getpid(), "id": reply.id}).encode()
    await send(
        {"type": "http.response.start", "status": 200,
         "headers": [(b"content-type", b"application/json")]}
    )  # fmt: skip
    await send({"type": "http.response.body", "body": body})


if os.environ.get("OTEL_LLM_TEST_CONFIGURE_AT_IMPORT"):
    configure()
