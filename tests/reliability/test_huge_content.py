"""10 MB of content: the caller's result is unchanged, and with content capture on every
span attribute stays within the configured length limit.

A few explicit cases, not hypothesis-scaled: an openai chat completion, an openai chat
stream (10 MB in 1,000 deltas of 10 kB), a Responses API response, an anthropic message
and an anthropic stream, each carrying 10 MB of text, with ``SPAN_AND_EVENT`` capture.
The limit is OpenTelemetry's own ``OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT``, which the tracer
provider ``otel_llm.configure()`` builds honours; that part runs in a fresh interpreter so
the provider is built from the environment.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from otel_llm import _runtime
from otel_llm.instrumentation.anthropic import AnthropicInstrumentor
from otel_llm.instrumentation.openai import OpenAIInstrumentor
from tests.helpers import run_python
from tests.reliability import _openai_payloads as payloads
from tests.reliability import test_hostile_anthropic as anthropic_cases
from tests.reliability import test_hostile_openai as openai_cases
from tests.reliability.conftest import Differential, Endpoint, frame

pytestmark = pytest.mark.slow

MB10 = 10 * 1024 * 1024
PIECE = ("All work and no play makes Jack a dull boy. " * 240)[:10_240]  # 10 kB
LIMIT = 4096


def _chat() -> bytes:
    body = payloads.chat()
    body["choices"][0]["message"]["content"] = PIECE * 1_024
    return json.dumps(body).encode()


def _chat_stream() -> bytes:
    events = payloads.chat_stream()
    chunk = next(e for _, e in events if isinstance(e, dict) and e["choices"])
    delta = json.loads(json.dumps(chunk))
    delta["choices"][0]["delta"] = {"content": PIECE}
    return frame([events[0], *[(None, delta)] * 1_024, *events[1:]])


def _responses() -> bytes:
    body = payloads.responses()
    body["output"][0]["content"][0]["text"] = PIECE * 1_024
    return json.dumps(body).encode()


def _message() -> bytes:
    body = json.loads(json.dumps(anthropic_cases.MESSAGE))
    body["content"][0]["text"] = PIECE * 1_024
    return json.dumps(body).encode()


def _message_stream() -> bytes:
    events = anthropic_cases._stream_events()
    deltas = [i for i, (name, _) in enumerate(events) if name == "content_block_delta"]
    piece = json.loads(json.dumps(events[deltas[0]][1]))
    piece["delta"]["text"] = PIECE
    return frame([*events[: deltas[0]], *[("content_block_delta", piece)] * 1_024,
                  *events[deltas[0] + 1 :]])  # fmt: skip


CASES: list[tuple[Endpoint, Callable[[], bytes], Any]] = [
    (openai_cases.PLAIN[0], _chat, OpenAIInstrumentor),
    (openai_cases.STREAMS[0], _chat_stream, OpenAIInstrumentor),
    (openai_cases.PLAIN[-1], _responses, OpenAIInstrumentor),
    (anthropic_cases.PLAIN[0], _message, AnthropicInstrumentor),
    (anthropic_cases.STREAMS[0], _message_stream, AnthropicInstrumentor),
]


@pytest.mark.parametrize(("endpoint", "body", "instrumentor"), CASES, ids=lambda c: repr(c))
@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_10mb_content_is_returned_unchanged(
    endpoint: Endpoint,
    body: Callable[[], bytes],
    instrumentor: Any,
    asynchronous: bool,
    differential: Callable[..., Differential],
) -> None:
    """10 MB of text in a response or a stream, content capture on: the same result, no
    telemetry error, one span that holds the captured completion."""
    _runtime.RT.capture = "SPAN_AND_EVENT"
    raw = body()
    assert len(raw) > MB10
    diff = differential(instrumentor())
    diff.check(endpoint.run(raw, asynchronous=asynchronous), expect_no_errors=True)
    spans = [s for s in diff.capture.spans() if s.instrumentation_scope.name == "otel_llm"]
    assert len(spans[-1].attributes["gen_ai.output.messages"]) > MB10  # no limit configured


LIMITED = """
import json, sys
import httpx2 as http
import otel_llm
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

otel_llm.configure(traces_exporter="none", metrics_exporter="none", logs_exporter="none",
                   logging=False, instrument=["openai", "anthropic"])
exporter = InMemorySpanExporter()
trace.get_tracer_provider().add_span_processor(SimpleSpanProcessor(exporter))
from tests.reliability import test_huge_content as cases

results = []
for endpoint, body, _ in cases.CASES:
    results.append(endpoint.run(body())()[:1])
longest = {}
for span in exporter.get_finished_spans():
    values = [*span.attributes.items()]
    values += [kv for event in span.events for kv in (event.attributes or {}).items()]
    for key, value in values:
        for item in value if isinstance(value, tuple) else [value]:
            if isinstance(item, str):
                longest[key] = max(longest.get(key, 0), len(item))
print(json.dumps({"longest": longest, "spans": len(exporter.get_finished_spans())}))
"""


def test_attributes_stay_within_the_configured_length_limit() -> None:
    """OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT=4096 with configure() and SPAN_AND_EVENT capture:
    after the five 10 MB cases, no span or event attribute is longer than 4,096 characters,
    and the captured completions are there (cut to the limit)."""
    run = run_python(
        LIMITED,
        env={
            "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": str(LIMIT),
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_AND_EVENT",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        },
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    longest = report["longest"]
    assert report["spans"] >= len(CASES)
    assert longest["gen_ai.output.messages"] == LIMIT
    assert max(longest.values()) <= LIMIT, longest
