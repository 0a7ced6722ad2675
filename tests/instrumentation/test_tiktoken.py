"""tiktoken instrumentation: encode/decode calls become tokenizer metrics (and child spans)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import tiktoken
import tiktoken.core
import wrapt
from opentelemetry import trace

from otel_llm import _runtime
from otel_llm._offline import offline_encoding, seed_tiktoken_cache
from otel_llm.instrumentation.tiktoken import TiktokenInstrumentor
from otel_llm.testing import Capture
from tests.instrumentation.conftest_tokenizers import instrumented


@pytest.fixture(autouse=True)
def _instrument_tiktoken() -> Iterator[object]:
    """tiktoken instrumented for each test here, uninstrumented afterwards."""
    yield from instrumented(TiktokenInstrumentor())


@pytest.fixture(scope="module")
def cl100k() -> Any:
    """The real cl100k_base ``tiktoken.Encoding``, built offline from explicit mergeable ranks."""
    return offline_encoding("cl100k_base")


NAME = {"otel_llm.tokenizer.name": "cl100k_base"}
ENCODE = {**NAME, "otel_llm.tokenizer.operation": "encode"}
DECODE = {**NAME, "otel_llm.tokenizer.operation": "decode"}
TEXT = "The quick brown fox jumps over the lazy dog."


def _attrs(span: Any) -> dict[str, Any]:
    return dict(span.attributes or {})


def _plain(encoding: Any, method: str, *args: Any) -> Any:
    """What the uninstrumented library method returns (records no telemetry)."""
    return tiktoken.core.Encoding.__dict__[method].__wrapped__(encoding, *args)


def test_encode_under_a_parent_is_a_child_span_with_counts(
    otel_capture: Capture, cl100k: Any
) -> None:
    """encode() inside a span: one tokenizer.encode child with chars and tokens, plus metrics."""
    with trace.get_tracer("app").start_as_current_span("handle"):
        ids = cl100k.encode(TEXT)
    assert ids == _plain(cl100k, "encode", TEXT)
    assert len(ids) == 10
    parent = otel_capture.span("handle")
    (child,) = otel_capture.children(parent)
    assert child.name == "tokenizer.encode"
    assert child.kind == trace.SpanKind.INTERNAL
    assert _attrs(child) == {
        **ENCODE,
        "otel_llm.tokenizer.input.chars": len(TEXT),
        "otel_llm.tokenizer.tokens": 10,
        "otel_llm.tokenizer.truncated": False,
        "otel_llm.tokenizer.estimated": False,
    }
    assert otel_capture.metric_sum("otel_llm.tokenizer.tokens", **ENCODE) == 10
    assert otel_capture.metric_sum("otel_llm.tokenizer.input.chars", **ENCODE) == len(TEXT)
    assert otel_capture.histogram_count("otel_llm.tokenizer.duration", **ENCODE) == 1


def test_no_root_spans_but_metrics_without_a_parent(otel_capture: Capture, cl100k: Any) -> None:
    """A hot tokenizer outside any span records metrics only: no root-span spam."""
    for _ in range(5):
        cl100k.encode("hello world")
    assert otel_capture.spans() == []
    assert otel_capture.histogram_count("otel_llm.tokenizer.duration", **ENCODE) == 5
    assert otel_capture.metric_sum("otel_llm.tokenizer.tokens", **ENCODE) == 10
    (point,) = otel_capture.metric_points("otel_llm.tokenizer.tokens")
    assert point.attributes == ENCODE


def test_encode_ordinary_and_to_numpy_record_encode(otel_capture: Capture, cl100k: Any) -> None:
    """encode_ordinary and encode_to_numpy are encode operations with their token counts."""
    assert cl100k.encode_ordinary("hello world") == [15339, 1917]
    assert cl100k.encode_to_numpy("hello world").tolist() == [15339, 1917]
    assert otel_capture.histogram_count("otel_llm.tokenizer.tokens", **ENCODE) == 2
    assert otel_capture.metric_sum("otel_llm.tokenizer.tokens", **ENCODE) == 4


def test_decode_counts_consumed_tokens(otel_capture: Capture, cl100k: Any) -> None:
    """decode() is a tokenizer.decode span whose token count is the ids consumed."""
    with trace.get_tracer("app").start_as_current_span("handle"):
        assert cl100k.decode([15339, 1917]) == "hello world"
    span = otel_capture.span("tokenizer.decode")
    assert _attrs(span)["otel_llm.tokenizer.tokens"] == 2
    assert "otel_llm.tokenizer.input.chars" not in _attrs(span)
    assert otel_capture.metric_sum("otel_llm.tokenizer.tokens", **DECODE) == 2


def test_batch_is_one_operation_not_one_per_item(otel_capture: Capture, cl100k: Any) -> None:
    """Batch calls record once per batch; the pool's per-item calls are not recounted."""
    texts = ["hello world", TEXT, "a"]
    with trace.get_tracer("app").start_as_current_span("handle"):
        batch = cl100k.encode_batch(texts, num_threads=2)
        ordinary = cl100k.encode_ordinary_batch(texts, num_threads=2)
        decoded = cl100k.decode_batch(batch, num_threads=2)
    assert batch == ordinary == [_plain(cl100k, "encode", t) for t in texts]
    assert decoded == texts
    total = sum(len(ids) for ids in batch)
    names = [s.name for s in otel_capture.spans()]
    assert names == ["tokenizer.encode", "tokenizer.encode", "tokenizer.decode", "handle"]
    assert otel_capture.histogram_count("otel_llm.tokenizer.duration", **ENCODE) == 2
    assert otel_capture.histogram_count("otel_llm.tokenizer.duration", **DECODE) == 1
    assert otel_capture.metric_sum("otel_llm.tokenizer.tokens", **ENCODE) == 2 * total
    assert otel_capture.metric_sum("otel_llm.tokenizer.input.chars", **ENCODE) == 2 * sum(
        map(len, texts)
    )
    assert otel_capture.metric_sum("otel_llm.tokenizer.tokens", **DECODE) == total


def test_batch_keeps_a_subclass_override(cl100k: Any) -> None:
    """A subclass's own encode() still serves its encode_batch() items while instrumented."""

    class Lowercasing(tiktoken.Encoding):
        def encode(self, text: str, **kwargs: Any) -> list[int]:
            return super().encode(text.lower(), **kwargs)

    lower = Lowercasing(
        name="lowercasing",
        pat_str=cl100k._pat_str,
        mergeable_ranks=cl100k._mergeable_ranks,
        special_tokens=cl100k._special_tokens,
    )
    assert lower.encode_batch(["HELLO World"]) == [[15339, 1917]]


def test_library_error_passes_through_and_is_typed(otel_capture: Capture, cl100k: Any) -> None:
    """A disallowed special token raises tiktoken's ValueError unchanged; error.type is recorded."""
    with (
        trace.get_tracer("app").start_as_current_span("handle"),
        pytest.raises(ValueError, match="disallowed special token"),
    ):
        cl100k.encode("<|endoftext|>")
    span = otel_capture.span("tokenizer.encode")
    assert _attrs(span)["error.type"] == "ValueError"
    assert span.status.status_code == trace.StatusCode.ERROR
    (point,) = otel_capture.metric_points("otel_llm.tokenizer.duration")
    assert point.attributes == {**ENCODE, "error.type": "ValueError"}


def test_disabled_sdk_calls_straight_through(otel_capture: Capture, cl100k: Any) -> None:
    """With the SDK disabled the wrapper records nothing and returns the library's result."""
    _runtime.RT.enabled = False
    assert cl100k.encode("hello world") == [15339, 1917]
    assert otel_capture.metric_points("otel_llm.tokenizer.duration") == []


def test_get_encoding_works_from_the_seeded_cache(
    otel_capture: Capture, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """seed_tiktoken_cache lets the unchanged tiktoken.get_encoding load cl100k offline."""
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "unused")  # restored after the test
    assert seed_tiktoken_cache(tmp_path) == tmp_path
    assert len(list(tmp_path.iterdir())) == 2
    enc = tiktoken.get_encoding("cl100k_base")
    assert enc.encode("hello world") == [15339, 1917]
    assert otel_capture.metric_sum("otel_llm.tokenizer.tokens", **ENCODE) == 2


def test_uninstrument_restores_the_original_methods(otel_capture: Capture, cl100k: Any) -> None:
    """After uninstrument() the Encoding methods are the originals and record nothing."""
    instrumentor = TiktokenInstrumentor()
    instrumentor.uninstrument()
    try:
        for name in ("encode", "encode_ordinary", "encode_batch", "decode", "decode_batch"):
            assert not isinstance(tiktoken.core.Encoding.__dict__[name], wrapt.FunctionWrapper)
        assert cl100k.encode_batch(["hello world"]) == [[15339, 1917]]
        assert otel_capture.metric_points("otel_llm.tokenizer.duration") == []
    finally:
        instrumentor.instrument()
    assert isinstance(tiktoken.core.Encoding.__dict__["encode"], wrapt.FunctionWrapper)


def test_declares_the_tested_versions() -> None:
    """instrumentation_dependencies names the tiktoken range the tests cover."""
    assert list(TiktokenInstrumentor().instrumentation_dependencies()) == ["tiktoken >= 0.7, < 1"]
