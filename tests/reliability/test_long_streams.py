"""Long streams: the memory a stream handle holds and the work per chunk do not grow with
the stream's length (no quadratic work).

Two levels:

- the real openai SDK over ``MockTransport`` through the instrumentor (10,000 chunks: the
  SDK's own parsing costs ~0.2 ms a chunk, so 100,000 would take half a minute);
- 100,000 real ``ChatCompletionChunk`` objects fed straight into the instrumentor's stream
  handle and chunk handler (``CheckedStream`` + ``CHAT.chunks``, exactly what the wrapper
  builds for ``stream=True``), so only otel-llm's per-chunk work is measured.

Memory is measured with tracemalloc (deterministic); the quadratic-work check compares the
CPU time per chunk of a 10,000- and a 100,000-chunk stream with a wide margin (a quadratic
path is ~10x slower per chunk at 100,000, a linear one ~1x).
"""

from __future__ import annotations

import itertools
import json
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

from otel_llm import _runtime
from otel_llm.instrumentation._sdk import CheckedStream
from otel_llm.instrumentation.anthropic import AnthropicInstrumentor
from otel_llm.instrumentation.openai import CHAT, OpenAIInstrumentor
from otel_llm.testing import Capture
from tests.instrumentation.conftest import openai_client, openai_http
from tests.reliability import _openai_payloads as payloads
from tests.reliability import test_hostile_anthropic as anthropic_cases
from tests.reliability.conftest import SSE, frame

pytestmark = pytest.mark.slow

BASE = {"id": "chatcmpl-long", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4"}
TEXT = {**BASE, "choices": [{"index": 0, "delta": {"content": "tok "}, "finish_reason": None}]}
CALL = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}
TOOL_START = {**BASE, "choices": [{"index": 0, "delta": {"tool_calls": [CALL]}}]}
ARGS = {
    **BASE,
    "choices": [
        {"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "abcdefgh"}}]}}
    ],
}
FINISH = {**BASE, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
USAGE = {
    **BASE,
    "choices": [],
    "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
}


@pytest.fixture(autouse=True)
def _instrumented(otel_capture: Capture) -> Iterator[None]:
    """openai instrumented for the test; uninstrumented afterwards."""
    inst = OpenAIInstrumentor()
    inst.instrument()
    yield
    inst.uninstrument()


def _sse(n: int) -> bytes:
    line = f"data: {json.dumps(TEXT)}\n\n"
    tail = f"data: {json.dumps(FINISH)}\n\ndata: {json.dumps(USAGE)}\n\ndata: [DONE]\n\n"
    return (line * n + tail).encode()


def _held_while_streaming(stream: Iterator[Any], marks: tuple[int, ...]) -> list[int]:
    """Traced memory (bytes) after consuming each mark's number of items; then drain."""
    held = []
    consumed = 0
    for mark in marks:
        for _ in itertools.islice(stream, mark - consumed):
            pass
        consumed = mark
        held.append(tracemalloc.get_traced_memory()[0])
    for _ in stream:
        pass
    return held


@pytest.mark.parametrize("capture", ["NO_CONTENT", "SPAN_ONLY"])
def test_sdk_stream_memory_is_flat_per_chunk(capture: str, otel_capture: Capture) -> None:
    """10,000 chunks through the real SDK: without content capture the stream holds no
    more memory at chunk 10,000 than at chunk 5,000; with it, growth is the kept text
    only (under 100 bytes a chunk)."""
    _runtime.RT.capture = capture  # type: ignore[assignment]
    body = _sse(10_000)
    http = openai_http()
    client = openai_client(
        lambda request: http.Response(
            200, headers={"content-type": "text/event-stream"}, content=body
        )
    )
    tracemalloc.start()
    try:
        stream = iter(client.chat.completions.create(model="gpt-4", messages=[], stream=True))
        at_1k, at_5k, at_10k = _held_while_streaming(stream, (1_000, 5_000, 10_000))
    finally:
        tracemalloc.stop()
        client.close()
    span = otel_capture.span("chat gpt-4")
    assert span.attributes["otel_llm.stream.chunks"] == 10_001
    assert at_10k - at_1k < 131_072 + (0 if capture == "NO_CONTENT" else 100 * 9_000), (
        at_10k - at_1k
    )
    if capture == "NO_CONTENT":
        assert at_10k - at_5k < 4_096, f"held {at_10k - at_5k} bytes more over 5,000 chunks"
    else:
        assert (at_10k - at_5k) / 5_000 < 100, f"{(at_10k - at_5k) / 5_000:.0f} bytes a chunk"


def _drive(n: int, *, tools: bool) -> tuple[float, list[int]]:
    """Feed ``n`` chunk objects to the instrumentor's stream handle; CPU seconds, memory."""
    import openai.types.chat as types

    text = types.ChatCompletionChunk.model_validate(ARGS if tools else TEXT)
    items = [types.ChatCompletionChunk.model_validate(TOOL_START)] if tools else []
    tail = [types.ChatCompletionChunk.model_validate(c) for c in (FINISH, USAGE)]
    kwargs = {"model": "gpt-4", "messages": [], "stream": True}
    gen = CheckedStream("gpt-4", "openai", "chat")
    handler = CHAT.chunks(kwargs)  # type: ignore[misc]
    gen.progress = handler
    proxy = gen.wrap(itertools.chain(items, itertools.repeat(text, n), tail), handler)
    started = time.process_time()
    held = _held_while_streaming(proxy, (1_000, 10_000, n))
    return time.process_time() - started, held


@pytest.mark.parametrize("capture", ["NO_CONTENT", "SPAN_ONLY"])
def test_100k_chunk_stream_holds_no_more_than_1k(capture: str, otel_capture: Capture) -> None:
    """100,000 chunks into the stream handle: without content capture it holds no more
    memory at chunk 100,000 than at chunk 10,000 (and at most the SDK's one-time histogram
    state more than at 1,000); with it, a list slot per chunk (the text is a shared string)."""
    _runtime.RT.capture = capture  # type: ignore[assignment]
    tracemalloc.start()
    try:
        _, (at_1k, at_10k, at_100k) = _drive(100_000, tools=False)
    finally:
        tracemalloc.stop()
    # The OTel SDK's histogram state for the per-chunk metric settles once, within the
    # first few thousand chunks (about 64 KiB, then flat up to 400,000 chunks measured).
    assert at_100k - at_1k < 131_072 + (0 if capture == "NO_CONTENT" else 16 * 99_000)
    growth = at_100k - at_10k
    if capture == "NO_CONTENT":
        assert growth < 4_096, f"held {growth} bytes more at 100k chunks than at 10k"
    else:
        assert growth / 90_000 < 16, f"{growth / 90_000:.1f} bytes a chunk"
    span = otel_capture.span("chat gpt-4")
    assert span.attributes["otel_llm.stream.chunks"] == 100_001


def _transient(stream: Iterator[Any], count: int) -> int:
    """Memory allocated in passing while handling the next ``count`` items, summed over
    them (per item: tracemalloc peak minus what was held before it). Work proportional to
    the history of the stream (copying accumulated text, sorting everything seen) makes
    this grow with the stream's position; a list's amortised growth barely moves it."""
    total = 0
    for _ in range(count):
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        next(stream)
        total += tracemalloc.get_traced_memory()[1] - before
    return total


@pytest.mark.parametrize("tools", [False, True], ids=["text", "tool-arguments"])
@pytest.mark.parametrize("capture", ["NO_CONTENT", "SPAN_ONLY"])
def test_work_per_chunk_does_not_grow_with_the_stream(
    capture: str, tools: bool, otel_capture: Capture
) -> None:
    """The memory 1,000 chunks' handling allocates in passing (deterministic, tracemalloc)
    is the same at chunk 100,000 as for the first 1,000: no per-chunk work that grows with
    what came before. (Tool-call arguments streamed in 100,000 pieces used to be assembled
    by string concatenation: chunk 100,000 copied all 800 kB before it, quadratic work.)"""
    import openai.types.chat as types

    _runtime.RT.capture = capture  # type: ignore[assignment]
    piece = types.ChatCompletionChunk.model_validate(ARGS if tools else TEXT)
    head = [types.ChatCompletionChunk.model_validate(TOOL_START)] if tools else []
    tail = [types.ChatCompletionChunk.model_validate(c) for c in (FINISH, USAGE)]
    gen = CheckedStream("gpt-4", "openai", "chat")
    handler = CHAT.chunks({"model": "gpt-4", "messages": [], "stream": True})  # type: ignore[misc]
    gen.progress = handler
    n = 100_000
    proxy = gen.wrap(itertools.chain(head, itertools.repeat(piece, n), tail), handler)
    tracemalloc.start()
    try:
        for _ in itertools.islice(proxy, len(head) + 10):  # first-chunk work (TTFT) aside
            pass
        early = _transient(proxy, 1_000)
        for _ in itertools.islice(proxy, n - 2_010):
            pass
        late = _transient(proxy, 1_000)
    finally:
        tracemalloc.stop()
    for _ in proxy:
        pass
    assert late <= early * 1.1 + 65_536, (
        f"1,000 chunks at 100k allocate {late} B, the first {early}"
    )
    span = otel_capture.span("chat gpt-4")
    assert span.attributes["otel_llm.stream.chunks"] == n + 1 + len(head)


def _openai_sse(first: dict[str, Any], piece: dict[str, Any], n: int) -> bytes:
    return frame([(None, first), *[(None, piece)] * n, (None, FINISH), (None, USAGE),
                  (None, "[DONE]")])  # fmt: skip


def _responses_sse(n: int) -> bytes:
    events = payloads.responses_stream()
    at = next(i for i, (name, _) in enumerate(events) if name == "response.output_text.delta")
    return frame([*events[:at], *[events[at]] * n, *events[at + 1 :]])


def _anthropic_sse(n: int) -> bytes:
    events = anthropic_cases._stream_events()
    at = next(i for i, (name, _) in enumerate(events) if name == "content_block_delta")
    return frame([*events[:at], *[events[at]] * n, *events[at + 1 :]])


SDK_STREAMS = {
    "openai-chat-text": (
        lambda n: _openai_sse(TEXT, TEXT, n),
        lambda c: c.chat.completions.create(model="gpt-4", messages=[], stream=True),
    ),
    "openai-chat-tool-arguments": (
        lambda n: _openai_sse(TOOL_START, ARGS, n),
        lambda c: c.chat.completions.create(model="gpt-4", messages=[], stream=True),
    ),
    "openai-responses": (
        _responses_sse,
        lambda c: c.responses.create(model="gpt-4o-mini", input="Say", stream=True),
    ),
    "anthropic-messages": (
        _anthropic_sse,
        lambda c: c.messages.create(**anthropic_cases.REQUEST, stream=True),
    ),
}


@pytest.mark.parametrize("name", sorted(SDK_STREAMS))
def test_sdk_stream_work_per_chunk_does_not_grow(name: str, otel_capture: Capture) -> None:
    """Every streaming instrumentor through its real SDK, content capture on, 3,000 deltas:
    what handling 500 events allocates in passing is the same at the end of the stream as
    at its start (tool arguments assembled by concatenation would copy 24 kB per event at
    the end)."""
    _runtime.RT.capture = "SPAN_ONLY"
    body, call = SDK_STREAMS[name]
    n = 3_000
    raw = body(n)
    if name.startswith("anthropic"):
        inst: Any = AnthropicInstrumentor()
        client = anthropic_cases._client(raw, 200, SSE, False)
    else:
        inst = OpenAIInstrumentor()  # already instrumented by the autouse fixture
        http = openai_http()
        client = openai_client(
            lambda request: http.Response(200, headers={"content-type": SSE}, content=raw)
        )
    inst.instrument()
    tracemalloc.start()
    try:
        stream = iter(call(client))
        for _ in itertools.islice(stream, 20):
            pass
        early = _transient(stream, 500)
        for _ in itertools.islice(stream, n - 1_040):
            pass
        late = _transient(stream, 500)
        for _ in stream:
            pass
    finally:
        tracemalloc.stop()
        client.close()
        if name.startswith("anthropic"):
            inst.uninstrument()
    assert late <= early * 1.1 + 65_536, f"500 events late allocate {late} B, early ones {early}"
    assert [s for s in otel_capture.spans() if s.instrumentation_scope.name == "otel_llm"]
