"""Hostile and odd OpenAI payloads: the caller sees exactly what it sees without otel-llm.

Every case is served by ``MockTransport`` to the real openai SDK, once uninstrumented and
once instrumented (see ``conftest.Differential``): chat, legacy completions, embeddings and
the Responses API, sync and async, plain, ``stream=True`` and the ``.stream()`` helpers,
``with_raw_response``. Payloads start from recorded API responses and are mutated by
hypothesis: fields removed or ``None``, values of unexpected types, empty choices, unknown
finish reasons, missing usage, truncated or malformed SSE, non-UTF-8 bytes, invalid JSON,
HTTP error statuses.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otel_llm.instrumentation.openai import OpenAIInstrumentor
from tests.instrumentation.conftest import openai_client, openai_http
from tests.reliability import _openai_payloads as payloads
from tests.reliability.conftest import (
    COUNT,
    DELETE,
    FINISH,
    JSON,
    ODD_TEXT,
    SSE,
    Differential,
    Endpoint,
    adrain,
    afinal,
    drain,
    events_of,
    final,
    hostile,
    odd,
    setup,
    snapshot,
)

MESSAGES = [{"role": "user", "content": "Say this is a test"}]
EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _client(body: bytes, status: int, content_type: str, asynchronous: bool) -> Any:
    http = openai_http()

    def handler(request: Any) -> Any:
        return http.Response(status, headers={"content-type": content_type}, content=body)

    return openai_client(handler, asynchronous=asynchronous)


# -- what the caller does, per endpoint (sync and async) ----------------------------------
def _chat(c: Any) -> Any:
    return snapshot(c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES))


async def _achat(c: Any) -> Any:
    return snapshot(await c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES))


def _chat_raw(c: Any) -> Any:
    raw = c.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    return snapshot(raw.parse())


async def _achat_raw(c: Any) -> Any:
    raw = await c.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    return snapshot(await raw.parse())


def _chat_stream(c: Any) -> Any:
    return drain(
        c.chat.completions.create(
            model="gpt-4", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )


async def _achat_stream(c: Any) -> Any:
    return await adrain(
        await c.chat.completions.create(
            model="gpt-4", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )


def _chat_helper(c: Any) -> Any:
    with c.chat.completions.stream(model="gpt-4", messages=MESSAGES) as s:
        return [*drain(s), final(s.get_final_completion)]


async def _achat_helper(c: Any) -> Any:
    async with c.chat.completions.stream(model="gpt-4", messages=MESSAGES) as s:
        return [*await adrain(s), await afinal(s.get_final_completion)]


def _completion(c: Any) -> Any:
    return snapshot(c.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say this"))


async def _acompletion(c: Any) -> Any:
    return snapshot(await c.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say this"))


def _completion_stream(c: Any) -> Any:
    return drain(c.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say", stream=True))


async def _acompletion_stream(c: Any) -> Any:
    return await adrain(
        await c.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say", stream=True)
    )


def _embeddings(c: Any) -> Any:
    return snapshot(c.embeddings.create(model="text-embedding-3-small", input="hello"))


async def _aembeddings(c: Any) -> Any:
    return snapshot(await c.embeddings.create(model="text-embedding-3-small", input="hello"))


def _responses(c: Any) -> Any:
    return snapshot(c.responses.create(model="gpt-4o-mini", input="Say", instructions="Be brief"))


async def _aresponses(c: Any) -> Any:
    return snapshot(
        await c.responses.create(model="gpt-4o-mini", input="Say", instructions="Be brief")
    )


def _responses_stream(c: Any) -> Any:
    return drain(c.responses.create(model="gpt-4o-mini", input="Say", stream=True))


async def _aresponses_stream(c: Any) -> Any:
    return await adrain(await c.responses.create(model="gpt-4o-mini", input="Say", stream=True))


def _responses_helper(c: Any) -> Any:
    with c.responses.stream(model="gpt-4o-mini", input="Say") as s:
        return [*drain(s), final(s.get_final_response)]


async def _aresponses_helper(c: Any) -> Any:
    async with c.responses.stream(model="gpt-4o-mini", input="Say") as s:
        return [*await adrain(s), await afinal(s.get_final_response)]


NULLABLE = st.one_of(st.just(DELETE), st.none())
CHAT_EDITS: dict[tuple[Any, ...], Any] = {
    ("id",): ODD_TEXT,
    ("model",): ODD_TEXT,
    ("choices",): st.just([]),
    ("choices", 0, "index"): st.integers(0, 7),
    ("choices", 0, "finish_reason"): FINISH | st.none(),
    ("choices", 0, "message", "content"): ODD_TEXT | st.none(),
    ("choices", 0, "message", "refusal"): ODD_TEXT | st.none(),
    ("choices", 0, "message", "tool_calls"): st.just([]) | st.none(),
    ("usage",): NULLABLE,
    ("usage", "prompt_tokens"): COUNT,
    ("usage", "completion_tokens"): COUNT,
    ("usage", "prompt_tokens_details"): NULLABLE,
    ("usage", "completion_tokens_details"): NULLABLE,
    ("usage", "completion_tokens_details", "reasoning_tokens"): COUNT,
    ("system_fingerprint",): NULLABLE,
}
CHUNK_EDITS: dict[tuple[Any, ...], Any] = {
    ("id",): ODD_TEXT,
    ("model",): ODD_TEXT,
    ("choices",): st.just([]),
    ("choices", 0, "index"): st.integers(0, 3),
    ("choices", 0, "finish_reason"): FINISH | st.none(),
    ("choices", 0, "delta"): st.just({}),
    ("choices", 0, "delta", "content"): ODD_TEXT | st.none(),
    ("choices", 0, "delta", "tool_calls"): st.just([]) | st.none(),
    ("choices", 0, "text"): ODD_TEXT,
    ("usage",): NULLABLE,
    ("usage", "prompt_tokens"): COUNT,
    ("usage", "completion_tokens"): COUNT,
}
EMBEDDING_EDITS: dict[tuple[Any, ...], Any] = {
    ("model",): ODD_TEXT,
    ("data",): st.just([]),
    ("data", 0, "embedding"): st.lists(st.floats(-1, 1), max_size=5) | st.just("AACAPwAAAEA="),
    ("usage",): NULLABLE,
    ("usage", "prompt_tokens"): COUNT,
}
RESPONSES_EDITS: dict[tuple[Any, ...], Any] = {
    ("id",): ODD_TEXT,
    ("model",): ODD_TEXT,
    ("status",): st.sampled_from(["completed", "incomplete", "failed", "cancelled", "queued"])
    | ODD_TEXT,
    ("incomplete_details",): st.none()
    | st.fixed_dictionaries({"reason": st.sampled_from(["max_output_tokens", "content_filter"])}),
    ("output",): st.just([]),
    ("output", 0, "content"): st.just([]),
    ("output", 0, "content", 0, "text"): ODD_TEXT,
    ("usage",): NULLABLE,
    ("usage", "input_tokens"): COUNT,
    ("usage", "output_tokens"): COUNT,
    ("usage", "input_tokens_details"): NULLABLE,
    ("usage", "output_tokens_details"): NULLABLE,
}
EVENT_EDITS: dict[tuple[Any, ...], Any] = {
    ("delta",): ODD_TEXT,
    ("response", "model"): ODD_TEXT,
    ("response", "usage"): NULLABLE,
    ("response", "status"): st.sampled_from(["completed", "incomplete", "failed"]),
    ("response", "output"): st.just([]),
    ("sequence_number",): st.integers(0, 10**6),
}

PLAIN = [
    Endpoint("chat", _client, _chat, _achat, payloads.chat, CHAT_EDITS),
    Endpoint("chat.tools", _client, _chat, _achat, payloads.chat_tools, CHAT_EDITS),
    Endpoint("chat.with_raw_response", _client, _chat_raw, _achat_raw, payloads.chat, CHAT_EDITS),
    Endpoint("completions", _client, _completion, _acompletion, payloads.completion, CHAT_EDITS),
    Endpoint(
        "embeddings", _client, _embeddings, _aembeddings, payloads.embeddings, EMBEDDING_EDITS
    ),
    Endpoint("responses", _client, _responses, _aresponses, payloads.responses, RESPONSES_EDITS),
]
STREAMS = [
    Endpoint(
        "chat.stream", _client, _chat_stream, _achat_stream, payloads.chat_stream, CHUNK_EDITS, True
    ),
    Endpoint(
        "chat.stream.tools",
        _client,
        _chat_stream,
        _achat_stream,
        payloads.chat_tool_stream,
        CHUNK_EDITS,
        True,
    ),
    Endpoint(
        "chat.stream()",
        _client,
        _chat_helper,
        _achat_helper,
        payloads.chat_stream,
        CHUNK_EDITS,
        True,
    ),
    Endpoint(
        "completions.stream",
        _client,
        _completion_stream,
        _acompletion_stream,
        payloads.completion_stream,
        CHUNK_EDITS,
        True,
    ),
    Endpoint(
        "responses.stream",
        _client,
        _responses_stream,
        _aresponses_stream,
        payloads.responses_stream,
        EVENT_EDITS,
        True,
    ),
    Endpoint(
        "responses.stream()",
        _client,
        _responses_helper,
        _aresponses_helper,
        payloads.responses_stream,
        EVENT_EDITS,
        True,
    ),
]
ALL = PLAIN + STREAMS


def _setup(data: st.DataObject, differential: Callable[..., Differential]) -> tuple[Any, bool]:
    """The runner with openai's instrumentor, a capture mode, sync or async."""
    return setup(data, differential, OpenAIInstrumentor())


# -- plain responses ----------------------------------------------------------------------
@pytest.mark.parametrize("endpoint", PLAIN, ids=repr)
@EXAMPLES
@given(data=st.data())
def test_odd_but_valid_responses(endpoint: Endpoint, data: st.DataObject,
                                 differential: Callable[..., Differential]) -> None:  # fmt: skip
    """Missing usage, None fields, empty choices, unknown finish reasons: same result, and
    otel-llm reads such well-formed payloads without a single swallowed error."""
    diff, asynchronous = _setup(data, differential)
    body = json.dumps(odd(data, endpoint.payload(), endpoint.edits)).encode()
    diff.check(endpoint.run(body, asynchronous=asynchronous), expect_no_errors=True)
    assert diff.spans == 1


@pytest.mark.parametrize("endpoint", PLAIN, ids=repr)
@EXAMPLES
@given(data=st.data())
def test_hostile_responses(endpoint: Endpoint, data: st.DataObject,
                           differential: Callable[..., Differential]) -> None:  # fmt: skip
    """Fields of unexpected types anywhere in the payload: the caller's result (or error)
    is unchanged; what otel-llm cannot read is swallowed and counted."""
    diff, asynchronous = _setup(data, differential)
    body = json.dumps(hostile(data, endpoint.payload())).encode()
    diff.check(endpoint.run(body, asynchronous=asynchronous))


RAW_BODIES = st.one_of(
    st.sampled_from([b"", b"null", b"[]", b"42", b'"text"', b"{}", b"<html>502</html>"]),
    st.binary(max_size=64),
)


@pytest.mark.parametrize("endpoint", ALL, ids=repr)
@EXAMPLES
@given(data=st.data())
def test_broken_bodies(endpoint: Endpoint, data: st.DataObject,
                       differential: Callable[..., Differential]) -> None:  # fmt: skip
    """Invalid JSON, truncated bodies, non-UTF-8 bytes, the wrong content type."""
    diff, asynchronous = _setup(data, differential)
    real = endpoint.payload()
    good = payloads.frame(real) if endpoint.streamed else json.dumps(real).encode()
    how = data.draw(st.sampled_from(["truncate", "garble", "raw"]), label="how")
    if how == "truncate":
        body = good[: data.draw(st.integers(0, len(good)), label="cut")]
    elif how == "garble":
        at = data.draw(st.integers(0, len(good)), label="at")
        junk = data.draw(st.sampled_from([b"\xff\xfe", b"\xc3", b"\x00", b"\xed\xa0\x80"]))
        body = good[:at] + junk + good[at:]
    else:
        body = data.draw(RAW_BODIES, label="body")
    kind = data.draw(st.sampled_from([None, JSON, SSE, "text/html", "application/octet-stream"]))
    diff.check(endpoint.run(body, content_type=kind, asynchronous=asynchronous))


ERROR_BODIES = st.sampled_from(
    [
        json.dumps({"error": {"message": "Rate limit", "type": "requests", "code": "rate"}}),
        json.dumps({"error": {"message": None, "type": 7}}),
        json.dumps({"error": "flat string"}),
        json.dumps({"detail": ["x"]}),
        "",
        "<html><body>Bad gateway</body></html>",
        "\udcff",
    ]
)


@pytest.mark.parametrize("endpoint", ALL, ids=repr)
@EXAMPLES
@given(data=st.data())
def test_http_error_statuses(endpoint: Endpoint, data: st.DataObject,
                             differential: Callable[..., Differential]) -> None:  # fmt: skip
    """4xx/5xx with JSON, HTML, empty or undecodable bodies: the same SDK exception."""
    diff, asynchronous = _setup(data, differential)
    status = data.draw(st.sampled_from([400, 401, 403, 404, 409, 413, 422, 429, 500, 502, 503]))
    text = data.draw(ERROR_BODIES, label="body")
    body = text.encode("utf-8", "surrogateescape")
    kind = data.draw(st.sampled_from([JSON, "text/html", SSE]), label="type")
    observed = diff.check(endpoint.run(body, status=status, content_type=kind,
                                       asynchronous=asynchronous))  # fmt: skip
    assert observed[0] == "raised", observed


# -- streams --------------------------------------------------------------------------------
@pytest.mark.parametrize("endpoint", STREAMS, ids=repr)
@EXAMPLES
@given(data=st.data())
def test_odd_but_valid_streams(endpoint: Endpoint, data: st.DataObject,
                               differential: Callable[..., Differential]) -> None:  # fmt: skip
    """Chunks with None fields, empty choices, unknown finish reasons; no usage chunk, no
    finish chunk, no ``[DONE]``: the same chunks reach the caller, with no telemetry error."""
    diff, asynchronous = _setup(data, differential)
    events = events_of(data, endpoint.payload(), lambda e: odd(data, e, endpoint.edits))
    body = payloads.frame(events)
    diff.check(endpoint.run(body, asynchronous=asynchronous), expect_no_errors=True)
    assert diff.spans == 1


@pytest.mark.parametrize("endpoint", STREAMS, ids=repr)
@EXAMPLES
@given(data=st.data())
def test_hostile_streams(endpoint: Endpoint, data: st.DataObject,
                         differential: Callable[..., Differential]) -> None:  # fmt: skip
    """Chunks with values of unexpected types, junk events and lines, error events, a body
    cut anywhere: the caller's chunks and exception are unchanged."""
    diff, asynchronous = _setup(data, differential)
    events = events_of(data, endpoint.payload(), lambda e: hostile(data, e))
    extra = data.draw(
        st.lists(
            st.tuples(
                st.integers(0, len(events)),
                st.sampled_from(
                    [
                        (None, "{not json"),
                        (None, {"error": {"message": "overloaded", "type": "server_error"}}),
                        ("error", {"type": "error", "code": "boom", "message": "it broke"}),
                        (None, {}),
                        (None, []),
                        (None, 17),
                        ("response.unknown.delta", {"type": "response.unknown.delta", "delta": 3}),
                        ("ping", ""),
                    ]
                ),
            ),
            max_size=2,
        ),
        label="inserted",
    )
    for at, event in sorted(extra, key=lambda pair: -pair[0]):
        events.insert(at, event)
    body = payloads.frame(events)
    if data.draw(st.booleans(), label="cut?"):
        body = body[: data.draw(st.integers(0, len(body)), label="cut")]
    diff.check(endpoint.run(body, asynchronous=asynchronous))


# -- odd request parameters ------------------------------------------------------------------
ANY = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**64), 2**64),
    st.floats(),
    st.text(max_size=8),
    st.lists(st.one_of(st.integers(), st.text(max_size=4)), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)
PARTS = st.lists(
    st.one_of(
        st.fixed_dictionaries({"type": st.just("text"), "text": ODD_TEXT}),
        st.fixed_dictionaries({"type": st.sampled_from(["image_url", "input_audio", "x"])}),
        ANY,
    ),
    max_size=3,
)
REQUEST_MESSAGES = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {"role": st.sampled_from(["user", "system", "assistant", "tool", "developer", ""])},
            optional={
                "content": st.one_of(ODD_TEXT, st.none(), PARTS, ANY),
                "tool_calls": st.one_of(st.just([]), ANY),
                "tool_call_id": ANY,
            },
        ),
        ANY,
    ),
    max_size=3,
)
CHAT_PARAMS = st.fixed_dictionaries(
    {"model": st.one_of(st.just("gpt-4o-mini"), ODD_TEXT, st.just("m" * 10_000))},
    optional={
        "messages": REQUEST_MESSAGES,
        "temperature": ANY,
        "top_p": ANY,
        "max_tokens": ANY,
        "max_completion_tokens": ANY,
        "n": ANY,
        "stop": ANY,
        "seed": ANY,
        "frequency_penalty": ANY,
        "presence_penalty": ANY,
        "response_format": st.one_of(ANY, st.fixed_dictionaries({"type": ODD_TEXT})),
    },
)


@EXAMPLES
@given(data=st.data(), params=CHAT_PARAMS)
def test_odd_request_parameters(data: st.DataObject, params: dict[str, Any],
                                differential: Callable[..., Differential]) -> None:  # fmt: skip
    """Request parameters of any type (the SDK sends them unchecked), odd messages and
    model names: the caller gets the same response or error, and otel-llm records the
    call without a telemetry error."""
    diff, asynchronous = _setup(data, differential)
    params.setdefault("messages", MESSAGES)
    body = json.dumps(payloads.chat()).encode()

    def call(c: Any) -> Any:
        return snapshot(c.chat.completions.create(**params))

    async def acall(c: Any) -> Any:
        return snapshot(await c.chat.completions.create(**params))

    endpoint = Endpoint("chat", _client, call, acall, payloads.chat, {})
    diff.check(endpoint.run(body, asynchronous=asynchronous), expect_no_errors=True)
    model = params["model"]
    assert diff.spans == (1 if isinstance(model, str) and model else 0)


@pytest.mark.parametrize("bad", [-3, 1.5, [1], {"n": 1}])  # what the SDK passes through
def test_an_unreadable_count_loses_only_itself(
    bad: Any, differential: Callable[..., Differential]
) -> None:
    """A token count of the wrong type or sign is left out (and counted); the rest of the
    response (model, id, finish reason, the other counts) is still on the span."""
    body = payloads.chat()
    body["usage"]["prompt_tokens"] = bad
    diff = differential(OpenAIInstrumentor())
    diff.check(Endpoint("chat", _client, _chat, _achat, payloads.chat, {}).run(
        json.dumps(body).encode()))  # fmt: skip
    (span,) = [s for s in diff.capture.spans() if s.instrumentation_scope.name == "otel_llm"]
    attributes = dict(span.attributes or {})
    assert "gen_ai.usage.input_tokens" not in attributes
    assert attributes["gen_ai.usage.output_tokens"] == body["usage"]["completion_tokens"]
    assert attributes["gen_ai.response.model"] == body["model"]
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert diff.counted() == 1
