"""generation(): the semconv inference span, usage, errors, metrics and duplicate suppression."""

from __future__ import annotations

import threading

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

import otel_llm
from otel_llm.testing import Capture


class RateLimited(Exception):
    """A provider error raised inside a generation."""


def test_span_name_kind_and_request_attributes(otel_capture: Capture) -> None:
    """The span is `{operation} {model}`, CLIENT, with sampling attributes from the start."""
    with otel_llm.generation(
        model="gpt-4o-mini",
        provider="openai",
        max_tokens=256,
        temperature=0.2,
        stop_sequences="END",
        choice_count=1,
        server_address="api.openai.com",
        server_port=443,
    ) as g:
        g.set_response(
            model="gpt-4o-mini-2024-07-18",
            response_id="r1",
            finish_reasons=["stop"],
            input_tokens=42,
            output_tokens=7,
            cache_read_input_tokens=10,
        )
    span = otel_capture.span("chat gpt-4o-mini")
    assert span.kind is SpanKind.CLIENT
    assert dict(span.attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.request.max_tokens": 256,
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.stop_sequences": ("END",),
        "server.address": "api.openai.com",
        "server.port": 443,
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.response.id": "r1",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 42,
        "gen_ai.usage.output_tokens": 7,
        "gen_ai.usage.cache_read.input_tokens": 10,
        # 32 x $0.15 + 10 cached x $0.075 + 7 x $0.60, per 1M tokens (gpt-4o-mini)
        "otel_llm.cost.usd": pytest.approx(9.75e-06),
    }


def test_metrics_with_semconv_attributes_and_buckets(otel_capture: Capture) -> None:
    """Duration and token usage carry the semconv attributes and bucket boundaries."""
    with otel_llm.generation(model="m", provider="openai") as g:
        g.set_response(model="m-1", input_tokens=42, output_tokens=7)
    (duration,) = otel_capture.metric_points("gen_ai.client.operation.duration")
    assert duration.attributes == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "m",
        "gen_ai.response.model": "m-1",
    }
    assert tuple(duration.point.explicit_bounds)[:3] == (0.01, 0.02, 0.04)
    assert otel_capture.metric_sum("gen_ai.client.token.usage", gen_ai_token_type="input") == 42
    usage = otel_capture.metric_points("gen_ai.client.token.usage", gen_ai_token_type="output")
    assert usage[0].value == 7 and tuple(usage[0].point.explicit_bounds)[:3] == (1, 4, 16)


def test_exception_is_recorded_and_reraised_unchanged(otel_capture: Capture) -> None:
    """A caller's exception propagates as the same object, with status ERROR and error.type."""
    error = RateLimited("429 too many requests")
    with pytest.raises(RateLimited) as raised, otel_llm.generation(model="m", provider="p"):
        raise error
    assert raised.value is error
    span = otel_capture.span("chat m")
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == "RateLimited"
    assert [e.name for e in span.events] == ["exception"]
    (duration,) = otel_capture.metric_points("gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == "RateLimited"


def test_exemplar_links_metric_to_span(otel_capture: Capture) -> None:
    """Measurements are recorded in the span's context, so exemplars carry its trace id."""
    with otel_llm.generation(model="m", provider="p") as g:
        trace_id = g.span.get_span_context().trace_id
    (duration,) = otel_capture.metric_points("gen_ai.client.operation.duration")
    assert duration.exemplars and duration.exemplars[0].trace_id == trace_id


def test_bad_arguments_raise_value_error(otel_capture: Capture) -> None:
    """Caller mistakes raise a clear ValueError at the call."""
    with pytest.raises(ValueError, match="model must be"):
        otel_llm.generation(model="", provider="p")
    with pytest.raises(ValueError, match="unknown request parameter 'temprature'"):
        otel_llm.generation(model="m", provider="p", temprature=0.1)
    with otel_llm.generation(model="m", provider="p") as g:
        with pytest.raises(ValueError, match="input_tokens must be a non-negative int"):
            g.set_response(input_tokens=-1)
        with pytest.raises(ValueError, match="model must be a str, got 5"):
            g.set_response(model=5)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="response_id must be a str"):
            g.set_response(response_id=b"id")  # type: ignore[arg-type]
    span = otel_capture.span("chat m")
    assert "gen_ai.usage.input_tokens" not in (span.attributes or {})


def test_nested_generation_counts_tokens_once(otel_capture: Capture) -> None:
    """A generation inside another (litellm over openai) records metrics only once."""
    with otel_llm.generation(model="m", provider="litellm") as outer:
        with otel_llm.generation(model="m", provider="openai") as inner:
            inner.set_response(input_tokens=10, output_tokens=5)
        outer.set_response(input_tokens=10, output_tokens=5)
    assert otel_capture.metric_sum("gen_ai.client.token.usage") == 15
    assert otel_capture.histogram_count("gen_ai.client.operation.duration") == 1
    inner_span, outer_span = otel_capture.spans()
    assert inner_span.parent is not None
    assert inner_span.parent.span_id == outer_span.context.span_id


def test_in_process_model_is_internal(otel_capture: Capture) -> None:
    """in_process=True makes the span INTERNAL."""
    with otel_llm.generation(model="tiny-gpt2", provider="transformers", in_process=True):
        pass
    assert otel_capture.span("chat tiny-gpt2").kind is SpanKind.INTERNAL


def test_content_not_captured_by_default(otel_capture: Capture) -> None:
    """Prompts and completions are off by default."""
    with otel_llm.generation(model="m", provider="p") as g:
        g.set_input_messages([{"role": "user", "content": "secret plan"}])
    assert "gen_ai.input.messages" not in (otel_capture.span("chat m").attributes or {})


def test_threads_do_not_cross_talk(otel_capture: Capture) -> None:
    """16 threads running generations keep their own parents and attributes."""
    tracer = trace.get_tracer("test")

    def work(i: int) -> None:
        for j in range(20):
            with tracer.start_as_current_span(f"req-{i}-{j}"):
                with otel_llm.generation(model=f"m{i}", provider="p") as g:
                    g.set_response(input_tokens=i, output_tokens=j)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    parents = {s.context.span_id: s.name for s in otel_capture.spans() if s.name.startswith("req")}
    generations = [s for s in otel_capture.spans() if s.name.startswith("chat ")]
    assert len(generations) == 16 * 20
    for span in generations:
        attrs = span.attributes or {}
        assert span.parent is not None
        i, j = parents[span.parent.span_id].split("-")[1:]
        assert attrs["gen_ai.request.model"] == f"m{i}"
        assert attrs["gen_ai.usage.input_tokens"] == int(i)
        assert attrs["gen_ai.usage.output_tokens"] == int(j)
    for i in range(16):
        expected = i * 20
        got = otel_capture.metric_sum(
            "gen_ai.client.token.usage", gen_ai_request_model=f"m{i}", gen_ai_token_type="input"
        )
        assert got == expected
