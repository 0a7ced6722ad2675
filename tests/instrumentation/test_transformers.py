"""transformers instrumentation: tokenizer calls, truncation, chat templates and generate."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import wrapt
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from otel_llm.instrumentation.transformers import TransformersInstrumentor
from otel_llm.testing import Capture
from tests.helpers import run_python
from tests.instrumentation.conftest_tokenizers import build_hf_tokenizer, instrumented

transformers = pytest.importorskip("transformers")
from transformers.tokenization_utils_base import PreTrainedTokenizerBase  # noqa: E402

NAME = "local/wordlevel"
ENCODE = {"otel_llm.tokenizer.name": NAME, "otel_llm.tokenizer.operation": "encode"}
CHAT = {"otel_llm.tokenizer.name": NAME, "otel_llm.tokenizer.operation": "apply_chat_template"}
MESSAGES = [{"role": "user", "content": "hello world"}]


@pytest.fixture(autouse=True)
def _instrument_transformers() -> Iterator[object]:
    """transformers instrumented for each test here, uninstrumented afterwards."""
    yield from instrumented(TransformersInstrumentor())


@pytest.fixture(scope="module")
def tok(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A word-level fast tokenizer built locally (model_max_length 64, ChatML template)."""
    return build_hf_tokenizer(tmp_path_factory.mktemp("tok"))


def _plain(method: str, tokenizer: Any, *args: Any, **kwargs: Any) -> Any:
    """What the uninstrumented tokenizer method returns (records no telemetry)."""
    return PreTrainedTokenizerBase.__dict__[method].__wrapped__(tokenizer, *args, **kwargs)


def _attrs(span: Any) -> dict[str, Any]:
    return dict(span.attributes or {})


def _gen_attrs(span: Any) -> dict[str, Any]:
    """Generation span attributes, minus the cost ones (priced by the cost engine, not here)."""
    return {k: v for k, v in _attrs(span).items() if not k.startswith("otel_llm.cost")}


def _under_parent(fn: Any) -> Any:
    with trace.get_tracer("app").start_as_current_span("handler"):
        return fn()


def test_truncation_is_measured_with_the_original_count(otel_capture: Capture, tok: Any) -> None:
    """truncation=True cutting 6 tokens to 4: truncated, original_tokens, counters."""
    text = "hello world the quick brown fox"
    out = _under_parent(lambda: tok(text, truncation=True, max_length=4))
    assert dict(out) == dict(_plain("__call__", tok, text, truncation=True, max_length=4))
    (span,) = otel_capture.children(otel_capture.span("handler"))
    assert span.name == "tokenizer.encode"
    assert span.kind == SpanKind.INTERNAL
    assert _attrs(span) == {
        **ENCODE,
        "otel_llm.tokenizer.input.chars": len(text),
        "otel_llm.tokenizer.max_tokens": 4,
        "otel_llm.tokenizer.tokens": 4,
        "otel_llm.tokenizer.truncated": True,
        "otel_llm.tokenizer.original_tokens": 6,
        "otel_llm.tokenizer.estimated": False,
    }
    assert otel_capture.metric_sum("otel_llm.tokenizer.truncations", **ENCODE) == 1
    assert otel_capture.metric_sum("otel_llm.tokenizer.budget_overflows", **ENCODE) == 1
    assert otel_capture.histogram_count("otel_llm.tokenizer.duration", **ENCODE) == 1


def test_input_at_the_budget_is_not_a_truncation(otel_capture: Capture, tok: Any) -> None:
    """Exactly max_length tokens: checked, found whole, so no truncation is reported."""
    assert tok.encode("hello world", truncation=True, max_length=2) == [4, 5]
    assert tok("the quick", max_length=8)["input_ids"] == [6, 7]  # max_length alone truncates
    spans = otel_capture.spans()
    assert spans == []  # no parent span: metrics only
    assert otel_capture.metric_sum("otel_llm.tokenizer.truncations") == 0
    assert otel_capture.metric_sum("otel_llm.tokenizer.budget_overflows") == 0
    assert otel_capture.metric_sum("otel_llm.tokenizer.tokens", **ENCODE) == 4
    assert otel_capture.histogram_count("otel_llm.tokenizer.duration", **ENCODE) == 2


def test_padded_batch_counts_real_tokens_and_truncation(otel_capture: Capture, tok: Any) -> None:
    """A padded, truncated batch: real (unpadded) tokens, per-sequence budget, one truncation."""
    texts = ["hello world", "the quick brown fox jumps"]
    out = _under_parent(lambda: tok(texts, truncation=True, max_length=3, padding=True))
    assert out["input_ids"] == [[4, 5, 0], [6, 7, 8]]
    span = otel_capture.span("tokenizer.encode")
    attrs = _attrs(span)
    assert attrs["otel_llm.tokenizer.tokens"] == 5
    assert attrs["otel_llm.tokenizer.max_tokens"] == 3
    assert attrs["otel_llm.tokenizer.original_tokens"] == 7
    assert attrs["otel_llm.tokenizer.truncated"] is True
    assert attrs["otel_llm.tokenizer.input.chars"] == sum(map(len, texts))
    assert otel_capture.metric_sum("otel_llm.tokenizer.truncations", **ENCODE) == 1
    # the per-sequence budget is not compared with the batch total
    assert otel_capture.metric_sum("otel_llm.tokenizer.budget_overflows") == 0


def test_decode_counts_every_id_of_a_batch(otel_capture: Capture, tok: Any) -> None:
    """decode of one sequence and batch_decode of two: tokens consumed, one operation per call."""
    assert _under_parent(lambda: tok.decode([4, 5])) == "hello world"
    assert tok.batch_decode([[4, 5], [6]]) == ["hello world", "the"]
    assert _attrs(otel_capture.span("tokenizer.decode"))["otel_llm.tokenizer.tokens"] == 2
    decode = {"otel_llm.tokenizer.name": NAME, "otel_llm.tokenizer.operation": "decode"}
    assert otel_capture.metric_sum("otel_llm.tokenizer.tokens", **decode) == 5
    assert otel_capture.histogram_count("otel_llm.tokenizer.duration", **decode) == 2


def test_chat_template_is_one_operation(otel_capture: Capture, tok: Any) -> None:
    """apply_chat_template is one span: its inner tokenizer __call__ is not recounted."""
    options = {"add_generation_prompt": True, "return_dict": True}
    expected = _plain("apply_chat_template", tok, MESSAGES, **options)
    otel_capture.clear()  # the plain call's inner tok(...) is still instrumented
    out = _under_parent(lambda: tok.apply_chat_template(MESSAGES, **options))
    assert dict(out) == dict(expected)
    assert [s.name for s in otel_capture.spans()] == ["tokenizer.apply_chat_template", "handler"]
    attrs = _attrs(otel_capture.span("tokenizer.apply_chat_template"))
    assert attrs["otel_llm.tokenizer.tokens"] == len(out["input_ids"]) == 7
    assert attrs["otel_llm.tokenizer.input.chars"] == len("hello world")
    assert otel_capture.histogram_count("otel_llm.tokenizer.duration", **ENCODE) == 0


def test_chat_template_render_and_truncation(otel_capture: Capture, tok: Any) -> None:
    """tokenize=False records no token count; truncation=True reports the cut prompt."""
    rendered = tok.apply_chat_template(MESSAGES, tokenize=False)
    assert rendered == "<|im_start|>user\nhello world<|im_end|>\n"
    options = {"truncation": True, "max_length": 3, "return_dict": True}
    cut = _under_parent(lambda: tok.apply_chat_template(MESSAGES, **options))
    assert cut["input_ids"] == [2, 63, 4]
    attrs = _attrs(otel_capture.span("tokenizer.apply_chat_template"))
    assert attrs["otel_llm.tokenizer.truncated"] is True
    assert attrs["otel_llm.tokenizer.original_tokens"] == 5
    assert otel_capture.histogram_count("otel_llm.tokenizer.duration", **CHAT) == 2
    assert otel_capture.histogram_count("otel_llm.tokenizer.tokens", **CHAT) == 1  # rendered: none
    assert otel_capture.metric_sum("otel_llm.tokenizer.tokens", **CHAT) == 3
    assert otel_capture.metric_sum("otel_llm.tokenizer.truncations", **CHAT) == 1


def test_tokenizer_error_passes_through(otel_capture: Capture, tok: Any) -> None:
    """The library's ValueError for a call without text reaches the caller; error.type is set."""
    with pytest.raises(ValueError, match="text"):
        _under_parent(lambda: tok(text=None))
    span = otel_capture.span("tokenizer.encode")
    assert span.status.status_code == StatusCode.ERROR
    assert _attrs(span)["error.type"] == "ValueError"


def test_uninstrument_restores_the_tokenizer_methods(otel_capture: Capture, tok: Any) -> None:
    """After uninstrument() the base-class methods are the originals and record nothing."""
    instrumentor = TransformersInstrumentor()
    instrumentor.uninstrument()
    try:
        for name in ("__call__", "encode", "decode", "batch_decode", "apply_chat_template"):
            assert not isinstance(PreTrainedTokenizerBase.__dict__[name], wrapt.FunctionWrapper)
        assert tok.encode("hello world") == [4, 5]
        assert otel_capture.metric_points("otel_llm.tokenizer.duration") == []
    finally:
        instrumentor.instrument()
    assert isinstance(PreTrainedTokenizerBase.__dict__["encode"], wrapt.FunctionWrapper)


# -- generate (needs torch) ----------------------------------------------------------------
@pytest.fixture(scope="module")
def model(tok: Any) -> Any:
    """A tiny random GPT-2 built from a config (no download), greedy and deterministic."""
    torch = pytest.importorskip("torch")
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(tok),
        n_positions=64,
        n_embd=16,
        n_layer=1,
        n_head=2,
        bos_token_id=0,
        eos_token_id=None,
        pad_token_id=0,
    )
    return GPT2LMHeadModel(config).eval()


GENERATE = "text_completion gpt2"


def test_generate_is_an_internal_generation(otel_capture: Capture, tok: Any, model: Any) -> None:
    """generate(): INTERNAL span, provider transformers, input and output token counts."""
    inputs = tok("hello world the", return_tensors="pt")
    out = model.generate(**inputs, max_new_tokens=5, min_new_tokens=5, do_sample=False)
    assert tuple(out.shape) == (1, 8)
    span = otel_capture.span(GENERATE)
    assert span.kind == SpanKind.INTERNAL
    assert _gen_attrs(span) == {
        "gen_ai.operation.name": "text_completion",
        "gen_ai.provider.name": "transformers",
        "gen_ai.request.model": "gpt2",
        "gen_ai.request.max_tokens": 5,
        "gen_ai.response.model": "gpt2",
        "gen_ai.usage.input_tokens": 3,
        "gen_ai.usage.output_tokens": 5,
    }
    usage = {"gen_ai.provider.name": "transformers", "gen_ai.request.model": "gpt2"}
    tokens = "gen_ai.client.token.usage"
    assert otel_capture.metric_sum(tokens, **usage, gen_ai_token_type="input") == 3
    assert otel_capture.metric_sum(tokens, **usage, gen_ai_token_type="output") == 5


def test_generate_dict_output_and_batch(otel_capture: Capture, tok: Any, model: Any) -> None:
    """return_dict_in_generate and a padded batch: padding is not input, every row's output is."""
    inputs = tok(
        ["hello world the quick", "fox"], return_tensors="pt", padding=True, padding_side="left"
    )
    out = model.generate(
        **inputs, max_new_tokens=3, min_new_tokens=3, do_sample=False, return_dict_in_generate=True
    )
    assert tuple(out.sequences.shape) == (2, 7)
    attrs = _attrs(otel_capture.span(GENERATE))
    assert attrs["gen_ai.usage.input_tokens"] == 5
    assert attrs["gen_ai.usage.output_tokens"] == 6


def test_generate_error_passes_through(otel_capture: Capture, tok: Any, model: Any) -> None:
    """An invalid generate() argument raises transformers' own error; the span records it."""
    inputs = tok("hello world", return_tensors="pt")
    with pytest.raises(ValueError) as raised:
        model.generate(**inputs, max_new_tokens=-1)
    span = otel_capture.span(GENERATE)
    assert span.status.status_code == StatusCode.ERROR
    assert _attrs(span)["error.type"] == type(raised.value).__qualname__


def test_generate_with_a_streamer_is_a_stream(otel_capture: Capture, tok: Any, model: Any) -> None:
    """TextIteratorStreamer in a context-copying thread: a child stream with chunks and TTFT."""
    from transformers import TextIteratorStreamer

    streamer = TextIteratorStreamer(tok, skip_prompt=True)
    inputs = tok("hello world", return_tensors="pt")
    kwargs = {**inputs, "max_new_tokens": 4, "min_new_tokens": 4, "do_sample": False}
    with trace.get_tracer("app").start_as_current_span("handler"):
        ctx = contextvars.copy_context()
        worker = threading.Thread(
            target=ctx.run, args=(model.generate,), kwargs={**kwargs, "streamer": streamer}
        )
        worker.start()
        text = "".join(streamer)
        worker.join(30)
    assert isinstance(text, str)
    (span,) = otel_capture.children(otel_capture.span("handler"))
    assert span.name == GENERATE
    # the streamer's own re-decoding of its token cache is not tokenizer telemetry
    assert otel_capture.children(span) == []
    decode = {"otel_llm.tokenizer.operation": "decode"}
    assert otel_capture.metric_points("otel_llm.tokenizer.duration", **decode) == []
    attrs = _attrs(span)
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["otel_llm.stream.chunks"] == 4
    assert attrs["gen_ai.usage.output_tokens"] == 4
    assert attrs["gen_ai.response.time_to_first_chunk"] > 0
    assert span.status.status_code == StatusCode.UNSET
    assert otel_capture.histogram_count("gen_ai.client.operation.time_per_output_chunk") == 3
    assert otel_capture.metric_sum("otel_llm.stream.active") == 0


def test_local_model_dir_is_named_by_basename(tmp_path: Path) -> None:
    """A tokenizer or model loaded from a local directory is named by the directory, not path."""
    from otel_llm.instrumentation.transformers import _short_name

    assert _short_name(str(tmp_path / "my-model")) == "my-model"
    assert _short_name("openai-community/gpt2") == "openai-community/gpt2"
    assert _short_name("") is None


def test_instrumenting_does_not_import_transformers() -> None:
    """instrument() imports nothing; the wrappers arrive when the app imports transformers."""
    proc = run_python(
        """
        import sys
        from otel_llm.instrumentation.transformers import TransformersInstrumentor
        TransformersInstrumentor().instrument()
        assert "transformers" not in sys.modules, "instrument() imported transformers"
        from transformers.tokenization_utils_base import PreTrainedTokenizerBase
        print(type(PreTrainedTokenizerBase.__dict__["encode"]).__name__)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "FunctionWrapper"
