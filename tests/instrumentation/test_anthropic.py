"""anthropic instrumentation against the real SDK with Messages API payloads at the transport."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import anthropic._base_client
import pytest
from opentelemetry.trace import SpanKind, StatusCode

import otel_llm
from otel_llm import _runtime
from otel_llm.instrumentation.anthropic import AnthropicInstrumentor
from otel_llm.testing import Capture
from tests.instrumentation.conftest import attrs

pytestmark = pytest.mark.usefixtures("instrument_anthropic")


def _http() -> Any:
    """The SDK's HTTP library: httpx2 for anthropic >= 1, httpx before."""
    import importlib
    from pathlib import Path

    source = Path(anthropic._base_client.__file__).read_text()
    return importlib.import_module("httpx2" if "\nimport httpx2" in source else "httpx")


HTTP = _http()
SDK_TRACES = hasattr(anthropic._base_client.BaseClient, "_set_open_telemetry")
needs_sdk_tracing = pytest.mark.skipif(not SDK_TRACES, reason="this anthropic has no own spans")

MODEL = "claude-haiku-4-5"
SERVED = "claude-haiku-4-5-20251001"
MESSAGES = [{"role": "user", "content": "Say this is a test"}]
MESSAGE = {
    "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
    "type": "message",
    "role": "assistant",
    "model": SERVED,
    "content": [{"type": "text", "text": "This is a test."}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 12,
        "output_tokens": 7,
        "cache_read_input_tokens": 1024,
        "cache_creation_input_tokens": 200,
    },
}


def events(*pairs: tuple[str, dict[str, Any]]) -> bytes:
    """An Anthropic SSE body: ``event: <type>`` + ``data: <json>`` per event."""
    return "".join(f"event: {kind}\ndata: {json.dumps(data)}\n\n" for kind, data in pairs).encode()


def stream_body(text: list[str], *, stop: str = "end_turn") -> bytes:
    """A realistic streamed message: start, one text block in ``text`` deltas, delta, stop."""
    start = {
        **MESSAGE,
        "content": [],
        "stop_reason": None,
        "usage": {
            "input_tokens": 12,
            "output_tokens": 1,
            "cache_read_input_tokens": 1024,
            "cache_creation_input_tokens": 0,
        },
    }
    pairs: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": start}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        ("ping", {"type": "ping"}),
    ]
    for piece in text:
        delta = {"type": "text_delta", "text": piece}
        pairs.append(
            ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
        )
    pairs += [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": 9},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return events(*pairs)


class Server:
    """A transport handler answering every request with one response; keeps the requests."""

    def __init__(self, status: int, body: bytes | dict[str, Any]) -> None:
        self.status = status
        self.body = body
        self.requests: list[Any] = []

    def __call__(self, request: Any) -> Any:
        self.requests.append(request)
        if isinstance(self.body, dict):
            return HTTP.Response(self.status, json=self.body)
        return HTTP.Response(
            self.status, headers={"content-type": "text/event-stream"}, content=self.body
        )


def client(handler: Callable[[Any], Any], *, asynchronous: bool = False) -> Any:
    """A real anthropic client over the ``MockTransport`` of the SDK's HTTP library."""
    transport = HTTP.MockTransport(handler)
    if asynchronous:
        return anthropic.AsyncAnthropic(
            api_key="sk-ant-test",
            base_url="https://api.anthropic.com",
            http_client=HTTP.AsyncClient(transport=transport),
            max_retries=0,
        )
    return anthropic.Anthropic(
        api_key="sk-ant-test",
        base_url="https://api.anthropic.com",
        http_client=HTTP.Client(transport=transport),
        max_retries=0,
    )


BASE = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "anthropic",
    "gen_ai.request.model": MODEL,
    "server.address": "api.anthropic.com",
    "server.port": 443,
    "gen_ai.request.max_tokens": 256,
}


@pytest.fixture
def uninstrumented() -> Iterator[Callable[[Callable[[], Any]], Any]]:
    """Run a call with anthropic uninstrumented (the reference result)."""

    def run(call: Callable[[], Any]) -> Any:
        inst = AnthropicInstrumentor()
        inst.uninstrument()
        try:
            return call()
        finally:
            inst.instrument()

    yield run


def _no_cost(span: Any) -> dict[str, Any]:
    a = attrs(span)
    a.pop("otel_llm.cost.usd", None)  # priced by the engine; its table is tested elsewhere
    return a


def test_create_span_usage_and_metrics(otel_capture: Capture, uninstrumented: Any) -> None:
    """messages.create: one span; input tokens include cache reads and writes; metrics."""
    result = client(Server(200, MESSAGE)).messages.create(
        model=MODEL, max_tokens=256, messages=MESSAGES, stop_sequences=["END"]
    )
    expected = uninstrumented(
        lambda: client(Server(200, MESSAGE)).messages.create(
            model=MODEL, max_tokens=256, messages=MESSAGES, stop_sequences=["END"]
        )
    )
    assert result.model_dump() == expected.model_dump()
    (span,) = [s for s in otel_capture.spans() if s.instrumentation_scope.name == "otel_llm"]
    assert span.name == f"chat {MODEL}"
    assert span.kind == SpanKind.CLIENT
    assert _no_cost(span) == {
        **BASE,
        "gen_ai.request.stop_sequences": ["END"],
        "gen_ai.response.model": SERVED,
        "gen_ai.response.id": MESSAGE["id"],
        "gen_ai.response.finish_reasons": ["end_turn"],
        "gen_ai.usage.input_tokens": 12 + 1024 + 200,
        "gen_ai.usage.output_tokens": 7,
        "gen_ai.usage.cache_read.input_tokens": 1024,
        "gen_ai.usage.cache_creation.input_tokens": 200,
    }
    assert otel_capture.metric_sum("gen_ai.client.token.usage", gen_ai_token_type="input") == 1236
    assert otel_capture.metric_sum("gen_ai.client.token.usage", gen_ai_token_type="output") == 7
    (duration,) = otel_capture.metric_points("gen_ai.client.operation.duration")
    assert duration.attributes["gen_ai.response.model"] == SERVED


@needs_sdk_tracing
def test_sdk_own_span_is_suppressed_and_restored(otel_capture: Capture) -> None:
    """The SDK's own anthropic.messages.create span: off while instrumented, back afterwards."""
    sdk = client(Server(200, MESSAGE))
    sdk.messages.create(model=MODEL, max_tokens=256, messages=MESSAGES)
    assert [s.name for s in otel_capture.spans()] == [f"chat {MODEL}"]
    otel_capture.clear()
    inst = AnthropicInstrumentor()
    inst.uninstrument()
    try:
        sdk.messages.create(model=MODEL, max_tokens=256, messages=MESSAGES)
        assert [s.name for s in otel_capture.spans()] == ["anthropic.messages.create"]
    finally:
        inst.instrument()


@needs_sdk_tracing
def test_sdk_spans_keep_nests_them(otel_capture: Capture) -> None:
    """sdk_spans="keep": the SDK's span stays, as a child of the otel-llm generation."""
    inst = AnthropicInstrumentor()
    inst.uninstrument()
    inst.instrument(sdk_spans="keep")
    client(Server(200, MESSAGE)).messages.create(model=MODEL, max_tokens=256, messages=MESSAGES)
    ours = otel_capture.span(f"chat {MODEL}")
    (child,) = otel_capture.children(ours)
    assert child.name == "anthropic.messages.create"
    # tokens are still counted once: the SDK span records no metrics
    assert otel_capture.metric_sum("gen_ai.client.token.usage", gen_ai_token_type="output") == 7


def test_create_stream(otel_capture: Capture) -> None:
    """create(stream=True): deltas are chunks; usage from message_start + message_delta."""
    stream = client(Server(200, stream_body(["This", " is", " a test."]))).messages.create(
        model=MODEL, max_tokens=256, messages=MESSAGES, stream=True
    )
    kinds = [event.type for event in stream]
    assert kinds == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    span = otel_capture.span(f"chat {MODEL}")
    a = _no_cost(span)
    assert a.pop("gen_ai.response.time_to_first_chunk") > 0
    assert a.pop("otel_llm.stream.tokens_per_second") > 0
    assert a == {
        **BASE,
        "gen_ai.request.stream": True,
        "gen_ai.response.model": SERVED,
        "gen_ai.response.id": MESSAGE["id"],
        "gen_ai.response.finish_reasons": ["end_turn"],
        "gen_ai.usage.input_tokens": 12 + 1024,
        "gen_ai.usage.output_tokens": 9,
        "gen_ai.usage.cache_read.input_tokens": 1024,
        "otel_llm.stream.chunks": 3,
    }
    assert otel_capture.histogram_count("gen_ai.client.operation.time_per_output_chunk") == 2
    assert otel_capture.metric_sum("gen_ai.client.token.usage", gen_ai_token_type="output") == 9
    assert otel_capture.metric_sum("otel_llm.stream.active") == 0


def test_stream_helper(otel_capture: Capture) -> None:
    """messages.stream(): text_stream and the final message work; the span ends OK."""
    sdk = client(Server(200, stream_body(["Hello", " there"], stop="max_tokens")))
    with sdk.messages.stream(model=MODEL, max_tokens=256, messages=MESSAGES) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Hello there"
    assert final.usage.output_tokens == 9
    span = otel_capture.span(f"chat {MODEL}")
    assert span.status.status_code == StatusCode.UNSET
    a = attrs(span)
    assert a["gen_ai.response.finish_reasons"] == ["max_tokens"]
    assert a["otel_llm.stream.chunks"] == 2
    assert a["gen_ai.usage.output_tokens"] == 9


def test_stream_helper_left_early_is_cancelled(otel_capture: Capture) -> None:
    """Leaving messages.stream() before the end: the span ends at exit as cancelled."""
    sdk = client(Server(200, stream_body(["a", "b", "c"])))
    with sdk.messages.stream(model=MODEL, max_tokens=256, messages=MESSAGES) as stream:
        for _text in stream.text_stream:
            break
        assert otel_capture.spans() == []
    span = otel_capture.span(f"chat {MODEL}")
    assert span.status.status_code == StatusCode.ERROR
    assert attrs(span)["error.type"] == "cancelled"


async def test_async_create_and_stream_helper(otel_capture: Capture) -> None:
    """AsyncAnthropic: create and the async messages.stream() helper, one span each."""
    sdk = client(Server(200, MESSAGE), asynchronous=True)
    await sdk.messages.create(model=MODEL, max_tokens=256, messages=MESSAGES)
    streaming = client(Server(200, stream_body(["x", "y"])), asynchronous=True)
    async with streaming.messages.stream(model=MODEL, max_tokens=256, messages=MESSAGES) as s:
        text = "".join([t async for t in s.text_stream])
    assert text == "xy"
    first, second = otel_capture.spans(f"chat {MODEL}")
    assert "gen_ai.request.stream" not in attrs(first)
    assert attrs(first)["gen_ai.usage.output_tokens"] == 7
    assert attrs(second)["gen_ai.request.stream"] is True
    assert attrs(second)["gen_ai.usage.output_tokens"] == 9
    assert attrs(second)["otel_llm.stream.chunks"] == 2


async def test_async_create_stream(otel_capture: Capture) -> None:
    """AsyncAnthropic create(stream=True) goes through the async proxy."""
    sdk = client(Server(200, stream_body(["x"])), asynchronous=True)
    stream = await sdk.messages.create(model=MODEL, max_tokens=256, messages=MESSAGES, stream=True)
    assert [e.type async for e in stream][-1] == "message_stop"
    assert attrs(otel_capture.span(f"chat {MODEL}"))["gen_ai.response.finish_reasons"] == [
        "end_turn"
    ]


@pytest.mark.parametrize(
    ("status", "kind", "exc_type"),
    [
        (429, "rate_limit_error", anthropic.RateLimitError),
        (500, "api_error", anthropic.InternalServerError),
        (
            529,
            "overloaded_error",
            getattr(anthropic, "OverloadedError", anthropic.InternalServerError),
        ),
    ],
)
def test_http_errors(otel_capture: Capture, status: int, kind: str, exc_type: type) -> None:
    """HTTP errors: the SDK's exception passes unchanged; error.type is its class name."""
    body = {"type": "error", "error": {"type": kind, "message": "nope"}}
    with pytest.raises(exc_type):
        client(Server(status, body)).messages.create(model=MODEL, max_tokens=256, messages=MESSAGES)
    span = otel_capture.span(f"chat {MODEL}")
    assert span.status.status_code == StatusCode.ERROR
    assert attrs(span)["error.type"] == exc_type.__name__
    (point,) = otel_capture.metric_points("gen_ai.client.operation.duration")
    assert point.attributes["error.type"] == exc_type.__name__


@pytest.mark.parametrize(
    ("raised", "exc_type"),
    [
        (HTTP.ReadTimeout("timed out"), anthropic.APITimeoutError),
        (HTTP.ConnectError("refused"), anthropic.APIConnectionError),
    ],
)
def test_transport_failures(otel_capture: Capture, raised: Exception, exc_type: type) -> None:
    """Timeouts and connection errors become error.type = the SDK's exception class."""

    def fail(request: Any) -> Any:
        raise raised

    with pytest.raises(exc_type):
        client(fail).messages.create(model=MODEL, max_tokens=256, messages=MESSAGES)
    assert attrs(otel_capture.span(f"chat {MODEL}"))["error.type"] == exc_type.__name__


def test_error_event_mid_stream(otel_capture: Capture) -> None:
    """An ``error`` SSE event after some text: the SDK raises; the span records that error."""
    body = stream_body(["partial"])
    body = body[: body.index(b"event: content_block_stop")] + events(
        ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    )
    stream = client(Server(200, body)).messages.create(
        model=MODEL, max_tokens=256, messages=MESSAGES, stream=True
    )
    with pytest.raises(anthropic.APIStatusError) as info:
        list(stream)
    span = otel_capture.span(f"chat {MODEL}")
    assert span.status.status_code == StatusCode.ERROR
    a = attrs(span)
    assert a["error.type"] == type(info.value).__name__
    assert a["gen_ai.response.finish_reasons"] == ["error"]
    assert a["otel_llm.stream.chunks"] == 1


def test_truncated_stream_is_incomplete(otel_capture: Capture) -> None:
    """A stream body that stops before message_delta/message_stop: incomplete_stream."""
    body = stream_body(["partial"])
    body = body[: body.index(b"event: content_block_stop")]
    stream = client(Server(200, body)).messages.create(
        model=MODEL, max_tokens=256, messages=MESSAGES, stream=True
    )
    assert [e.type for e in stream][-1] == "content_block_delta"
    span = otel_capture.span(f"chat {MODEL}")
    assert span.status.status_code == StatusCode.ERROR
    assert attrs(span)["error.type"] == "incomplete_stream"
    assert attrs(span)["gen_ai.usage.input_tokens"] == 12 + 1024  # from message_start


def test_with_raw_response(otel_capture: Capture) -> None:
    """messages.with_raw_response.create: the caller gets the raw response; usage is recorded."""
    raw = client(Server(200, MESSAGE)).messages.with_raw_response.create(
        model=MODEL, max_tokens=256, messages=MESSAGES
    )
    assert raw.parse().content[0].text == "This is a test."
    a = attrs(otel_capture.span(f"chat {MODEL}"))
    assert a["gen_ai.usage.output_tokens"] == 7
    assert a["gen_ai.response.id"] == MESSAGE["id"]


def test_content_capture(otel_capture: Capture) -> None:
    """SPAN_ONLY: system + user messages in, the assistant text out, semconv JSON shape."""
    _runtime.RT.capture = "SPAN_ONLY"
    client(Server(200, MESSAGE)).messages.create(
        model=MODEL, max_tokens=256, system="Be brief.", messages=MESSAGES
    )
    a = attrs(otel_capture.span(f"chat {MODEL}"))
    assert json.loads(a["gen_ai.input.messages"]) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Say this is a test"}]},
    ]
    assert json.loads(a["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "This is a test."}],
            "finish_reason": "end_turn",
        }
    ]


def test_user_generation_around_call_counts_once(otel_capture: Capture) -> None:
    """A user's otel_llm.generation around an instrumented call records tokens once."""
    with otel_llm.generation(model=MODEL, provider="anthropic") as outer:
        client(Server(200, MESSAGE)).messages.create(model=MODEL, max_tokens=256, messages=MESSAGES)
        outer.set_response(input_tokens=1236, output_tokens=7)
    assert len(otel_capture.spans(f"chat {MODEL}")) == 2
    assert otel_capture.metric_sum("gen_ai.client.token.usage", gen_ai_token_type="output") == 7
    assert otel_capture.histogram_count("gen_ai.client.operation.duration") == 1


def test_uninstrument_restores_methods() -> None:
    """uninstrument() puts the SDK's own methods back."""
    import wrapt
    from anthropic.resources.messages import AsyncMessages, Messages

    inst = AnthropicInstrumentor()
    names = ("create", "stream", "parse")
    assert all(isinstance(Messages.__dict__[n], wrapt.FunctionWrapper) for n in names)
    inst.uninstrument()
    try:
        for cls in (Messages, AsyncMessages):
            assert not any(isinstance(cls.__dict__[n], wrapt.FunctionWrapper) for n in names)
    finally:
        inst.instrument()


def test_bad_sdk_spans_option_is_rejected() -> None:
    """An unknown sdk_spans value is a clear ValueError naming the allowed values."""
    inst = AnthropicInstrumentor()
    inst.uninstrument()
    try:
        with pytest.raises(ValueError, match="suppress"):
            inst.instrument(sdk_spans="twice")
    finally:
        if not inst.is_instrumented_by_opentelemetry:
            inst.instrument()


TOOL_USE = {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather"}


def test_requested_tool_calls(otel_capture: Capture) -> None:
    """tool_use blocks of a response are recorded as names and ids, capture off."""
    body = {**MESSAGE, "content": [{**TOOL_USE, "input": {"city": "Paris"}}]}
    body["stop_reason"] = "tool_use"
    result = client(Server(200, body)).messages.create(
        model=MODEL, max_tokens=256, messages=MESSAGES
    )
    (block,) = result.content
    a = attrs(otel_capture.span(f"chat {MODEL}"))
    assert a["otel_llm.response.tool_call.names"] == [block.name]
    assert a["otel_llm.response.tool_call.ids"] == [block.id]
    assert "gen_ai.output.messages" not in a


def test_streamed_tool_calls(otel_capture: Capture) -> None:
    """A streamed tool_use block (content_block_start) is recorded at message_stop."""
    body = events(
        ("message_start", {"type": "message_start", "message": {**MESSAGE, "content": []}}),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {**TOOL_USE, "input": {}}},
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": '{"city": "Paris"}'},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use"},
                "usage": {"output_tokens": 5},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    )
    stream = client(Server(200, body)).messages.create(
        model=MODEL, max_tokens=256, messages=MESSAGES, stream=True
    )
    starts = [e.content_block for e in stream if e.type == "content_block_start"]
    a = attrs(otel_capture.span(f"chat {MODEL}"))
    assert a["otel_llm.response.tool_call.names"] == [b.name for b in starts]
    assert a["otel_llm.response.tool_call.ids"] == [b.id for b in starts]
