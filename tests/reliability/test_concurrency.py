"""Concurrency: many requests at once, each with its own spans, attributes and metric points.

Every request (an asyncio task or a thread iteration) opens its own root span carrying a
unique marker (``test.request``) and sets ``otel_llm.attributes(user_id=marker,
feature=...)``. Afterwards every otel-llm span must sit in its request's trace under the
right parent and carry its request's ``user.id``; metric points per feature must add up
exactly to what that feature's requests produced (each feature answers with its own token
counts, so a point recorded under another request's feature shows up as a wrong sum);
OpenTelemetry must not log "Failed to detach context"; the open-streams counter must be
back at 0 and no telemetry error may have been swallowed.

The real ``openai`` SDK is answered at its transport (``MockTransport``) with a recorded
chat stream, re-chunked per request; tiktoken is the real library, instrumented.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import json
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan

import otel_llm
from otel_llm import semconv
from otel_llm._offline import offline_encoding
from otel_llm.instrumentation.openai import OpenAIInstrumentor
from otel_llm.instrumentation.tiktoken import TiktokenInstrumentor
from otel_llm.testing import Capture
from tests.instrumentation.conftest import openai_client, openai_http
from tests.reliability import _openai_payloads as payloads
from tests.reliability.conftest import FIGURES

MARKER = "test.request"
FEATURES = 16
STREAMS = int(os.environ.get("OTEL_LLM_TEST_STREAMS", "10000"))
THREADS = 32
PER_THREAD = 40
_tracer = trace.get_tracer("tests.reliability.concurrency")


def output_tokens(feature: int) -> int:
    """The completion tokens every request of ``feature`` is answered with (distinct)."""
    return 3 + feature


def input_tokens(feature: int) -> int:
    """The prompt tokens every request of ``feature`` is answered with (distinct)."""
    return 100 + 7 * feature


@pytest.fixture(autouse=True)
def _no_detach_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail the test if OpenTelemetry logs anything at ERROR about its context."""
    with caplog.at_level(logging.ERROR, logger="opentelemetry.context"):
        yield
    errors = [r.getMessage() for r in caplog.records if r.name.startswith("opentelemetry.context")]
    assert errors == [], errors[:3]


@pytest.fixture
def instrumented() -> Iterator[None]:
    """openai and tiktoken instrumented for one test; uninstrumented afterwards."""
    openai_inst, tiktoken_inst = OpenAIInstrumentor(), TiktokenInstrumentor()
    openai_inst.instrument()
    tiktoken_inst.instrument()
    try:
        yield
    finally:
        openai_inst.uninstrument()
        tiktoken_inst.uninstrument()


# -- the fake provider ------------------------------------------------------------------------
def _request_of(request: Any) -> tuple[str, int]:
    """The marker and feature a request's prompt names (``"<marker> <feature>"``)."""
    body = json.loads(request.content)
    marker, feature = body["messages"][-1]["content"].split()
    return marker, int(feature)


@functools.cache
def _recorded() -> list[tuple[str | None, Any]]:
    """The recorded chat stream's events (the cassette is read once)."""
    return payloads.chat_stream()


def _chunks(marker: str, feature: int) -> list[bytes]:
    """The recorded chat stream as SSE events, with this request's id and usage."""
    events = []
    for name, data in _recorded():
        if isinstance(data, dict):
            data = copy.deepcopy(data)
            data["id"] = f"chatcmpl-{marker}"
            if data.get("usage"):
                data["usage"].update(
                    prompt_tokens=input_tokens(feature),
                    completion_tokens=output_tokens(feature),
                    total_tokens=input_tokens(feature) + output_tokens(feature),
                )
        events.append(payloads.frame([(name, data)]))
    return events


async def _async_handler(request: Any) -> Any:
    """Answer a chat stream one SSE event per read, yielding to the loop in between."""
    marker, feature = _request_of(request)
    events = _chunks(marker, feature)

    async def body() -> AsyncIterator[bytes]:
        for event in events:
            await asyncio.sleep(0)
            yield event

    return openai_http().Response(
        200, headers={"content-type": "text/event-stream"}, content=body()
    )


def _sync_handler(request: Any) -> Any:
    """Answer a chat stream (sync client)."""
    marker, feature = _request_of(request)
    return openai_http().Response(
        200,
        headers={"content-type": "text/event-stream"},
        content=b"".join(_chunks(marker, feature)),
    )


# -- what must hold afterwards -------------------------------------------------------------------
def check_requests(capture: Capture, expected: Counter[str]) -> dict[str, int]:
    """Every otel-llm span is in its request's trace, under a span of that trace, with its
    request's ``user.id``; returns how many otel-llm spans of each kind were checked."""
    spans = capture.spans()
    roots = {s.attributes[MARKER]: s for s in spans if s.attributes and MARKER in s.attributes}
    by_id: dict[int, ReadableSpan] = {s.context.span_id: s for s in spans if s.context}
    assert sum(expected.values()) == len(roots), "a request's root span is missing"
    kinds: Counter[str] = Counter()
    for span in spans:
        if span.instrumentation_scope is None or span.instrumentation_scope.name != "otel_llm":
            continue
        attributes = span.attributes or {}
        marker = attributes.get(semconv.USER_ID)
        assert marker in roots, f"{span.name} carries no request's user.id: {attributes}"
        root = roots[marker]
        assert span.context is not None and root.context is not None
        assert span.context.trace_id == root.context.trace_id, f"{span.name} in another trace"
        # walk up: the chain of parents reaches this request's root, inside its trace
        node = span
        while node is not root:
            assert node.parent is not None, f"{span.name} of {marker} lost its parent"
            node = by_id[node.parent.span_id]
            assert node.context is not None and node.context.trace_id == root.context.trace_id
        kinds[span.name.split()[0]] += 1
    return dict(kinds)


def check_feature_metrics(capture: Capture, per_feature: Counter[int], *, inputs: bool) -> None:
    """Duration points and token sums per feature equal that feature's requests exactly."""
    for feature, count in per_feature.items():
        label = f"f{feature}"
        durations = capture.histogram_count(
            semconv.METRIC_OPERATION_DURATION, **{semconv.FEATURE: label}
        )
        assert durations == count, f"{label}: {durations} durations for {count} requests"
        output = capture.metric_sum(
            semconv.METRIC_TOKEN_USAGE,
            **{semconv.FEATURE: label, semconv.GEN_AI_TOKEN_TYPE: semconv.TOKEN_TYPE_OUTPUT},
        )
        assert output == count * output_tokens(feature), f"{label}: output tokens crossed"
        if inputs:
            prompt = capture.metric_sum(
                semconv.METRIC_TOKEN_USAGE,
                **{semconv.FEATURE: label, semconv.GEN_AI_TOKEN_TYPE: semconv.TOKEN_TYPE_INPUT},
            )
            assert prompt == count * input_tokens(feature), f"{label}: input tokens crossed"
    labelled = sum(
        p.count or 0
        for p in capture.metric_points(semconv.METRIC_OPERATION_DURATION)
        if semconv.FEATURE in p.attributes
    )
    assert labelled == sum(per_feature.values()), "a duration point has a feature of no request"


def check_clean(capture: Capture) -> None:
    """No stream left open, no telemetry error swallowed."""
    assert capture.metric_sum(semconv.METRIC_STREAM_ACTIVE) == 0
    assert capture.metric_sum(semconv.METRIC_INSTRUMENTATION_ERRORS) == 0


# -- 10,000 concurrent async streams ------------------------------------------------------------
async def _token_counts(feature: int) -> AsyncIterator[int]:
    """A hand-rolled model stream: ``output_tokens(feature)`` one-token chunks."""
    for _ in range(output_tokens(feature)):
        await asyncio.sleep(0)
        yield 1


async def test_ten_thousand_concurrent_streams(otel_capture: Capture, instrumented: None) -> None:
    """10,000 streams open at the same moment (half the real AsyncOpenAI SDK, half the
    manual ``otel_llm.stream()`` API): the open-streams counter reads 10,000 at the peak and
    0 after; every span, attribute and metric point belongs to its own request."""
    client = openai_client(_async_handler, asynchronous=True)
    opened = 0
    all_open = asyncio.Event()
    peak: list[float] = []
    ids: dict[str, str] = {}

    async def reached_first_chunk() -> None:
        nonlocal opened
        opened += 1
        if opened == STREAMS:
            all_open.set()
        await all_open.wait()

    async def watch_peak() -> None:
        await all_open.wait()  # first waiter: runs before any stream moves on
        peak.append(otel_capture.metric_sum(semconv.METRIC_STREAM_ACTIVE))

    async def request(i: int) -> None:
        marker, feature = f"r{i}", i % FEATURES
        with _tracer.start_as_current_span("request", attributes={MARKER: marker}):
            async with otel_llm.attributes(user_id=marker, feature=f"f{feature}"):
                if i % 2:
                    stream = await client.chat.completions.create(
                        model="gpt-4",
                        messages=[{"role": "user", "content": f"{marker} {feature}"}],
                        stream=True,
                        stream_options={"include_usage": True},
                    )
                    first = True
                    async for chunk in stream:
                        ids[marker] = chunk.id
                        if first:
                            first = False
                            await reached_first_chunk()
                else:
                    handle = otel_llm.stream(model="manual-model", provider="test")
                    pieces = handle.awrap(_token_counts(feature))
                    handle.set_response(response_id=f"manual-{marker}")
                    first = True
                    async for _ in pieces:
                        if first:
                            first = False
                            await reached_first_chunk()

    watcher = asyncio.ensure_future(watch_peak())
    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(request(i) for i in range(STREAMS)))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    await watcher
    await client.close()

    assert peak == [STREAMS], "not every stream was open at the same moment"
    kinds = check_requests(otel_capture, Counter({f"r{i}": 1 for i in range(STREAMS)}))
    assert kinds == {"chat": STREAMS}
    for span in otel_capture.spans():
        attributes = span.attributes or {}
        if span.name.startswith("chat "):  # the response id belongs to the same request
            marker = attributes[semconv.USER_ID]
            expected = f"chatcmpl-{marker}" if span.name == "chat gpt-4" else f"manual-{marker}"
            assert attributes[semconv.GEN_AI_RESPONSE_ID] == expected
    assert len(ids) == STREAMS // 2 and all(v == f"chatcmpl-{k}" for k, v in ids.items())
    check_feature_metrics(otel_capture, Counter(i % FEATURES for i in range(STREAMS)), inputs=False)
    sdk_inputs = otel_capture.metric_sum(
        semconv.METRIC_TOKEN_USAGE,
        **{
            semconv.GEN_AI_TOKEN_TYPE: semconv.TOKEN_TYPE_INPUT,
            semconv.GEN_AI_REQUEST_MODEL: "gpt-4",
        },
    )
    assert sdk_inputs == sum(input_tokens(i % FEATURES) for i in range(1, STREAMS, 2))
    check_clean(otel_capture)
    FIGURES.append(
        f"concurrency: {STREAMS:,} async streams open at once (half AsyncOpenAI, half manual), "
        f"{elapsed:.1f} s ({cpu:.1f} s CPU), {STREAMS / cpu:,.0f} streams per CPU-second, "
        f"{len(otel_capture.spans())} spans"
    )


# -- 32 threads mixing generations, tokenizer calls and routes ------------------------------------
def test_threads_mix_generations_tokenizers_routes(
    otel_capture: Capture, instrumented: None
) -> None:
    """32 threads started together, each running requests that route (with a fallback),
    call the real openai SDK (streamed), a manual generation and the real tiktoken:
    spans, attributes and metric points never cross between requests."""
    client = openai_client(_sync_handler)
    encoding = offline_encoding("cl100k_base")
    start = threading.Barrier(THREADS)
    failures: list[BaseException] = []
    tokens: dict[str, int] = {}

    def request(marker: str, feature: int) -> None:
        with _tracer.start_as_current_span("request", attributes={MARKER: marker}):
            with otel_llm.attributes(user_id=marker, feature=f"f{feature}"):
                prompt = f"{marker} {feature}"
                tokens[marker] = len(encoding.encode(prompt))
                with otel_llm.route("chat", ["primary", "gpt-4"]) as route:
                    with otel_llm.generation("primary", "test") as primary:
                        primary.set_response(
                            input_tokens=input_tokens(feature),
                            output_tokens=output_tokens(feature),
                        )
                    route.fallback("primary", "gpt-4", reason="test")
                    stream = client.chat.completions.create(
                        model="gpt-4",
                        messages=[{"role": "user", "content": prompt}],
                        stream=True,
                        stream_options={"include_usage": True},
                    )
                    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
                    route.select("gpt-4", reason="fallback")
                encoding.decode(encoding.encode(text))

    def worker(thread: int) -> None:
        try:
            start.wait(timeout=30)
            for j in range(PER_THREAD):
                request(f"t{thread}-{j}", (thread + j) % FEATURES)
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
    started, cpu = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    client.close()

    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert failures == []
    requests = THREADS * PER_THREAD
    kinds = check_requests(otel_capture, Counter({k: 1 for k in tokens}))
    assert kinds == {"route": requests, "chat": 2 * requests, "tokenizer.encode": 2 * requests,
                     "tokenizer.decode": requests}  # fmt: skip
    per_feature = Counter((t + j) % FEATURES for t in range(THREADS) for j in range(PER_THREAD))
    # each request: the manual attempt and the SDK call, both with the feature's counts
    check_feature_metrics(otel_capture, per_feature + per_feature, inputs=True)
    assert otel_capture.metric_sum(semconv.METRIC_ROUTE_FALLBACKS) == requests
    assert otel_capture.metric_sum(semconv.METRIC_ROUTE_SELECTIONS) == requests
    assert otel_capture.histogram_count(semconv.METRIC_TOKENIZER_DURATION) == 3 * requests
    encoded = otel_capture.metric_sum(
        semconv.METRIC_TOKENIZER_TOKENS, **{semconv.TOKENIZER_OPERATION: "encode"}
    )
    assert encoded >= sum(tokens.values())
    for route in otel_capture.spans("route chat"):
        attributes = route.attributes or {}
        assert attributes[semconv.ROUTE_ATTEMPTS] == 2 and attributes[semconv.ROUTE_FALLBACKS] == 1
    check_clean(otel_capture)
    FIGURES.append(
        f"concurrency: {THREADS} threads x {PER_THREAD} requests (route, 2 generations, "
        f"3 tiktoken calls each), {elapsed:.1f} s ({cpu:.1f} s CPU), "
        f"{requests / cpu:,.0f} requests per CPU-second, "
        f"{len(otel_capture.spans())} spans"
    )
