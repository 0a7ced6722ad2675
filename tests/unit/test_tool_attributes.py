"""tool(), attributes() and stream outcomes (production-service telemetry)."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest
from opentelemetry.trace import SpanKind

import otel_llm
from otel_llm.testing import Capture


def test_tool_context_manager(otel_capture: Capture) -> None:
    """tool() emits the semconv execute_tool span and a duration by tool name."""
    with otel_llm.tool("get_weather", call_id="call_1") as t:
        t.set_arguments({"city": "Paris"})
    span = otel_capture.span("execute_tool get_weather")
    assert span.kind is SpanKind.INTERNAL
    assert dict(span.attributes or {}) == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "get_weather",
        "gen_ai.tool.type": "function",
        "gen_ai.tool.call.id": "call_1",
    }, "arguments are content: not recorded by default"
    assert (
        otel_capture.histogram_count("otel_llm.tool.duration", gen_ai_tool_name="get_weather") == 1
    )


async def test_tool_decorator_sync_and_async(otel_capture: Capture) -> None:
    """@tool decorates sync and async functions; errors get error.type."""

    @otel_llm.tool("lookup")
    def lookup(key: str) -> str:
        raise KeyError(key)

    @otel_llm.tool("search")
    async def search(q: str) -> list[str]:
        await asyncio.sleep(0)
        return [q]

    with pytest.raises(KeyError):
        lookup("x")
    assert await search("otel") == ["otel"]
    assert (otel_capture.span("execute_tool lookup").attributes or {})["error.type"] == "KeyError"
    assert otel_capture.span("execute_tool search").status.is_ok
    failed = otel_capture.metric_points("otel_llm.tool.duration", error_type="KeyError")
    assert [p.attributes["gen_ai.tool.name"] for p in failed] == ["lookup"]


def test_attributes_reach_spans_but_ids_never_metrics(otel_capture: Capture) -> None:
    """Conversation/user ids land on spans; only `feature` becomes a metric attribute."""
    with otel_llm.attributes(conversation_id="conv-1", user_id="u-42", feature="summarise"):
        with otel_llm.generation(model="m", provider="p") as g:
            g.set_response(input_tokens=3, output_tokens=1)
    attrs = otel_capture.span("chat m").attributes or {}
    assert attrs["gen_ai.conversation.id"] == "conv-1"
    assert attrs["user.id"] == "u-42"
    assert attrs["otel_llm.feature"] == "summarise"
    for name in ("gen_ai.client.operation.duration", "gen_ai.client.token.usage"):
        for point in otel_capture.metric_points(name):
            assert point.attributes["otel_llm.feature"] == "summarise"
            assert "user.id" not in point.attributes
            assert "gen_ai.conversation.id" not in point.attributes


async def test_attributes_follow_await_and_copied_threads(otel_capture: Capture) -> None:
    """Attributes cross `await` and threads started with a copied context, and are scoped."""

    def in_thread() -> None:
        with otel_llm.tool("t"):
            pass

    async with otel_llm.attributes(conversation_id="c-7"):
        await asyncio.sleep(0)
        with otel_llm.cache_lookup("c") as c:
            c.hit()
        ctx = contextvars.copy_context()
        thread = threading.Thread(target=ctx.run, args=(in_thread,))
        thread.start()
        thread.join()
    with otel_llm.cache_lookup("after") as c:
        c.miss()
    assert (otel_capture.span("cache.lookup c").attributes or {})["gen_ai.conversation.id"] == "c-7"
    assert (otel_capture.span("execute_tool t").attributes or {})["gen_ai.conversation.id"] == "c-7"
    assert "gen_ai.conversation.id" not in (
        otel_capture.span("cache.lookup after").attributes or {}
    )


def test_attribute_values_are_validated() -> None:
    """Objects and over-long values are rejected at the call."""
    with pytest.raises(ValueError, match=r"user\.id must be a str"):
        otel_llm.attributes(user_id=object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="longer than 256"):
        otel_llm.attributes(feature="x" * 300)


def test_stream_outcomes_counter(otel_capture: Capture) -> None:
    """Every finished stream is counted once by outcome, also when it dies before a chunk."""
    with otel_llm.stream(model="m", provider="p") as s:
        s.chunk("a")
    with pytest.raises(ConnectionError), otel_llm.stream(model="m", provider="p"):
        raise ConnectionError
    with otel_llm.stream(model="m", provider="p").wrap(iter("ab")) as it:
        for _ in it:
            break
    outcomes = {
        p.attributes["otel_llm.stream.outcome"]: p.value
        for p in otel_capture.metric_points("otel_llm.stream.outcomes")
    }
    assert outcomes == {"completed": 1, "error": 1, "cancelled": 1}
