"""@traced on functions, coroutines, generators and async generators."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from opentelemetry.trace import StatusCode

import otel_llm
from otel_llm.testing import Capture


@otel_llm.traced
def plan(x: int) -> int:
    with otel_llm.generation(model="m", provider="p"):
        return x * 2


@otel_llm.traced(name="fetch", attributes={"feature": "search"})
async def fetch(x: int) -> int:
    await asyncio.sleep(0)
    return x + 1


@otel_llm.traced
def numbers(n: int) -> Iterator[int]:
    for i in range(n):
        with otel_llm.tokenize("count", tokenizer="t") as t:
            t.set_tokens(i)
        yield i


@otel_llm.traced
async def anumbers(n: int) -> AsyncIterator[int]:
    for i in range(n):
        await asyncio.sleep(0)
        yield i


def test_sync_function_nests_children(otel_capture: Capture) -> None:
    """A traced function's span is the parent of spans made inside it."""
    assert plan(2) == 4
    outer = otel_capture.span("plan")
    assert [c.name for c in otel_capture.children(outer)] == ["chat m"]


async def test_async_function_with_name_and_attributes(otel_capture: Capture) -> None:
    """@traced(name=, attributes=) on a coroutine."""
    assert await fetch(1) == 2
    span = otel_capture.span("fetch")
    assert (span.attributes or {})["feature"] == "search"


def test_generator_span_covers_iteration(otel_capture: Capture) -> None:
    """A traced generator's span covers the whole iteration and parents inner spans."""
    assert list(numbers(3)) == [0, 1, 2]
    outer = otel_capture.span("numbers")
    assert len(otel_capture.children(outer)) == 3
    assert outer.status.status_code is StatusCode.UNSET


def test_generator_closed_early_is_cancelled(otel_capture: Capture) -> None:
    """Closing a traced generator early records error.type=cancelled."""
    gen = numbers(5)
    next(gen)
    gen.close()
    span = otel_capture.span("numbers")
    assert (span.attributes or {})["error.type"] == "cancelled"


async def test_async_generator(otel_capture: Capture) -> None:
    """A traced async generator ends OK when exhausted."""
    assert [i async for i in anumbers(3)] == [0, 1, 2]
    assert otel_capture.span("anumbers").status.status_code is StatusCode.UNSET


def test_exception_passes_through(otel_capture: Capture) -> None:
    """Exceptions from a traced function propagate unchanged."""

    @otel_llm.traced
    def broken() -> None:
        raise KeyError("k")

    with pytest.raises(KeyError):
        broken()
    assert (otel_capture.span("test_exception_passes_through.<locals>.broken").attributes or {})[
        "error.type"
    ] == "KeyError"
