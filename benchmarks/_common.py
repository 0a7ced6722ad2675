"""What every benchmark process shares: the telemetry pipeline, the canned LLM and timing.

Every variant exports to the same sinks, so only instrumentation cost differs between them:
spans go through a ``SimpleSpanProcessor`` to an exporter that keeps the last batch only
(no growth, no background thread competing for the 2 cores), metrics to an
``InMemoryMetricReader``, log records to a counting no-op exporter. The canned LLM answers
the real openai SDK over ``httpx.MockTransport``: one chat completion with usage, or an
SSE stream of 256 content chunks plus a usage chunk.
"""

from __future__ import annotations

import gc
import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from opentelemetry import _logs, metrics, trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import (
    LogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

MODEL = "gpt-4o-mini"
SERVED_MODEL = "gpt-4o-mini-2024-07-18"
CHUNKS = 256
MESSAGES = [
    {"role": "system", "content": "You are a terse assistant."},
    {"role": "user", "content": "Say hello in a few words."},
]


# -- sinks ----------------------------------------------------------------------------
class LastSpans(SpanExporter):
    """Keeps the spans of the last export only and counts all of them."""

    def __init__(self) -> None:
        self.count = 0
        self.last: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.count += len(spans)
        self.last = list(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Nothing to release."""


class CountLogs(LogRecordExporter):
    """Counts exported log records (events) and drops them."""

    def __init__(self) -> None:
        self.count = 0

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        self.count += len(batch)
        return LogRecordExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Nothing is buffered."""
        return True

    def shutdown(self) -> None:
        """Nothing to release."""


class Pipeline:
    """The global SDK providers of one benchmark process and their sinks."""

    def __init__(self) -> None:
        resource = Resource.create({"service.name": "otel-llm-bench"})
        self.spans = LastSpans()
        self.logs = CountLogs()
        self.reader = InMemoryMetricReader()
        self.tracer_provider = TracerProvider(resource=resource)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.meter_provider = MeterProvider(resource=resource, metric_readers=[self.reader])
        self.logger_provider = LoggerProvider(resource=resource)
        self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(self.logs))
        trace.set_tracer_provider(self.tracer_provider)
        metrics.set_meter_provider(self.meter_provider)
        _logs.set_logger_provider(self.logger_provider)

    def metric_names(self) -> list[str]:
        """Names of every metric with at least one point so far."""
        data = self.reader.get_metrics_data()
        names: set[str] = set()
        if data is None:
            return []
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if list(metric.data.data_points):
                        names.add(metric.name)
        return sorted(names)

    def describe_last(self) -> dict[str, Any]:
        """What the last exported spans recorded: names, attribute keys, event names."""
        return {
            "spans": [
                {
                    "name": span.name,
                    "attributes": sorted((span.attributes or {}).keys()),
                    "events": dict(Counter(event.name for event in span.events)),
                }
                for span in self.spans.last
            ]
        }


# -- the canned LLM -------------------------------------------------------------------
def _completion() -> bytes:
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": SERVED_MODEL,
        "system_fingerprint": "fp_bench",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello there!", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 42,
            "completion_tokens": 7,
            "total_tokens": 49,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
    }
    return json.dumps(body).encode()


def _sse(chunks: int) -> bytes:
    def event(choices: list[dict[str, Any]], usage: dict[str, int] | None) -> str:
        data = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": SERVED_MODEL,
            "system_fingerprint": "fp_bench",
            "choices": choices,
            "usage": usage,
        }
        return f"data: {json.dumps(data)}\n\n"

    parts = []
    for i in range(chunks):
        delta: dict[str, Any] = {"content": f"tok{i} "}
        if i == 0:
            delta["role"] = "assistant"
        finish = "stop" if i == chunks - 1 else None
        parts.append(event([{"index": 0, "delta": delta, "finish_reason": finish}], None))
    usage = {"prompt_tokens": 42, "completion_tokens": chunks, "total_tokens": 42 + chunks}
    parts.append(event([], usage))
    parts.append("data: [DONE]\n\n")
    return "".join(parts).encode()


COMPLETION = _completion()
SSE = _sse(CHUNKS)


def handler(request: httpx.Request) -> httpx.Response:
    """Answer a chat completion request: JSON, or SSE when the body asks to stream."""
    if b'"stream":true' in request.content.replace(b" ", b""):
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=SSE)
    return httpx.Response(200, headers={"content-type": "application/json"}, content=COMPLETION)


def clients() -> tuple[Any, Any]:
    """A sync and an async openai client whose HTTP ends at the canned handler."""
    import openai

    transport = httpx.MockTransport(handler)
    sync = openai.OpenAI(
        api_key="sk-bench",
        base_url="http://llm.bench.local/v1",
        http_client=httpx.Client(transport=transport),
        max_retries=0,
    )
    asynchronous = openai.AsyncOpenAI(
        api_key="sk-bench",
        base_url="http://llm.bench.local/v1",
        http_client=httpx.AsyncClient(transport=transport),
        max_retries=0,
    )
    return sync, asynchronous


# -- timing ---------------------------------------------------------------------------
class Batches:
    """Per-call times of repeated batches: process CPU time and wall-clock time, in µs.

    CPU time is the primary measure: on a shared machine the wall clock also counts the
    time other processes held the CPU, CPU time does not (it still feels cache pressure).
    """

    def __init__(self) -> None:
        self.cpu: list[float] = []
        self.wall: list[float] = []

    def start(self) -> tuple[int, int]:
        """Collect garbage, then read both clocks."""
        gc.collect()
        return time.process_time_ns(), time.perf_counter_ns()

    def stop(self, started: tuple[int, int], calls: int) -> None:
        """Record the batch begun at ``started`` as ``calls`` calls."""
        wall = time.perf_counter_ns() - started[1]
        cpu = time.process_time_ns() - started[0]
        self.cpu.append(cpu / calls / 1000.0)
        self.wall.append(wall / calls / 1000.0)

    def as_dict(self) -> dict[str, list[float]]:
        """The JSON form: ``{"cpu": [...], "wall": [...]}``."""
        return {"cpu": self.cpu, "wall": self.wall}


def time_batches(fn: Callable[[], object], calls: int, batches: int) -> dict[str, list[float]]:
    """µs per call of ``fn`` (CPU and wall) for each of ``batches`` batches of ``calls``."""
    out = Batches()
    for _ in range(batches):
        started = out.start()
        for _ in range(calls):
            fn()
        out.stop(started, calls)
    return out.as_dict()
