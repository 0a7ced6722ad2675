"""Hostile and odd provider responses behind a litellm ``Router``: same result or error.

A real local HTTP server answers each case with a hypothesis-built body (mutated chat
completions and chunk streams, broken bodies, HTTP error statuses); the Router calls it
through litellm's real openai provider path, uninstrumented then instrumented
(``conftest.Differential``). Requests to group ``main`` fall back to ``backup`` (a valid
answer); group ``solo`` has no fallback. Sync, sync streamed and async calls.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network at import

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otel_llm.instrumentation.litellm import LiteLLMInstrumentor
from tests.reliability import _openai_payloads as payloads
from tests.reliability.conftest import Differential, error, frame, hostile, odd, setup
from tests.reliability.test_hostile_openai import CHAT_EDITS, CHUNK_EDITS

litellm = pytest.importorskip("litellm")

pytestmark = pytest.mark.filterwarnings(
    # litellm's own types trip pydantic warnings; not ours to fix
    "ignore:Item .* is using the `ReadOnly` qualifier:UserWarning",
    "ignore::pydantic.warnings.PydanticDeprecatedSince211",
    "ignore::DeprecationWarning",
)
EXAMPLES = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
MESSAGES = [{"role": "user", "content": "Say this is a test"}]


class _Scripted(BaseHTTPRequestHandler):
    """``/s/...`` answers with the server's current script; ``/ok/...`` with a valid reply."""

    server: ScriptedServer

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
        if self.path.startswith("/ok/"):
            stream = bool(request.get("stream"))
            status, kind = 200, "text/event-stream" if stream else "application/json"
            body = frame(payloads.chat_stream()) if stream else json.dumps(payloads.chat()).encode()
        else:
            status, kind, body = self.server.script
        self.send_response(status)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class ScriptedServer(ThreadingHTTPServer):
    """A local OpenAI-compatible server whose ``/s`` answer each case sets."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Scripted)
        self.script: tuple[int, str, bytes] = (200, "application/json", b"{}")

    def url(self, prefix: str) -> str:
        """Base URL of ``/s`` (scripted) or ``/ok``."""
        return f"http://127.0.0.1:{self.server_address[1]}/{prefix}/v1"


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    """The scripted server, for this module."""
    srv = ScriptedServer()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


@pytest.fixture(scope="module")
def router(server: ScriptedServer) -> Any:
    """main (scripted) falls back to backup (valid); solo (scripted) has no fallback."""

    def deployment(group: str, prefix: str) -> dict[str, Any]:
        params = {
            "model": "openai/gpt-4o-mini",
            "api_key": "sk-test",
            "api_base": server.url(prefix),
        }
        return {"model_name": group, "litellm_params": {**params, "max_retries": 0}}

    return litellm.Router(
        model_list=[deployment("main", "s"), deployment("backup", "ok"), deployment("solo", "s")],
        fallbacks=[{"main": ["backup"]}],
        num_retries=0,
        disable_cooldowns=True,  # a failed case must not change the next run's routing
    )


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """One event loop for every async case (litellm caches clients per loop)."""
    loop = asyncio.new_event_loop()
    yield loop
    pending = asyncio.all_tasks(loop)  # litellm's background logging worker
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()


_GENERATED = re.compile(r"chatcmpl-[0-9a-f]{8}-[0-9a-f-]{27}|created=\d+|'created': \d+")


def _mask(value: Any) -> Any:
    """litellm invents an id and ``created`` when a payload lacks them: mask those."""
    return _GENERATED.sub("<generated>", repr(value))


def _case(router: Any, loop: asyncio.AbstractEventLoop, group: str, mode: str) -> Callable[[], Any]:
    def case() -> Any:
        try:
            if mode == "async":
                result = loop.run_until_complete(
                    router.acompletion(model=group, messages=MESSAGES, max_tokens=16)
                )
                return ("result", _mask(result))
            if mode == "stream":
                items: list[Any] = []
                try:
                    for chunk in router.completion(
                        model=group,
                        messages=MESSAGES,
                        stream=True,
                        stream_options={"include_usage": True},
                    ):
                        items.append(_mask(chunk))
                except Exception as exc:
                    items.append(error(exc))
                return items
            return ("result", _mask(router.completion(model=group, messages=MESSAGES)))
        except Exception as exc:
            return error(exc)

    return case


MODES = st.sampled_from(["sync", "async", "stream"])
GROUPS = st.sampled_from(["main", "solo"])


def _body(data: st.DataObject, mode: str, mutate: Callable[[Any], Any]) -> tuple[str, bytes]:
    if mode == "stream":
        events = [(n, mutate(e) if isinstance(e, dict) else e) for n, e in payloads.chat_stream()]
        return "text/event-stream", frame(events)
    return "application/json", json.dumps(mutate(payloads.chat())).encode()


@EXAMPLES
@given(data=st.data(), mode=MODES, group=GROUPS)
def test_odd_but_valid_answers(data: st.DataObject, mode: str, group: str, server: ScriptedServer,
                               router: Any, loop: asyncio.AbstractEventLoop,
                               differential: Callable[..., Differential]) -> None:  # fmt: skip
    """Missing usage, None fields, empty choices, unknown finish reasons behind the Router."""
    diff, _ = setup(data, differential, LiteLLMInstrumentor())
    edits = CHUNK_EDITS if mode == "stream" else CHAT_EDITS
    kind, body = _body(data, mode, lambda e: odd(data, e, edits))
    server.script = (200, kind, body)
    diff.check(_case(router, loop, group, mode), expect_no_errors=True)


@EXAMPLES
@given(data=st.data(), mode=MODES, group=GROUPS)
def test_hostile_answers(data: st.DataObject, mode: str, group: str, server: ScriptedServer,
                         router: Any, loop: asyncio.AbstractEventLoop,
                         differential: Callable[..., Differential]) -> None:  # fmt: skip
    """Values of unexpected types, cut bodies, non-UTF-8 bytes, error statuses."""
    diff, _ = setup(data, differential, LiteLLMInstrumentor())
    kind, body = _body(data, mode, lambda e: hostile(data, e))
    status = data.draw(st.sampled_from([200, 200, 200, 400, 401, 404, 429, 500, 503]))
    if data.draw(st.booleans(), label="cut?"):
        body = body[: data.draw(st.integers(0, len(body)), label="cut")]
    if data.draw(st.booleans(), label="garble?"):
        at = data.draw(st.integers(0, len(body)), label="at")
        body = body[:at] + b"\xff\xfe" + body[at:]
    server.script = (status, kind, body)
    diff.check(_case(router, loop, group, mode))
