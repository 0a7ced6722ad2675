"""The stream lifecycle contract: every exit path ends the span exactly once, correctly."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Iterator

import pytest
from opentelemetry.trace import StatusCode

import otel_llm
from otel_llm.testing import Capture

NAME = "chat m"


class ProducerError(Exception):
    """Raised by a test producer."""


class ConsumerError(Exception):
    """Raised by a test consumer."""


def produce(n: int = 3, fail_at: int | None = None) -> Iterator[str]:
    for i in range(n):
        if i == fail_at:
            raise ProducerError("boom")
        yield f"tok{i}"


async def aproduce(n: int = 3, fail_at: int | None = None) -> AsyncIterator[str]:
    for i in range(n):
        await asyncio.sleep(0)
        if i == fail_at:
            raise ProducerError("boom")
        yield f"tok{i}"


def new_stream() -> otel_llm.Stream:
    return otel_llm.stream(model="m", provider="p")


def assert_outcome(cap: Capture, error_type: str | None, chunks: int) -> None:
    spans = cap.spans(NAME)
    assert len(spans) == 1, "the span must end exactly once"
    span = spans[0]
    attrs = span.attributes or {}
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["otel_llm.stream.chunks"] == chunks
    if error_type is None:
        assert span.status.status_code is StatusCode.UNSET
        assert "error.type" not in attrs
    else:
        assert span.status.status_code is StatusCode.ERROR
        assert attrs["error.type"] == error_type
        assert attrs["gen_ai.response.finish_reasons"] == ("error",)
    assert cap.metric_sum("otel_llm.stream.active") == 0
    duration = cap.metric_points("gen_ai.client.operation.duration")
    assert sum(p.count or 0 for p in duration) == 1
    if error_type is not None:
        assert duration[0].attributes["error.type"] == error_type


@pytest.fixture(autouse=True)
def _no_detach_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail any test that makes OpenTelemetry log 'Failed to detach context'."""
    with caplog.at_level(logging.ERROR, logger="opentelemetry.context"):
        yield
    assert not [r for r in caplog.records if "Failed to detach context" in r.getMessage()]


def test_exhausted(otel_capture: Capture) -> None:
    """A fully consumed wrapped stream ends OK with its chunk count."""
    assert list(new_stream().wrap(produce())) == ["tok0", "tok1", "tok2"]
    assert_outcome(otel_capture, None, 3)


def test_producer_exception(otel_capture: Capture) -> None:
    """An exception from the producer propagates unchanged and is the error.type."""
    with pytest.raises(ProducerError, match="boom"):
        list(new_stream().wrap(produce(fail_at=1)))
    assert_outcome(otel_capture, "ProducerError", 1)


def test_consumer_exception_inside_with(otel_capture: Capture) -> None:
    """An exception raised by the consumer inside `with proxy` is recorded and re-raised."""
    with pytest.raises(ConsumerError), new_stream().wrap(produce()) as it:
        for _ in it:
            raise ConsumerError("consumer")
    assert_outcome(otel_capture, "ConsumerError", 1)


def test_break_inside_with(otel_capture: Capture) -> None:
    """Breaking out of a `with` block early is an abort, never a silent OK."""
    with new_stream().wrap(produce()) as it:
        for _ in it:
            break
    assert_outcome(otel_capture, "cancelled", 1)


def test_explicit_close(otel_capture: Capture) -> None:
    """close() on the proxy closes the producer and ends the span as cancelled."""
    gen = produce()
    it = new_stream().wrap(gen)
    next(it)
    it.close()  # type: ignore[attr-defined]
    assert gen.gi_frame is None, "the wrapped generator was closed"
    assert_outcome(otel_capture, "cancelled", 1)


def test_generator_exit_in_consumer_generator(otel_capture: Capture) -> None:
    """A consuming generator closed mid-way (GeneratorExit) ends the stream as aborted."""

    def relay() -> Iterator[str]:
        with new_stream().wrap(produce()) as it:
            yield from it

    consumer = relay()
    next(consumer)
    consumer.close()
    assert_outcome(otel_capture, "cancelled", 1)


def test_garbage_collected(otel_capture: Capture) -> None:
    """An abandoned proxy is finalised by the GC as `abandoned` and counted."""
    it = new_stream().wrap(produce())
    next(it)
    del it
    gc.collect()
    assert_outcome(otel_capture, "abandoned", 1)
    assert otel_capture.metric_sum("otel_llm.stream.gc_finalized") == 1


def test_proxy_keeps_wrapped_attributes(otel_capture: Capture) -> None:
    """Attributes of the wrapped object stay reachable through the proxy."""

    class SdkStream:
        response = "http-response"

        def __init__(self) -> None:
            self._it = iter(["a", "b"])

        def __iter__(self) -> SdkStream:
            return self

        def __next__(self) -> str:
            return next(self._it)

    it = new_stream().wrap(SdkStream())
    assert it.response == "http-response"  # type: ignore[attr-defined]
    assert list(it) == ["a", "b"]
    assert_outcome(otel_capture, None, 2)


def test_ttft_and_chunk_gaps(otel_capture: Capture) -> None:
    """TTFT is recorded once, each later chunk records one inter-chunk gap."""
    with otel_llm.stream(model="m", provider="p") as s:
        for _ in range(5):
            s.chunk("x")
    span = otel_capture.span(NAME)
    assert (span.attributes or {})["gen_ai.response.time_to_first_chunk"] >= 0
    assert otel_capture.histogram_count("gen_ai.client.operation.time_to_first_chunk") == 1
    assert otel_capture.histogram_count("gen_ai.client.operation.time_per_output_chunk") == 4


def test_token_counts_from_int_chunks(otel_capture: Capture) -> None:
    """Integer chunks are exact token counts and become the output usage."""
    with otel_llm.stream(model="m", provider="p") as s:
        s.chunk(3)
        s.chunk(4)
    assert otel_capture.metric_sum("gen_ai.client.token.usage", gen_ai_token_type="output") == 7


def test_text_chunks_do_not_invent_usage(otel_capture: Capture) -> None:
    """Text chunks without reported usage never invent a token-usage metric."""
    with otel_llm.stream(model="m", provider="p") as s:
        s.chunk("a")
        s.chunk("b")
    assert otel_capture.metric_points("gen_ai.client.token.usage") == []


def test_chunk_after_end_is_a_caller_error(otel_capture: Capture) -> None:
    """chunk() after the stream ended raises RuntimeError and the span stays well-formed."""
    with otel_llm.stream(model="m", provider="p") as s:
        s.chunk("a")
    with pytest.raises(RuntimeError, match="after the stream ended"):
        s.chunk("b")
    with pytest.raises(ValueError):
        otel_llm.stream(model="m", provider="p").chunk(-1)
    assert_outcome(otel_capture, None, 1)


async def test_async_exhausted(otel_capture: Capture) -> None:
    """A fully consumed async stream ends OK."""
    assert [x async for x in new_stream().awrap(aproduce())] == ["tok0", "tok1", "tok2"]
    assert_outcome(otel_capture, None, 3)


async def test_async_producer_exception(otel_capture: Capture) -> None:
    """An async producer's exception propagates unchanged."""
    with pytest.raises(ProducerError):
        async for _ in new_stream().awrap(aproduce(fail_at=2)):
            pass
    assert_outcome(otel_capture, "ProducerError", 2)


async def test_async_break_inside_async_with(otel_capture: Capture) -> None:
    """Breaking out of `async with` is recorded as cancelled."""
    async with new_stream().awrap(aproduce()) as it:
        async for _ in it:
            break
    assert_outcome(otel_capture, "cancelled", 1)


async def test_async_consumer_exception(otel_capture: Capture) -> None:
    """A consumer exception inside `async with` is the error.type."""
    with pytest.raises(ConsumerError):
        async with new_stream().awrap(aproduce()) as it:
            async for _ in it:
                raise ConsumerError
    assert_outcome(otel_capture, "ConsumerError", 1)


async def test_async_aclose(otel_capture: Capture) -> None:
    """aclose() closes the producer and ends the span as cancelled."""
    it = new_stream().awrap(aproduce())
    await it.__anext__()
    await it.aclose()  # type: ignore[attr-defined]
    assert_outcome(otel_capture, "cancelled", 1)


async def test_async_task_cancellation(otel_capture: Capture) -> None:
    """Cancelling the consuming task ends the stream as cancelled and re-raises."""
    started = asyncio.Event()

    async def slow() -> AsyncIterator[str]:
        yield "first"
        started.set()
        await asyncio.sleep(3600)
        yield "never"

    async def consume() -> None:
        async for _ in new_stream().awrap(slow()):
            pass

    task = asyncio.create_task(consume())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert_outcome(otel_capture, "cancelled", 1)


async def test_async_garbage_collected(otel_capture: Capture) -> None:
    """An abandoned async proxy is finalised as `abandoned`."""
    it = new_stream().awrap(aproduce())
    await it.__anext__()
    del it
    gc.collect()
    assert_outcome(otel_capture, "abandoned", 1)


async def test_manual_async_with(otel_capture: Capture) -> None:
    """`async with stream()` with chunk() calls ends OK and restores the context."""
    async with otel_llm.stream(model="m", provider="p") as s:
        s.chunk("a")
        assert otel_llm.current_trace_id() is not None
    assert otel_llm.current_trace_id() is None
    assert_outcome(otel_capture, None, 1)


async def test_thousand_concurrent_streams(otel_capture: Capture) -> None:
    """1,000 concurrent async streams each get their own span under the right parent."""

    async def one(i: int) -> None:
        with otel_llm.route(f"r{i % 10}") as r:
            async for _ in otel_llm.stream(model=f"m{i}", provider="p").awrap(aproduce(2)):
                await asyncio.sleep(0)
            r.select(f"m{i}")

    await asyncio.gather(*(one(i) for i in range(1000)))
    routes = {s.context.span_id: s for s in otel_capture.spans() if s.name.startswith("route")}
    streams = [s for s in otel_capture.spans() if s.name.startswith("chat ")]
    assert len(streams) == 1000 and len(routes) == 1000
    for span in streams:
        assert span.parent is not None
        parent = routes[span.parent.span_id]
        model = (span.attributes or {})["gen_ai.request.model"]
        assert (parent.attributes or {})["otel_llm.route.selected_model"] == model
    assert otel_capture.metric_sum("otel_llm.stream.active") == 0
