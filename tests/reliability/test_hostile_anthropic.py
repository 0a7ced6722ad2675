"""Hostile and odd Anthropic Messages payloads: the caller sees what it sees without otel-llm.

The real anthropic SDK over ``MockTransport``, uninstrumented and instrumented (see
``conftest.Differential``): ``messages.create`` plain, with ``stream=True`` and through
``with_raw_response``, and the ``messages.stream()`` helper, sync and async. Payloads start
from a realistic message (text, tool use, usage with cache counts) and stream
(``message_start`` ... ``message_stop``), mutated by hypothesis.
"""

from __future__ import annotations

import copy
import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import anthropic._base_client
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otel_llm.instrumentation.anthropic import AnthropicInstrumentor
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
    frame,
    hostile,
    odd,
    setup,
    snapshot,
)

HTTP = importlib.import_module(
    "httpx2" if "\nimport httpx2" in Path(anthropic._base_client.__file__).read_text() else "httpx"
)
MODEL = "claude-haiku-4-5"
MESSAGES = [{"role": "user", "content": "Say this is a test"}]
EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

MESSAGE: dict[str, Any] = {
    "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
    "type": "message",
    "role": "assistant",
    "model": "claude-haiku-4-5-20251001",
    "content": [
        {"type": "text", "text": "Let me check the weather."},
        {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 12,
        "output_tokens": 7,
        "cache_read_input_tokens": 1024,
        "cache_creation_input_tokens": 200,
    },
}


def _stream_events() -> list[tuple[str | None, Any]]:
    """A streamed message: text deltas, a tool_use block, stop reason and usage."""
    start = {**copy.deepcopy(MESSAGE), "content": [], "stop_reason": None}
    start["usage"] = {**start["usage"], "output_tokens": 1}
    text_delta = [
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": piece},
            },
        )
        for piece in ["Let", " me", " check."]
    ]
    tool = {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {}}
    return [
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
        *text_delta,
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("content_block_start", {"type": "content_block_start", "index": 1, "content_block": tool}),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": '{"city": "Paris"}'},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 1}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                "usage": {"output_tokens": 9},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]


def _client(body: bytes, status: int, content_type: str, asynchronous: bool) -> Any:
    def handler(request: Any) -> Any:
        return HTTP.Response(status, headers={"content-type": content_type}, content=body)

    transport = HTTP.MockTransport(handler)
    cls, http = (
        (anthropic.AsyncAnthropic, HTTP.AsyncClient)
        if asynchronous
        else (anthropic.Anthropic, HTTP.Client)
    )
    return cls(
        api_key="sk-ant-test",
        base_url="https://api.anthropic.com",
        http_client=http(transport=transport),
        max_retries=0,
    )


REQUEST = {"model": MODEL, "max_tokens": 256, "messages": MESSAGES}


def _create(c: Any) -> Any:
    return snapshot(c.messages.create(**REQUEST))


async def _acreate(c: Any) -> Any:
    return snapshot(await c.messages.create(**REQUEST))


def _raw(c: Any) -> Any:
    return snapshot(c.messages.with_raw_response.create(**REQUEST).parse())


async def _araw(c: Any) -> Any:
    raw = await c.messages.with_raw_response.create(**REQUEST)
    return snapshot(await raw.parse())


def _stream(c: Any) -> Any:
    return drain(c.messages.create(**REQUEST, stream=True))


async def _astream(c: Any) -> Any:
    return await adrain(await c.messages.create(**REQUEST, stream=True))


def _helper(c: Any) -> Any:
    with c.messages.stream(**REQUEST) as s:
        return [*drain(s), final(s.get_final_message)]


async def _ahelper(c: Any) -> Any:
    async with c.messages.stream(**REQUEST) as s:
        return [*await adrain(s), await afinal(s.get_final_message)]


NULLABLE = st.one_of(st.just(DELETE), st.none())
MESSAGE_EDITS: dict[tuple[Any, ...], Any] = {
    ("id",): ODD_TEXT,
    ("model",): ODD_TEXT,
    ("content",): st.just([]),
    ("content", 0, "text"): ODD_TEXT,
    ("content", 1, "name"): ODD_TEXT,
    ("content", 1, "input"): st.just({}),
    ("stop_reason",): FINISH | st.none(),
    ("stop_sequence",): ODD_TEXT | st.none(),
    ("usage", "input_tokens"): COUNT,
    ("usage", "output_tokens"): COUNT,
    ("usage", "cache_read_input_tokens"): COUNT | NULLABLE,
    ("usage", "cache_creation_input_tokens"): COUNT | NULLABLE,
}
EVENT_EDITS: dict[tuple[Any, ...], Any] = {
    ("message", "model"): ODD_TEXT,
    ("message", "id"): ODD_TEXT,
    ("message", "usage", "cache_read_input_tokens"): NULLABLE | COUNT,
    ("message", "usage", "input_tokens"): COUNT,
    ("delta", "text"): ODD_TEXT,
    ("delta", "partial_json"): ODD_TEXT,
    ("delta", "stop_reason"): FINISH | st.none(),
    ("usage", "output_tokens"): COUNT,
    ("usage",): st.just({}),
    ("index",): st.integers(0, 5),
}

PLAIN = [
    Endpoint("messages.create", _client, _create, _acreate, lambda: MESSAGE, MESSAGE_EDITS),
    Endpoint("with_raw_response", _client, _raw, _araw, lambda: MESSAGE, MESSAGE_EDITS),
]
STREAMS = [
    Endpoint("create(stream=True)", _client, _stream, _astream, _stream_events, EVENT_EDITS, True),
    Endpoint("messages.stream()", _client, _helper, _ahelper, _stream_events, EVENT_EDITS, True),
]
ALL = PLAIN + STREAMS


def _setup(data: st.DataObject, differential: Callable[..., Differential]) -> tuple[Any, bool]:
    """The runner with anthropic's instrumentor, a capture mode, sync or async."""
    return setup(data, differential, AnthropicInstrumentor())


@pytest.mark.parametrize("endpoint", PLAIN, ids=repr)
@EXAMPLES
@given(data=st.data())
def test_odd_but_valid_messages(endpoint: Endpoint, data: st.DataObject,
                                differential: Callable[..., Differential]) -> None:  # fmt: skip
    """Missing or None usage parts, empty content, unknown stop reasons: same message, and
    no telemetry error."""
    diff, asynchronous = _setup(data, differential)
    body = json.dumps(odd(data, MESSAGE, endpoint.edits)).encode()
    diff.check(endpoint.run(body, asynchronous=asynchronous), expect_no_errors=True)
    assert diff.spans >= 1


@pytest.mark.parametrize("endpoint", PLAIN, ids=repr)
@EXAMPLES
@given(data=st.data())
def test_hostile_messages(endpoint: Endpoint, data: st.DataObject,
                          differential: Callable[..., Differential]) -> None:  # fmt: skip
    """Fields of unexpected types anywhere: same result or error; failures counted."""
    diff, asynchronous = _setup(data, differential)
    body = json.dumps(hostile(data, MESSAGE)).encode()
    diff.check(endpoint.run(body, asynchronous=asynchronous))


@pytest.mark.parametrize("endpoint", ALL, ids=repr)
@EXAMPLES
@given(data=st.data())
def test_broken_bodies_and_statuses(endpoint: Endpoint, data: st.DataObject,
                                    differential: Callable[..., Differential]) -> None:  # fmt: skip
    """Truncated or garbled bodies, non-UTF-8 bytes, HTTP error statuses with odd bodies."""
    diff, asynchronous = _setup(data, differential)
    real = endpoint.payload()
    good = frame(real) if endpoint.streamed else json.dumps(real).encode()
    status = data.draw(st.sampled_from([200, 200, 400, 401, 404, 413, 429, 500, 529]))
    how = data.draw(st.sampled_from(["truncate", "garble", "raw", "error"]), label="how")
    if how == "truncate":
        body = good[: data.draw(st.integers(0, len(good)), label="cut")]
    elif how == "garble":
        at = data.draw(st.integers(0, len(good)), label="at")
        body = good[:at] + data.draw(st.sampled_from([b"\xff", b"\xc3", b"\x00"])) + good[at:]
    elif how == "error":
        err = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
        body = json.dumps(hostile(data, err)).encode()
    else:
        body = data.draw(
            st.sampled_from([b"", b"null", b"[]", b"<html/>"]) | st.binary(max_size=32)
        )
    kind = data.draw(st.sampled_from([None, JSON, SSE, "text/html"]), label="type")
    diff.check(endpoint.run(body, status=status, content_type=kind, asynchronous=asynchronous))


@pytest.mark.parametrize("endpoint", STREAMS, ids=repr)
@EXAMPLES
@given(data=st.data())
def test_odd_but_valid_streams(endpoint: Endpoint, data: st.DataObject,
                               differential: Callable[..., Differential]) -> None:  # fmt: skip
    """Events dropped (no message_delta, no message_stop, no usage) or with odd values:
    same events and final message, no telemetry error."""
    diff, asynchronous = _setup(data, differential)
    events = events_of(data, _stream_events(), lambda e: odd(data, e, EVENT_EDITS))
    diff.check(endpoint.run(frame(events), asynchronous=asynchronous), expect_no_errors=True)
    assert diff.spans >= 1


@pytest.mark.parametrize("endpoint", STREAMS, ids=repr)
@EXAMPLES
@given(data=st.data())
def test_hostile_streams(endpoint: Endpoint, data: st.DataObject,
                         differential: Callable[..., Differential]) -> None:  # fmt: skip
    """Events of unexpected types and shapes, an ``error`` event, junk, a cut body."""
    diff, asynchronous = _setup(data, differential)
    events = events_of(data, _stream_events(), lambda e: hostile(data, e))
    extra = data.draw(
        st.lists(
            st.tuples(
                st.integers(0, len(events)),
                st.sampled_from(
                    [
                        (
                            "error",
                            {
                                "type": "error",
                                "error": {"type": "overloaded_error", "message": "Overloaded"},
                            },
                        ),
                        ("message_delta", {"type": "message_delta", "delta": None}),
                        ("content_block_delta", {"type": "content_block_delta", "index": 9}),
                        ("unknown_event", {"type": "unknown_event"}),
                        ("content_block_delta", "{not json"),
                        (None, "[]"),
                    ]
                ),
            ),
            max_size=2,
        ),
        label="inserted",
    )
    for at, event in sorted(extra, key=lambda pair: -pair[0]):
        events.insert(at, event)
    body = frame(events)
    if data.draw(st.booleans(), label="cut?"):
        body = body[: data.draw(st.integers(0, len(body)), label="cut")]
    diff.check(endpoint.run(body, asynchronous=asynchronous))


ANY = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**64), 2**64),
    st.floats(),
    st.text(max_size=8),
    st.lists(st.one_of(st.integers(), st.text(max_size=4)), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)
BLOCKS = st.lists(
    st.one_of(
        st.fixed_dictionaries({"type": st.just("text"), "text": ODD_TEXT}),
        st.fixed_dictionaries({"type": st.just("tool_result"), "tool_use_id": ANY, "content": ANY}),
        st.fixed_dictionaries({"type": st.sampled_from(["image", "thinking", "x"])}),
        ANY,
    ),
    max_size=3,
)
PARAMS = st.fixed_dictionaries(
    {
        "model": st.one_of(st.just(MODEL), ODD_TEXT),
        "max_tokens": st.one_of(st.just(256), ANY),
        "messages": st.one_of(
            st.just(MESSAGES),
            st.lists(
                st.one_of(
                    st.fixed_dictionaries(
                        {"role": st.sampled_from(["user", "assistant", "", "x"])},
                        optional={"content": st.one_of(ODD_TEXT, BLOCKS, ANY)},
                    ),
                    ANY,
                ),
                max_size=3,
            ),
        ),
    },
    optional={
        "system": st.one_of(ODD_TEXT, BLOCKS, ANY),
        "temperature": ANY,
        "top_p": ANY,
        "top_k": ANY,
        "stop_sequences": ANY,
    },
)


@EXAMPLES
@given(data=st.data(), params=PARAMS, stream=st.booleans())
def test_odd_request_parameters(data: st.DataObject, params: dict[str, Any], stream: bool,
                                differential: Callable[..., Differential]) -> None:  # fmt: skip
    """Request parameters of any type, odd system prompts, messages and content blocks:
    the caller gets the same message (or events) or the same error, and otel-llm records
    the call without a telemetry error."""
    diff, asynchronous = _setup(data, differential)
    body = frame(_stream_events()) if stream else json.dumps(MESSAGE).encode()

    def call(c: Any) -> Any:
        if stream:
            return drain(c.messages.create(**params, stream=True))
        return snapshot(c.messages.create(**params))

    async def acall(c: Any) -> Any:
        if stream:
            return await adrain(await c.messages.create(**params, stream=True))
        return snapshot(await c.messages.create(**params))

    endpoint = Endpoint("messages", _client, call, acall, lambda: MESSAGE, {}, stream)
    diff.check(endpoint.run(body, asynchronous=asynchronous), expect_no_errors=True)
    model = params["model"]
    assert diff.spans == (1 if isinstance(model, str) and model else 0)
