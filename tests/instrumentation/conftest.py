"""Shared pieces of the instrumentation tests: recorded OpenAI payloads served at the transport.

The shared cassettes (``/work/shared/fixtures/openai-cassettes`` or ``OTEL_LLM_CASSETTES``)
were recorded against api.openai.com. ``Replay`` loads one and answers the SDK's requests
with the recorded status, content type and body (SSE bodies are the raw ``data:`` text), so
the real SDK parses real payloads; only the socket is fake (``MockTransport`` of the SDK's
own HTTP library: httpx for openai 2.x, httpx2 for 3.x).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

CASSETTES = Path(os.environ.get("OTEL_LLM_CASSETTES", "/work/shared/fixtures/openai-cassettes"))


@dataclass
class Recorded:
    """One recorded HTTP exchange."""

    method: str
    path: str
    status: int
    content_type: str
    body: bytes
    request_body: Any


def load_cassette(name: str) -> list[Recorded]:
    """The interactions of cassette ``name`` (without ``.yaml``)."""
    path = CASSETTES / f"{name}.yaml"
    if not path.exists():
        pytest.skip(f"cassette {path} not available")
    data = yaml.safe_load(path.read_text())
    interactions = []
    for item in data["interactions"]:
        request, response = item["request"], item["response"]
        headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
        content_type = headers.get("content-type", ["application/json"])
        if isinstance(content_type, list):
            content_type = content_type[0]
        body = request.get("body")
        interactions.append(
            Recorded(
                method=request["method"],
                path="/" + request["uri"].split("://", 1)[1].split("/", 1)[1],
                status=int(response["status"]["code"]),
                content_type=str(content_type),
                body=response["body"]["string"].encode(),
                request_body=json.loads(body) if body else None,
            )
        )
    return interactions


def openai_http() -> Any:
    """The HTTP library the installed openai SDK is built on: httpx2 (3.x) or httpx (2.x)."""
    import importlib

    import openai._base_client as base

    source = Path(base.__file__).read_text()
    return importlib.import_module("httpx2" if "\nimport httpx2" in source else "httpx")


@dataclass
class Replay:
    """A transport handler serving recorded responses in order; it keeps what was sent."""

    interactions: list[Recorded]
    requests: list[Any] = field(default_factory=list)

    def __call__(self, request: Any) -> Any:
        http = openai_http()
        assert self.interactions, f"unexpected extra request {request.method} {request.url}"
        recorded = self.interactions.pop(0)
        if recorded.path:
            assert (request.method, request.url.path) == (recorded.method, recorded.path)
        self.requests.append(json.loads(request.content) if request.content else None)
        return http.Response(
            recorded.status, headers={"content-type": recorded.content_type}, content=recorded.body
        )


def sse(*events: Any, done: bool = True) -> bytes:
    """An OpenAI-style SSE body: one ``data:`` line per event (dicts become JSON)."""
    lines = [f"data: {e if isinstance(e, str) else json.dumps(e)}\n\n" for e in events]
    if done:
        lines.append("data: [DONE]\n\n")
    return "".join(lines).encode()


def serve(status: int, body: bytes | dict[str, Any], content_type: str | None = None) -> Replay:
    """A one-response ``Replay`` built in the test (for payloads no cassette has)."""
    raw = json.dumps(body).encode() if isinstance(body, dict) else body
    kind = content_type or ("application/json" if isinstance(body, dict) else "text/event-stream")
    return Replay([Recorded("POST", "", status, kind, raw, None)])


def openai_client(handler: Callable[[Any], Any], *, asynchronous: bool = False) -> Any:
    """A real ``openai`` client whose HTTP goes to ``handler`` (no retries)."""
    import openai

    http = openai_http()
    transport = http.MockTransport(handler)
    if asynchronous:
        return openai.AsyncOpenAI(
            api_key="test_openai_api_key",
            base_url="https://api.openai.com/v1",
            http_client=http.AsyncClient(transport=transport),
            max_retries=0,
        )
    return openai.OpenAI(
        api_key="test_openai_api_key",
        base_url="https://api.openai.com/v1",
        http_client=http.Client(transport=transport),
        max_retries=0,
    )


def attrs(span: Any) -> dict[str, Any]:
    """A span's attributes as a plain dict (sequences as lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in (span.attributes or {}).items()}


@pytest.fixture
def instrument_openai() -> Iterator[Any]:
    """openai instrumented for one test; uninstrumented afterwards, always."""
    from otel_llm.instrumentation.openai import OpenAIInstrumentor

    inst = OpenAIInstrumentor()
    inst.instrument()
    try:
        yield inst
    finally:
        inst.uninstrument()


@pytest.fixture
def instrument_anthropic() -> Iterator[Any]:
    """anthropic instrumented for one test; uninstrumented afterwards, always."""
    from otel_llm.instrumentation.anthropic import AnthropicInstrumentor

    inst = AnthropicInstrumentor()
    inst.instrument()
    try:
        yield inst
    finally:
        inst.uninstrument()
