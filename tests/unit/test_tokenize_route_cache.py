"""tokenize(), route() and cache_lookup(): spans, attributes and metrics."""

from __future__ import annotations

import pytest
from opentelemetry import trace

import otel_llm
from otel_llm.testing import Capture


def test_truncation_is_visible_as_attribute_and_counter(otel_capture: Capture) -> None:
    """A truncation is data loss: span attributes plus truncation and overflow counters."""
    doc = "word " * 400
    with otel_llm.tokenize("truncate", tokenizer="cl100k_base", text=doc, max_tokens=512) as t:
        t.set_tokens(512)
        t.set_truncated(original_tokens=2048)
    span = otel_capture.span("tokenizer.truncate")
    attrs = span.attributes or {}
    assert attrs["otel_llm.tokenizer.truncated"] is True
    assert attrs["otel_llm.tokenizer.original_tokens"] == 2048
    assert attrs["otel_llm.tokenizer.input.chars"] == len(doc)
    assert attrs["otel_llm.tokenizer.max_tokens"] == 512
    assert otel_capture.metric_sum("otel_llm.tokenizer.truncations") == 1
    assert otel_capture.metric_sum("otel_llm.tokenizer.budget_overflows") == 1
    assert otel_capture.metric_sum("otel_llm.tokenizer.tokens") == 512
    assert otel_capture.histogram_count("otel_llm.tokenizer.duration") == 1


def test_tokenizer_metrics_of_a_failed_call_carry_error_type(otel_capture: Capture) -> None:
    """A tokenizer call that raises: its duration and size metrics carry error.type, the
    exception passes through unchanged, and a successful call has no error.type."""
    with (
        pytest.raises(UnicodeDecodeError),
        otel_llm.tokenize("encode", tokenizer="cl100k_base", text="x" * 40),
    ):
        b"\xff".decode("utf-8")
    with otel_llm.tokenize("encode", tokenizer="cl100k_base", text="ok") as t:
        t.set_tokens(1)
    for name in ("otel_llm.tokenizer.duration", "otel_llm.tokenizer.input.chars"):
        failed = otel_capture.metric_points(name, error_type="UnicodeDecodeError")
        assert [p.count for p in failed] == [1], name
        ok = [p for p in otel_capture.metric_points(name) if "error.type" not in p.attributes]
        assert [p.count for p in ok] == [1], name
    chars = "otel_llm.tokenizer.input.chars"
    assert otel_capture.metric_sum(chars, error_type="UnicodeDecodeError") == 40


def test_count_chunk_and_estimate(otel_capture: Capture) -> None:
    """count/chunk/estimate record their histograms and the estimate counter."""
    with otel_llm.tokenize("count", tokenizer="heuristic", text="abcd") as t:
        t.set_tokens(1)
        t.set_estimated()
    with otel_llm.tokenize("chunk", tokenizer="cl100k_base", text="x" * 90) as t:
        t.set_tokens(30)
        t.set_chunks(3)
    assert otel_capture.metric_sum("otel_llm.tokenizer.estimates") == 1
    assert otel_capture.metric_sum("otel_llm.tokenizer.chunks") == 3
    assert otel_capture.metric_sum("otel_llm.tokenizer.truncations") == 0
    count = otel_capture.span("tokenizer.count")
    assert (count.attributes or {})["otel_llm.tokenizer.estimated"] is True


def test_tokenizer_buckets_resolve_microseconds(otel_capture: Capture) -> None:
    """Tokenizer durations use 1 µs – 1 s buckets, not the 10 ms GenAI ones."""
    with otel_llm.tokenize("encode", tokenizer="t", text="hi") as t:
        t.set_tokens(1)
    (point,) = otel_capture.metric_points("otel_llm.tokenizer.duration")
    assert point.point.explicit_bounds[0] == pytest.approx(1e-6)


def test_parent_required_skips_root_spans(otel_capture: Capture) -> None:
    """With parent_required, no root span is made, but metrics are still recorded."""
    with otel_llm.tokenize("encode", tokenizer="t", text="hi", parent_required=True) as t:
        t.set_tokens(1)
    assert otel_capture.spans() == []
    with trace.get_tracer("t").start_as_current_span("parent"):
        with otel_llm.tokenize("encode", tokenizer="t", text="hi", parent_required=True) as t:
            t.set_tokens(1)
    assert [s.name for s in otel_capture.spans()] == ["tokenizer.encode", "parent"]
    assert otel_capture.histogram_count("otel_llm.tokenizer.duration") == 2


def test_tokenize_bad_input(otel_capture: Capture) -> None:
    """Unknown operations and negative counts are ValueErrors at the call."""
    with pytest.raises(ValueError, match="unknown tokenizer operation 'split'"):
        otel_llm.tokenize("split", tokenizer="t")
    with otel_llm.tokenize("count", tokenizer="t") as t, pytest.raises(ValueError):
        t.set_tokens(-3)
    assert "otel_llm.tokenizer.tokens" not in (
        otel_capture.span("tokenizer.count").attributes or {}
    )


def test_route_with_fallback_and_attempts(otel_capture: Capture) -> None:
    """Route span: attempts nested, fallback event, requested vs selected model, metrics."""
    with otel_llm.route(
        "cost-router", candidates=["gpt-4o", "gpt-4o-mini"], requested_model="gpt-4o"
    ) as r:
        with pytest.raises(TimeoutError), otel_llm.generation(model="gpt-4o", provider="openai"):
            raise TimeoutError
        r.fallback("gpt-4o", "gpt-4o-mini", reason="timeout", error=TimeoutError())
        with otel_llm.generation(model="gpt-4o-mini", provider="openai") as g:
            g.set_response(input_tokens=3, output_tokens=2)
        r.select("gpt-4o-mini", reason="fallback")
    route = otel_capture.span("route cost-router")
    attrs = route.attributes or {}
    assert attrs["otel_llm.route.requested_model"] == "gpt-4o"
    assert attrs["otel_llm.route.selected_model"] == "gpt-4o-mini"
    assert attrs["otel_llm.route.attempts"] == 2
    assert attrs["otel_llm.route.fallbacks"] == 1
    assert [c.name for c in otel_capture.children(route)] == ["chat gpt-4o", "chat gpt-4o-mini"]
    (event,) = route.events
    assert dict(event.attributes or {}) == {
        "otel_llm.route.fallback.from": "gpt-4o",
        "otel_llm.route.fallback.to": "gpt-4o-mini",
        "otel_llm.route.fallback.reason": "timeout",
        "error.type": "TimeoutError",
    }
    assert (
        otel_capture.metric_sum("otel_llm.route.fallbacks", otel_llm_route_name="cost-router") == 1
    )
    assert otel_capture.metric_sum("otel_llm.route.selections") == 1
    assert otel_capture.histogram_count("otel_llm.route.duration") == 1


def test_cache_hit_and_miss(otel_capture: Capture) -> None:
    """cache_lookup records the hit attribute and counts lookups by result."""
    with otel_llm.cache_lookup("prompt-cache") as c:
        c.miss()
    with otel_llm.cache_lookup("prompt-cache") as c:
        c.hit()
    spans = otel_capture.spans("cache.lookup prompt-cache")
    assert [(s.attributes or {})["otel_llm.cache.hit"] for s in spans] == [False, True]
    assert otel_capture.metric_sum("otel_llm.cache.lookups", otel_llm_cache_result="hit") == 1
    assert otel_capture.metric_sum("otel_llm.cache.lookups", otel_llm_cache_result="miss") == 1


def test_cache_miss_reason(otel_capture: Capture) -> None:
    """miss(reason=) is on the span and the lookup counter."""
    with otel_llm.cache_lookup("kv") as c:
        c.miss(reason="expired")
    span = otel_capture.span("cache.lookup kv")
    assert (span.attributes or {})["otel_llm.cache.miss_reason"] == "expired"
    (point,) = otel_capture.metric_points("otel_llm.cache.lookups", otel_llm_cache_result="miss")
    assert point.attributes["otel_llm.cache.miss_reason"] == "expired"
