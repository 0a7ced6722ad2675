"""openai instrumentation against the real SDK, replaying recorded API payloads at the transport."""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Callable
from typing import Any

import openai
import pytest
import wrapt
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

import otel_llm
from otel_llm import _runtime
from otel_llm.instrumentation.openai import _TARGETS, OpenAIInstrumentor
from otel_llm.testing import Capture
from tests.instrumentation.conftest import (
    Replay,
    attrs,
    load_cassette,
    openai_client,
    openai_http,
    serve,
    sse,
)

pytestmark = pytest.mark.usefixtures("instrument_openai")

SERVER = {"server.address": "api.openai.com", "server.port": 443}
RESPONSES = "test_responses_create_basic[content_mode0]"
RESPONSES_STREAM = "test_responses_create_streaming[content_mode0]"
MESSAGES = [{"role": "user", "content": "Say this is a test"}]


def _chat(model: str = "gpt-4", **extra: Any) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": model,
        **SERVER,
        **extra,
    }


def plain(call: Callable[[], Any]) -> Any:
    """What ``call`` returns with openai uninstrumented (the reference result)."""
    inst = OpenAIInstrumentor()
    inst.uninstrument()
    try:
        return call()
    finally:
        inst.instrument()


def _replay(name: str, *, asynchronous: bool = False) -> Any:
    return openai_client(Replay(load_cassette(name)), asynchronous=asynchronous)


def _chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }


COMPLETION_CHAT = {
    "id": "chatcmpl-2",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Hi"}}
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}


# -- chat completions ---------------------------------------------------------------------
def test_chat_completion_span_and_metrics(otel_capture: Capture) -> None:
    """A chat completion: one CLIENT span with request/response/usage and the GenAI metrics."""
    result = _replay("test_chat_completion_with_content").chat.completions.create(
        model="gpt-4", messages=MESSAGES
    )
    expected = plain(
        lambda: _replay("test_chat_completion_with_content").chat.completions.create(
            model="gpt-4", messages=MESSAGES
        )
    )
    assert result.model_dump() == expected.model_dump()
    assert result.choices[0].message.content == "This is a test."
    span = otel_capture.span("chat gpt-4")
    assert span.kind == SpanKind.CLIENT
    assert span.status.status_code == StatusCode.UNSET
    a = attrs(span)
    assert a.pop("otel_llm.cost.usd") > 0  # priced by the engine from the served model
    assert a == _chat(
        **{
            "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
            "gen_ai.response.id": "chatcmpl-ASYMQRl3A3DXL9FWCK9tnGRcKIO7q",
            "gen_ai.response.finish_reasons": ["stop"],
            "gen_ai.usage.input_tokens": 12,
            "gen_ai.usage.output_tokens": 5,
        }
    )
    metric = {**_chat(), "gen_ai.response.model": "gpt-4o-mini-2024-07-18"}
    (inp,) = otel_capture.metric_points(
        "gen_ai.client.token.usage", **{**metric, "gen_ai.token.type": "input"}
    )
    (out,) = otel_capture.metric_points(
        "gen_ai.client.token.usage", **{**metric, "gen_ai.token.type": "output"}
    )
    assert (inp.value, out.value) == (12, 5)
    (duration,) = otel_capture.metric_points("gen_ai.client.operation.duration")
    assert duration.attributes == metric
    assert duration.count == 1


def test_chat_request_parameters_become_attributes(otel_capture: Capture) -> None:
    """Sampling parameters are gen_ai.request.* attributes; NOT_GIVEN and n=1 are omitted."""
    client = _replay("test_chat_completion_extra_params")
    client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        seed=42,
        temperature=0.5,
        max_tokens=50,
        top_p=openai.NOT_GIVEN,
        n=1,
        stop=["\n"],
        response_format={"type": "text"},
    )
    span = otel_capture.span("chat gpt-4o-mini")
    a = attrs(span)
    assert {k: v for k, v in a.items() if k.startswith("gen_ai.request")} == {
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.request.seed": 42,
        "gen_ai.request.temperature": 0.5,
        "gen_ai.request.max_tokens": 50,
        "gen_ai.request.stop_sequences": ["\n"],
    }
    assert a["gen_ai.output.type"] == "text"


def test_multiple_choices_report_every_finish_reason(otel_capture: Capture) -> None:
    """n=2: choice count and one finish reason per choice."""
    _replay("test_chat_completion_multiple_choices").chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, n=2
    )
    a = attrs(otel_capture.span("chat gpt-4o-mini"))
    assert a["gen_ai.request.choice.count"] == 2
    assert a["gen_ai.response.finish_reasons"] == ["stop", "stop"]


def test_chat_stream_with_usage(otel_capture: Capture) -> None:
    """stream=True: the span stays open until exhaustion; TTFT, chunks and final-chunk usage."""
    stream = _replay("test_chat_completion_streaming").chat.completions.create(
        model="gpt-4", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    assert otel_capture.spans() == []  # still open
    chunks = list(stream)
    expected = plain(
        lambda: list(
            _replay("test_chat_completion_streaming").chat.completions.create(
                model="gpt-4",
                messages=MESSAGES,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
    )
    assert [c.model_dump() for c in chunks] == [c.model_dump() for c in expected]
    span = otel_capture.span("chat gpt-4")
    a = attrs(span)
    a.pop("otel_llm.cost.usd", None)  # gpt-4-0613 may or may not be in the price table
    ttft = a.pop("gen_ai.response.time_to_first_chunk")
    rate = a.pop("otel_llm.stream.tokens_per_second")
    assert ttft > 0 and rate > 0
    assert a == _chat(
        **{
            "gen_ai.request.stream": True,
            "gen_ai.response.model": "gpt-4-0613",
            "gen_ai.response.id": "chatcmpl-ASYMZ4oSykiIFK4lXLReDiKyAjsQl",
            "gen_ai.response.finish_reasons": ["stop"],
            "gen_ai.usage.input_tokens": 12,
            "gen_ai.usage.output_tokens": 5,
            "otel_llm.stream.chunks": 7,  # every chunk with choices; not the usage-only one
        }
    )
    assert span.status.status_code == StatusCode.UNSET
    assert otel_capture.histogram_count("gen_ai.client.operation.time_to_first_chunk") == 1
    assert otel_capture.histogram_count("gen_ai.client.operation.time_per_output_chunk") == 6
    assert otel_capture.metric_sum("gen_ai.client.token.usage", gen_ai_token_type="output") == 5
    assert otel_capture.metric_sum("otel_llm.stream.active") == 0


def test_chat_stream_without_usage_invents_no_tokens(otel_capture: Capture) -> None:
    """A stream without include_usage records no token counts at all (none invented)."""
    list(
        _replay("test_chat_completion_streaming_not_complete").chat.completions.create(
            model="gpt-4", messages=MESSAGES, stream=True
        )
    )
    a = attrs(otel_capture.span("chat gpt-4"))
    assert not [k for k in a if k.startswith("gen_ai.usage")]
    assert a["gen_ai.response.finish_reasons"] == ["stop"]
    assert a["otel_llm.stream.chunks"] == 7
    assert otel_capture.metric_points("gen_ai.client.token.usage") == []
    assert otel_capture.histogram_count("gen_ai.client.operation.duration") == 1


async def test_async_chat_stream(otel_capture: Capture) -> None:
    """AsyncOpenAI stream: same telemetry through the async proxy."""
    client = _replay("test_async_chat_completion_streaming", asynchronous=True)
    stream = await client.chat.completions.create(
        model="gpt-4", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == '"This is a test."' or text == "This is a test."
    a = attrs(otel_capture.span("chat gpt-4"))
    assert a["gen_ai.usage.output_tokens"] == 5
    assert a["gen_ai.response.finish_reasons"] == ["stop"]
    assert a["gen_ai.request.stream"] is True


async def test_async_chat_completion(otel_capture: Capture) -> None:
    """AsyncOpenAI non-streamed create: one span with usage."""
    client = _replay("test_async_chat_completion_with_content", asynchronous=True)
    result = await client.chat.completions.create(model="gpt-4", messages=MESSAGES)
    assert result.choices[0].message.content
    a = attrs(otel_capture.span("chat gpt-4"))
    assert a["gen_ai.usage.input_tokens"] == result.usage.prompt_tokens
    assert a["gen_ai.usage.output_tokens"] == result.usage.completion_tokens


needs_stream_helper = pytest.mark.skipif(
    not hasattr(openai.resources.chat.Completions, "stream"),
    reason="this openai has chat.completions.stream only under beta",
)


@needs_stream_helper
def test_stream_helper_consumed(otel_capture: Capture) -> None:
    """chat.completions.stream(): the helper's events flow through; the span ends OK."""
    client = _replay("test_chat_completion_with_context_manager_streaming")
    with client.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content
    span = otel_capture.span("chat gpt-4o-mini")
    assert span.status.status_code == StatusCode.UNSET
    assert attrs(span)["gen_ai.response.finish_reasons"] == ["stop"]


@needs_stream_helper
def test_stream_helper_left_early_is_cancelled(otel_capture: Capture) -> None:
    """Leaving the .stream() helper early ends the span as cancelled (not at GC time)."""
    client = _replay("test_chat_completion_with_context_manager_streaming")
    with client.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES) as stream:
        for _event in stream:
            break
    span = otel_capture.span("chat gpt-4o-mini")
    assert span.status.status_code == StatusCode.ERROR
    a = attrs(span)
    assert a["error.type"] == "cancelled"
    assert a["gen_ai.response.finish_reasons"] == ["error"]
    assert otel_capture.metric_sum("otel_llm.stream.active") == 0


def test_break_out_of_raw_stream_and_close(otel_capture: Capture) -> None:
    """break + close() on a create(stream=True) result: cancelled, stream no longer active."""
    stream = _replay("test_chat_completion_streaming").chat.completions.create(
        model="gpt-4", messages=MESSAGES, stream=True
    )
    next(stream)
    stream.close()
    assert attrs(otel_capture.span("chat gpt-4"))["error.type"] == "cancelled"


def test_abandoned_stream_is_finalised_by_gc(otel_capture: Capture) -> None:
    """A stream dropped half-read is ended by the garbage collector as abandoned."""
    stream = _replay("test_chat_completion_streaming").chat.completions.create(
        model="gpt-4", messages=MESSAGES, stream=True
    )
    next(iter(stream))
    del stream
    gc.collect()
    assert attrs(otel_capture.span("chat gpt-4"))["error.type"] == "abandoned"


def test_opt_in_estimate_of_missing_stream_usage(
    otel_capture: Capture, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """estimate_stream_usage=True: output tokens counted with tiktoken, marked estimated."""
    from otel_llm._offline import offline_encoding, seed_tiktoken_cache

    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    seed_tiktoken_cache(tmp_path)
    inst = OpenAIInstrumentor()
    inst.uninstrument()
    inst.instrument(estimate_stream_usage=True)
    try:
        list(
            _replay("test_chat_completion_streaming_not_complete").chat.completions.create(
                model="gpt-4", messages=MESSAGES, stream=True
            )
        )
    finally:
        inst.uninstrument()
        inst.instrument()
    a = attrs(otel_capture.span("chat gpt-4"))
    expected = len(offline_encoding("cl100k_base").encode_ordinary("This is a test."))
    assert a["gen_ai.usage.output_tokens"] == expected
    assert a["otel_llm.tokenizer.estimated"] is True
    assert "gen_ai.usage.input_tokens" not in a
    assert otel_capture.metric_sum("gen_ai.client.token.usage", gen_ai_token_type="output") == (
        expected
    )


def test_truncated_sse_stream(otel_capture: Capture) -> None:
    """A body cut mid-event (no finish, no [DONE]): the SDK stops quietly; the span does not."""
    body = sse(_chunk({"role": "assistant", "content": ""}), _chunk({"content": "Hel"}), done=False)
    client = openai_client(serve(200, body + b'data: {"id":"chatcmpl-1","obj'))
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=[], stream=True))
    assert [c.choices[0].delta.content for c in chunks] == ["", "Hel"]
    span = otel_capture.span("chat gpt-4o-mini")
    assert span.status.status_code == StatusCode.ERROR
    a = attrs(span)
    assert a["error.type"] == "incomplete_stream"
    assert a["gen_ai.response.finish_reasons"] == ["error"]
    assert not [k for k in a if k.startswith("gen_ai.usage")]
    assert a["otel_llm.stream.chunks"] == 2
    (point,) = otel_capture.metric_points("gen_ai.client.operation.duration")
    assert point.attributes["error.type"] == "incomplete_stream"


def test_truncated_responses_stream(otel_capture: Capture) -> None:
    """A Responses API stream that stops before response.completed is incomplete_stream."""
    (recorded,) = load_cassette(RESPONSES_STREAM)
    body = recorded.body[: recorded.body.index(b"event: response.output_text.done")]
    client = openai_client(serve(200, body))
    events = list(client.responses.create(model="gpt-4o-mini", input="x", stream=True))
    assert events[-1].type == "response.output_text.delta"
    assert attrs(otel_capture.span("chat gpt-4o-mini"))["error.type"] == "incomplete_stream"


def test_malformed_sse_chunk_is_the_error(otel_capture: Capture) -> None:
    """Invalid JSON in the stream: the SDK's exception reaches the caller; span is ERROR."""
    client = openai_client(serve(200, sse(_chunk({"content": "Hel"}), "{not json")))
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=[], stream=True)
    with pytest.raises(json.JSONDecodeError):
        list(stream)
    span = otel_capture.span("chat gpt-4o-mini")
    assert span.status.status_code == StatusCode.ERROR
    assert attrs(span)["error.type"] == "JSONDecodeError"
    assert attrs(span)["gen_ai.response.finish_reasons"] == ["error"]


def test_stream_usage_with_cache_and_reasoning_tokens(otel_capture: Capture) -> None:
    """Cached and reasoning token details of the final chunk become gen_ai.usage.* attributes."""
    usage = {
        "prompt_tokens": 40,
        "completion_tokens": 9,
        "total_tokens": 49,
        "prompt_tokens_details": {"cached_tokens": 32},
        "completion_tokens_details": {"reasoning_tokens": 4},
    }
    body = sse(
        _chunk({"role": "assistant", "content": "Hi"}),
        _chunk({}, "length"),
        {**_chunk({}), "choices": [], "usage": usage},
    )
    client = openai_client(serve(200, body))
    list(client.chat.completions.create(model="o4-mini", messages=[], stream=True))
    a = attrs(otel_capture.span("chat o4-mini"))
    assert a["gen_ai.usage.input_tokens"] == 40
    assert a["gen_ai.usage.output_tokens"] == 9
    assert a["gen_ai.usage.cache_read.input_tokens"] == 32
    assert a["gen_ai.usage.reasoning.output_tokens"] == 4
    assert a["gen_ai.response.finish_reasons"] == ["length"]


def test_unreadable_usage_is_swallowed_and_counted(otel_capture: Capture) -> None:
    """A payload our reader rejects (negative usage) never reaches the caller: counted instead."""
    body = {**COMPLETION_CHAT, "usage": {"prompt_tokens": -3, "completion_tokens": 5}}
    result = openai_client(serve(200, body)).chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES
    )
    assert result.usage.prompt_tokens == -3  # the caller sees exactly what the API sent
    span = otel_capture.span("chat gpt-4o-mini")
    assert span.status.status_code == StatusCode.UNSET
    assert "gen_ai.usage.input_tokens" not in attrs(span)
    assert (
        otel_capture.metric_sum(
            "otel_llm.instrumentation.errors", otel_llm_component="instrumentation.openai"
        )
        == 1
    )


def test_non_string_model_loses_only_the_model(otel_capture: Capture) -> None:
    """A response whose ``model`` is not a string (a proxy's bug) still records usage, cost
    metrics and duration; only the unreadable name is dropped, and counted once."""
    body = {**COMPLETION_CHAT, "model": 123}
    result = openai_client(serve(200, body)).chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES
    )
    assert result.model == 123  # the caller sees exactly what the API sent
    a = attrs(otel_capture.span("chat gpt-4o-mini"))
    assert "gen_ai.response.model" not in a
    assert a["gen_ai.usage.input_tokens"] == 3
    assert otel_capture.metric_sum("gen_ai.client.token.usage", gen_ai_token_type="input") == 3
    assert otel_capture.histogram_count("gen_ai.client.operation.duration") == 1
    errors = otel_capture.metric_sum(
        "otel_llm.instrumentation.errors", otel_llm_component="instrumentation.openai"
    )
    assert errors == 1


def test_odd_choices_in_a_stream_are_no_fields(otel_capture: Capture) -> None:
    """A bare-string choice (whose ``str.index`` is no field) and a string ``index`` beside
    an int one never make the finish reasons or tool calls unsortable: all are recorded."""
    first = _chunk({"role": "assistant", "content": "Hi"})
    odd = {**_chunk({}), "choices": ["not a choice"]}
    call = {"index": "0", "id": "call_1", "type": "function", "function": {"name": "f"}}
    last = _chunk({"tool_calls": [call]}, finish="tool_calls")
    last["choices"].append({"index": "1", "delta": {}, "finish_reason": "stop"})
    body = sse(first, odd, last)
    chunks = list(
        openai_client(serve(200, body)).chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        )
    )
    assert len(chunks) == 3
    a = attrs(otel_capture.span("chat gpt-4o-mini"))
    assert a["gen_ai.response.finish_reasons"] == ["stop"]  # both read as choice 0
    assert a["otel_llm.response.tool_call.names"] == ["f"]
    assert otel_capture.metric_sum("otel_llm.instrumentation.errors") == 0


# -- errors ---------------------------------------------------------------------------------
ERROR_BODY = {"error": {"message": "x", "type": "server_error", "param": None, "code": None}}


@pytest.mark.parametrize(
    ("status", "exc_type"),
    [
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (400, openai.BadRequestError),
    ],
)
def test_http_errors_set_error_type(otel_capture: Capture, status: int, exc_type: type) -> None:
    """An HTTP error: the SDK's exception passes unchanged; error.type is its class name."""
    client = openai_client(serve(status, ERROR_BODY))
    with pytest.raises(exc_type) as info:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert info.value.status_code == status
    span = otel_capture.span("chat gpt-4o-mini")
    assert span.status.status_code == StatusCode.ERROR
    assert attrs(span)["error.type"] == exc_type.__name__
    (point,) = otel_capture.metric_points("gen_ai.client.operation.duration")
    assert point.attributes["error.type"] == exc_type.__name__
    assert otel_capture.metric_points("gen_ai.client.token.usage") == []


def test_not_found_from_cassette(otel_capture: Capture) -> None:
    """The recorded 404 (unknown model) is NotFoundError on the span."""
    with pytest.raises(openai.NotFoundError):
        _replay("test_chat_completion_404").chat.completions.create(
            model="this-model-does-not-exist", messages=MESSAGES
        )
    span = otel_capture.span("chat this-model-does-not-exist")
    assert attrs(span)["error.type"] == "NotFoundError"


@pytest.mark.parametrize(
    ("raised", "exc_type"),
    [
        (openai_http().ReadTimeout("timed out"), openai.APITimeoutError),
        (openai_http().ConnectError("refused"), openai.APIConnectionError),
    ],
)
def test_transport_failures_set_error_type(
    otel_capture: Capture, raised: Exception, exc_type: type
) -> None:
    """Timeouts and connection errors: error.type is the SDK's exception class."""

    def fail(request: Any) -> Any:
        raise raised

    client = openai_client(fail)
    with pytest.raises(exc_type):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert attrs(otel_capture.span("chat gpt-4o-mini"))["error.type"] == exc_type.__name__


async def test_async_rate_limit(otel_capture: Capture) -> None:
    """Async 429: RateLimitError on the span, re-raised to the caller."""
    client = openai_client(serve(429, ERROR_BODY), asynchronous=True)
    with pytest.raises(openai.RateLimitError):
        await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert attrs(otel_capture.span("chat gpt-4o-mini"))["error.type"] == "RateLimitError"


# -- legacy completions, embeddings, responses -------------------------------------------------
COMPLETION = {
    "id": "cmpl-1",
    "object": "text_completion",
    "created": 1,
    "model": "gpt-3.5-turbo-instruct:20230824-v2",
    "choices": [
        {"text": "\n\nThis is a test.", "index": 0, "logprobs": None, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
}


def test_legacy_completion(otel_capture: Capture) -> None:
    """completions.create: a text_completion span with usage."""
    client = openai_client(serve(200, COMPLETION))
    result = client.completions.create(
        model="gpt-3.5-turbo-instruct", prompt="Say this is a test", max_tokens=7
    )
    assert result.choices[0].text == "\n\nThis is a test."
    span = otel_capture.span("text_completion gpt-3.5-turbo-instruct")
    a = attrs(span)
    a.pop("otel_llm.cost.usd", None)
    assert a == {
        "gen_ai.operation.name": "text_completion",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-3.5-turbo-instruct",
        **SERVER,
        "gen_ai.request.max_tokens": 7,
        "gen_ai.response.model": "gpt-3.5-turbo-instruct:20230824-v2",
        "gen_ai.response.id": "cmpl-1",
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.usage.input_tokens": 5,
        "gen_ai.usage.output_tokens": 7,
    }


def test_legacy_completion_stream(otel_capture: Capture) -> None:
    """completions.create(stream=True): text chunks, finish reason and final usage."""

    def piece(text: str, finish: str | None = None) -> dict[str, Any]:
        choice = {"text": text, "index": 0, "logprobs": None, "finish_reason": finish}
        return {**COMPLETION, "choices": [choice], "usage": None}

    body = sse(
        piece("This"),
        piece(" is"),
        piece("", "stop"),
        {**COMPLETION, "choices": [], "usage": COMPLETION["usage"]},
    )
    client = openai_client(serve(200, body))
    text = "".join(
        c.choices[0].text
        for c in client.completions.create(model="gpt-3.5-turbo-instruct", prompt="x", stream=True)
        if c.choices
    )
    assert text == "This is"
    a = attrs(otel_capture.span("text_completion gpt-3.5-turbo-instruct"))
    assert a["otel_llm.stream.chunks"] == 3
    assert a["gen_ai.response.finish_reasons"] == ["stop"]
    assert a["gen_ai.usage.output_tokens"] == 7


def test_embeddings(otel_capture: Capture) -> None:
    """embeddings.create: input tokens only, dimension count, encoding format."""
    client = _replay("test_embeddings_with_encoding_format")
    result = client.embeddings.create(
        model="text-embedding-3-small", input="This is a test", encoding_format="float"
    )
    span = otel_capture.span("embeddings text-embedding-3-small")
    a = attrs(span)
    assert a["gen_ai.operation.name"] == "embeddings"
    assert a["gen_ai.request.encoding_formats"] == ["float"]
    assert a["gen_ai.usage.input_tokens"] == result.usage.prompt_tokens
    # the recorded body is base64 (packed float32) despite encoding_format="float"
    assert isinstance(result.data[0].embedding, str)
    assert a["gen_ai.embeddings.dimension.count"] == 1536
    assert "gen_ai.usage.output_tokens" not in a
    (point,) = otel_capture.metric_points("gen_ai.client.token.usage")
    assert point.attributes["gen_ai.token.type"] == "input"
    assert point.value == result.usage.prompt_tokens


async def test_async_embeddings_error(otel_capture: Capture) -> None:
    """Async embeddings 404: NotFoundError on the embeddings span."""
    client = _replay("test_async_embeddings_error_handling", asynchronous=True)
    with pytest.raises(openai.NotFoundError):
        await client.embeddings.create(model="not-a-model", input="x")
    assert attrs(otel_capture.span("embeddings not-a-model"))["error.type"] == "NotFoundError"


def test_responses_create(otel_capture: Capture) -> None:
    """responses.create: a chat span with usage from the Response object."""
    client = _replay(RESPONSES)
    result = client.responses.create(
        model="gpt-4o-mini", input="Say this is a test", instructions="You are a helpful assistant."
    )
    assert result.output_text == "This is a test."
    a = attrs(otel_capture.span("chat gpt-4o-mini"))
    assert a.pop("otel_llm.cost.usd") > 0
    assert a == _chat(
        "gpt-4o-mini",
        **{
            "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
            "gen_ai.response.id": result.id,
            "gen_ai.response.finish_reasons": ["stop"],
            "gen_ai.usage.input_tokens": 22,
            "gen_ai.usage.output_tokens": 6,
        },
    )


def test_responses_stream(otel_capture: Capture) -> None:
    """responses.create(stream=True): text deltas are chunks; usage from response.completed."""
    client = _replay(RESPONSES_STREAM)
    events = list(client.responses.create(model="gpt-4o-mini", input="x", stream=True))
    assert events[-1].type == "response.completed"
    a = attrs(otel_capture.span("chat gpt-4o-mini"))
    assert a["otel_llm.stream.chunks"] == 5
    assert a["gen_ai.usage.input_tokens"] == 22
    assert a["gen_ai.usage.output_tokens"] == 6
    assert a["gen_ai.response.finish_reasons"] == ["stop"]
    assert a["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"


def test_responses_stream_helper(otel_capture: Capture) -> None:
    """responses.stream(): the helper's final response and one finished span."""
    client = _replay(RESPONSES_STREAM)
    with client.responses.stream(model="gpt-4o-mini", input="x") as stream:
        final = stream.get_final_response()
    assert final.output_text == "This is a test."
    span = otel_capture.span("chat gpt-4o-mini")
    assert span.status.status_code == StatusCode.UNSET
    assert attrs(span)["gen_ai.usage.output_tokens"] == 6


async def test_async_responses_stream(otel_capture: Capture) -> None:
    """AsyncOpenAI responses stream: same span through the async proxy."""
    client = _replay(RESPONSES_STREAM, asynchronous=True)
    stream = await client.responses.create(model="gpt-4o-mini", input="x", stream=True)
    kinds = [event.type async for event in stream]
    assert kinds[-1] == "response.completed"
    assert attrs(otel_capture.span("chat gpt-4o-mini"))["gen_ai.usage.output_tokens"] == 6


def test_responses_api_error(otel_capture: Capture) -> None:
    """A recorded 400 from the Responses API: BadRequestError on the span."""
    with pytest.raises(openai.BadRequestError):
        _replay("test_responses_create_api_error[content_mode0]").responses.create(
            model="gpt-4o-mini", input="x"
        )
    assert attrs(otel_capture.span("chat gpt-4o-mini"))["error.type"] == "BadRequestError"


def test_with_raw_response(otel_capture: Capture) -> None:
    """with_raw_response: the caller gets the raw response; the span still has usage."""
    client = _replay("test_chat_completion_with_raw_response")
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    completion = raw.parse()
    a = attrs(otel_capture.span("chat gpt-4o-mini"))
    assert a["gen_ai.usage.output_tokens"] == completion.usage.completion_tokens
    assert a["gen_ai.response.id"] == completion.id


def test_with_streaming_response_is_left_unread(otel_capture: Capture) -> None:
    """with_streaming_response: the body is the caller's to read; the span has no usage."""
    client = _replay("test_chat_completion_with_raw_response")
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=MESSAGES
    ) as response:
        completion = response.parse()
    assert completion.choices[0].message.content
    a = attrs(otel_capture.span("chat gpt-4o-mini"))
    assert "gen_ai.usage.output_tokens" not in a
    assert a["gen_ai.request.model"] == "gpt-4o-mini"


# -- behaviour around the calls -------------------------------------------------------------
def test_user_generation_around_client_counts_tokens_once(otel_capture: Capture) -> None:
    """A user's otel_llm.generation around an instrumented call: nested spans, tokens once."""
    client = _replay("test_chat_completion_with_content")
    with otel_llm.generation(model="gpt-4", provider="openai") as outer:
        result = client.chat.completions.create(model="gpt-4", messages=MESSAGES)
        outer.set_response(input_tokens=12, output_tokens=5)
    assert result.usage.total_tokens == 17
    spans = otel_capture.spans("chat gpt-4")
    assert len(spans) == 2
    inner, user = spans  # inner ends first
    assert inner.parent is not None and inner.parent.span_id == user.context.span_id
    assert otel_capture.metric_sum("gen_ai.client.token.usage", gen_ai_token_type="input") == 12
    assert otel_capture.metric_sum("gen_ai.client.token.usage", gen_ai_token_type="output") == 5
    assert otel_capture.histogram_count("gen_ai.client.operation.duration") == 1


def test_span_is_child_of_the_active_span(otel_capture: Capture) -> None:
    """The generation span joins the caller's trace."""
    with trace.get_tracer("app").start_as_current_span("handle"):
        _replay("test_chat_completion_with_content").chat.completions.create(
            model="gpt-4", messages=MESSAGES
        )
    (child,) = otel_capture.children(otel_capture.span("handle"))
    assert child.name == "chat gpt-4"


def test_content_capture_span_only(otel_capture: Capture) -> None:
    """SPAN_ONLY capture: prompt and completion as semconv message JSON on the span."""
    _runtime.RT.capture = "SPAN_ONLY"
    _replay("test_chat_completion_with_content").chat.completions.create(
        model="gpt-4", messages=MESSAGES
    )
    a = attrs(otel_capture.span("chat gpt-4"))
    assert json.loads(a["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Say this is a test"}]}
    ]
    assert json.loads(a["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "This is a test."}],
            "finish_reason": "stop",
        }
    ]


def test_no_content_by_default(otel_capture: Capture) -> None:
    """Content capture is off by default: no message attributes or events."""
    _runtime.RT.capture = "NO_CONTENT"
    _replay("test_chat_completion_with_content").chat.completions.create(
        model="gpt-4", messages=MESSAGES
    )
    span = otel_capture.span("chat gpt-4")
    assert "gen_ai.input.messages" not in attrs(span)
    assert not span.events


def test_stream_content_capture(otel_capture: Capture) -> None:
    """SPAN_ONLY capture on a stream: the assembled text becomes the output message."""
    _runtime.RT.capture = "SPAN_ONLY"
    list(
        _replay("test_chat_completion_streaming").chat.completions.create(
            model="gpt-4", messages=MESSAGES, stream=True
        )
    )
    a = attrs(otel_capture.span("chat gpt-4"))
    (message,) = json.loads(a["gen_ai.output.messages"])
    assert message["parts"] == [{"type": "text", "content": '"This is a test."'}]


def test_streamed_tool_calls(otel_capture: Capture) -> None:
    """Streamed tool calls: finish reason tool_calls; captured calls are reassembled."""
    _runtime.RT.capture = "SPAN_ONLY"
    stream = _replay("test_chat_completion_multiple_tools_streaming_with_content")
    chunks = list(
        stream.chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    a = attrs(otel_capture.span("chat gpt-4o-mini"))
    assert a["gen_ai.response.finish_reasons"] == ["tool_calls"]
    assert a["otel_llm.stream.chunks"] == len([c for c in chunks if c.choices])
    (message,) = json.loads(a["gen_ai.output.messages"])
    calls = message["parts"]
    assert [c["name"] for c in calls] == ["get_current_weather", "get_current_weather"]
    assert [json.loads(c["arguments"])["location"] for c in calls] == [
        "Seattle, WA",
        "San Francisco, CA",
    ]
    assert all(c["type"] == "tool_call" and c["id"].startswith("call_") for c in calls)


def test_responses_content_capture(otel_capture: Capture) -> None:
    """Responses API capture: instructions as system, input as user, output text."""
    _runtime.RT.capture = "SPAN_ONLY"
    _replay(RESPONSES).responses.create(
        model="gpt-4o-mini", input="Say this is a test", instructions="You are a helpful assistant."
    )
    a = attrs(otel_capture.span("chat gpt-4o-mini"))
    assert json.loads(a["gen_ai.input.messages"]) == [
        {"role": "system", "parts": [{"type": "text", "content": "You are a helpful assistant."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Say this is a test"}]},
    ]
    assert json.loads(a["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "This is a test."}],
            "finish_reason": "stop",
        }
    ]


@needs_stream_helper
async def test_async_stream_helper_left_early(otel_capture: Capture) -> None:
    """Async chat.completions.stream() left early: cancelled when the block exits."""
    client = _replay("test_async_chat_completion_streaming", asynchronous=True)
    async with client.chat.completions.stream(model="gpt-4", messages=MESSAGES) as stream:
        async for _event in stream:
            break
    span = otel_capture.span("chat gpt-4")
    assert attrs(span)["error.type"] == "cancelled"
    assert otel_capture.metric_sum("otel_llm.stream.active") == 0


def test_disabled_runtime_records_nothing(otel_capture: Capture) -> None:
    """With the SDK disabled the wrapper calls straight through."""
    _runtime.RT.enabled = False
    result = _replay("test_chat_completion_with_content").chat.completions.create(
        model="gpt-4", messages=MESSAGES
    )
    assert result.choices[0].message.content == "This is a test."
    assert otel_capture.spans() == []


def test_uninstrument_restores_every_method(otel_capture: Capture) -> None:
    """uninstrument() puts back the SDK's own functions; instrument() wraps them again."""
    import importlib

    def owners() -> list[Any]:
        found = []
        for module, path, _ in _TARGETS:
            cls_name, _, method = path.partition(".")
            owner = getattr(importlib.import_module(module), cls_name, None)
            if owner is not None and method in owner.__dict__:  # older SDKs lack some
                found.append(owner.__dict__[method])
        return found

    inst = OpenAIInstrumentor()
    assert len(owners()) >= 8
    assert all(isinstance(f, wrapt.FunctionWrapper) for f in owners())
    inst.uninstrument()
    try:
        assert not any(isinstance(f, wrapt.FunctionWrapper) for f in owners())
        _replay("test_chat_completion_with_content").chat.completions.create(
            model="gpt-4", messages=MESSAGES
        )
        assert otel_capture.spans() == []
    finally:
        inst.instrument()


def test_cancelled_async_stream(otel_capture: Capture) -> None:
    """A task cancelled inside ``async with stream``: the span ends as cancelled."""

    async def consume() -> None:
        client = _replay("test_async_chat_completion_streaming", asynchronous=True)
        stream = await client.chat.completions.create(model="gpt-4", messages=MESSAGES, stream=True)
        async with stream:
            async for _c in stream:
                raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(consume())
    span = otel_capture.span("chat gpt-4")
    assert attrs(span)["error.type"] == "cancelled"
    assert span.status.status_code == StatusCode.ERROR


def test_requested_tool_calls_without_content_capture(otel_capture: Capture) -> None:
    """With capture off, the tool calls a response asks for are recorded: names and ids."""
    result = _replay("test_chat_completion_tool_calls_no_content").chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES
    )
    calls = [call for c in result.choices for call in c.message.tool_calls or []]
    assert calls, "the cassette answers with tool calls"
    a = attrs(otel_capture.span("chat gpt-4o-mini"))
    assert a["otel_llm.response.tool_call.names"] == [c.function.name for c in calls]
    assert a["otel_llm.response.tool_call.ids"] == [c.id for c in calls]
    assert "gen_ai.output.messages" not in a


def test_streamed_tool_calls_without_content_capture(otel_capture: Capture) -> None:
    """A streamed answer's tool calls are reassembled into names and ids, capture off."""
    stream = _replay("test_chat_completion_multiple_tools_streaming_no_content")
    chunks = list(
        stream.chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    starts = [
        call
        for chunk in chunks
        for choice in chunk.choices
        for call in choice.delta.tool_calls or []
        if call.id
    ]
    assert len(starts) == 2
    a = attrs(otel_capture.span("chat gpt-4o-mini"))
    assert a["otel_llm.response.tool_call.names"] == [c.function.name for c in starts]
    assert a["otel_llm.response.tool_call.ids"] == [c.id for c in starts]
    assert "gen_ai.output.messages" not in a


def test_responses_requested_function_calls(otel_capture: Capture) -> None:
    """Responses API: function_call output items are the requested tool calls."""
    result = _replay(
        "test_responses_create_captures_tool_call_content[content_mode0]"
    ).responses.create(model="gpt-4o-mini", input="What is the weather in Seattle?")
    calls = [item for item in result.output if item.type == "function_call"]
    assert calls, "the cassette answers with a function call"
    a = attrs(otel_capture.span("chat gpt-4o-mini"))
    assert a["otel_llm.response.tool_call.names"] == [c.name for c in calls]
    assert a["otel_llm.response.tool_call.ids"] == [c.call_id for c in calls]
