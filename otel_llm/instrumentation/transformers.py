"""Hugging Face transformers instrumentation: tokenizer calls and in-process ``generate``.

Tokenizers (``PreTrainedTokenizerBase.__call__``, ``encode``, ``decode``, ``batch_decode``,
``apply_chat_template``) become ``Tokenize`` handles with ``parent_required=True``: metrics
always, a ``tokenizer.*`` span only under an active span. A call made from inside another
instrumented tokenizer call (``apply_chat_template`` tokenizing its rendered prompt) is not
counted again.

Truncation is data loss, so it is measured, not guessed: when truncation is on and an
output sequence came out exactly at the token budget, the input is tokenized once more
without truncation to get ``original_tokens``. Inputs shorter than the budget cost nothing
extra. For a batch, ``max_tokens`` is the per-sequence budget: truncations are counted,
but the engine's budget-overflow counter (which compares the call's token total with
``max_tokens``) is left to single inputs.

``GenerationMixin.generate`` is an INTERNAL generation span (``in_process=True``, provider
``transformers``, operation ``text_completion``) with input and output token counts. With
a ``streamer`` (``TextStreamer``, ``TextIteratorStreamer``, any ``BaseStreamer``) it is a
streamed generation fed from the streamer's ``put`` calls: time to first token, time per
token, tokens per second. The caller's streamer object is not modified; ``generate`` gets
a proxy of it.

The instrumentor never imports transformers itself: the wrappers are installed when the
application imports the tokenizer and generation modules.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Collection, Iterable, Mapping
from contextvars import ContextVar
from typing import Any

import wrapt
from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)
from opentelemetry.instrumentation.utils import unwrap

from .. import semconv
from .._generation import Generation
from .._runtime import RT, report_error
from .._stream import Stream
from .._tokenize import Tokenize

__all__ = ["PROVIDER", "TransformersInstrumentor"]

_log = logging.getLogger(__name__)
_COMPONENT = "instrumentation.transformers"

PROVIDER = "transformers"
"""``gen_ai.provider.name`` of in-process ``generate`` spans."""

_TOKENIZER_MODULE = "transformers.tokenization_utils_base"
_GENERATION_MODULE = "transformers.generation.utils"
_NO_BUDGET = 10**18  # model_max_length above this means "unbounded" (transformers uses 1e30)

_IN_TOKENIZER: ContextVar[bool] = ContextVar("otel_llm.transformers.tokenizer", default=False)
_IN_GENERATE: ContextVar[bool] = ContextVar("otel_llm.transformers.generate", default=False)


# -- helpers ---------------------------------------------------------------------------------
def _short_name(name: Any) -> str | None:
    """A tokenizer/model name for telemetry: hub ids as they are, local paths by basename."""
    if not isinstance(name, str) or not name:
        return None
    if os.path.isabs(name) or name.startswith("."):
        return os.path.basename(os.path.normpath(name)) or None
    return name


def _tokenizer_name(tokenizer: Any) -> str:
    return _short_name(getattr(tokenizer, "name_or_path", None)) or type(tokenizer).__name__


def _rows(ids: Any) -> list[list[int]]:
    """Token ids (list, nested list, numpy array or tensor) as a list of rows."""
    if hasattr(ids, "tolist"):
        ids = ids.tolist()
    if isinstance(ids, int):
        return [[ids]]
    if not isinstance(ids, (list, tuple)):
        return []
    if ids and hasattr(ids[0], "tolist"):  # a ragged batch: an object array of arrays
        ids = [row.tolist() for row in ids]
    if not ids or not isinstance(ids[0], (list, tuple)):
        return [list(ids)]
    return [list(row) for row in ids]


def _row_lengths(encoded: Any, pad_id: Any = None) -> list[int]:
    """Real (non-padding) tokens per sequence of an encoder output."""
    if isinstance(encoded, Mapping):
        mask = encoded.get("attention_mask")
        if mask is not None:
            return [sum(row) for row in _rows(mask)]
        encoded = encoded.get("input_ids")
    rows = _rows(encoded)
    if pad_id is not None:
        return [sum(1 for token in row if token != pad_id) for row in rows]
    return [len(row) for row in rows]


def _chars(value: Any, depth: int = 0) -> int:
    """Characters of text input: a string, a batch of strings, or pre-split words.

    Only lists and tuples are looked into (at most as deep as a batch of pre-split pairs):
    a one-shot iterable is the library's to consume, and anything else it rejects itself.
    """
    if isinstance(value, str):
        return len(value)
    if isinstance(value, (list, tuple)) and depth < 4:
        return sum(_chars(item, depth + 1) for item in value)
    return 0


def _budget(tokenizer: Any, kwargs: Mapping[str, Any]) -> int | None:
    """The per-sequence token budget when this call truncates, else None."""
    truncation = kwargs.get("truncation")
    max_length = kwargs.get("max_length")
    if truncation is None:
        # transformers: max_length alone (without padding) switches truncation on
        if max_length is None or kwargs.get("padding") not in (None, False):
            return None
    elif truncation is False or str(getattr(truncation, "value", truncation)) in (
        "do_not_truncate",
        "False",
    ):
        return None
    if max_length is None:
        max_length = getattr(tokenizer, "model_max_length", None)
    if isinstance(max_length, int) and 0 < max_length < _NO_BUDGET:
        return max_length
    return None


_UNTRUNCATED: Mapping[str, Any] = {
    "truncation": False,
    "max_length": None,
    "padding": False,
    "return_tensors": None,
}
"""Keyword overrides that re-run a call without truncation (and without padding)."""


def _original_tokens(
    wrapped: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> int:
    """Tokens of the same input without truncation (a second, uninstrumented call)."""
    extra = {"return_overflowing_tokens": False, "stride": 0} if "stride" in kwargs else {}
    result = wrapped(*args, **{**kwargs, **_UNTRUNCATED, **extra})
    return sum(_row_lengths(result))


def _pad_id(tokenizer: Any, kwargs: Mapping[str, Any]) -> Any:
    return getattr(tokenizer, "pad_token_id", None) if kwargs.get("padding") else None


# -- tokenizer wrappers ------------------------------------------------------------------------
def _tokenizer_call(
    operation: str,
    wrapped: Callable[..., Any],
    instance: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    input_chars: int,
    budget: int | None,
    single: bool,
) -> Any:
    """Run one encode-like tokenizer call as a Tokenize handle, measuring truncation.

    ``budget`` is the per-sequence token limit when the call truncates; ``single`` says
    whether the input is one sequence (then the budget is the handle's ``max_tokens``).
    """
    try:
        name = _tokenizer_name(instance)
        op = Tokenize(operation, name, input_chars, budget if single else None, True)
        op.start()
        if budget is not None and not single:
            op.set_attribute(semconv.TOKENIZER_MAX_TOKENS, budget)  # span only, see above
    except Exception as exc:
        report_error(_COMPONENT, exc)
        return wrapped(*args, **kwargs)
    token = _IN_TOKENIZER.set(True)
    try:
        result = wrapped(*args, **kwargs)
    except BaseException as exc:
        op.end(exc)
        raise
    finally:
        _IN_TOKENIZER.reset(token)
    if isinstance(result, str):  # apply_chat_template(tokenize=False): rendered, not counted
        op.end()
        return result
    token = _IN_TOKENIZER.set(True)
    try:
        lengths = _row_lengths(result, _pad_id(instance, kwargs))
        op.set_tokens(sum(lengths))
        # Only an output at the budget can have been cut; only then pay a second call.
        if budget is not None and lengths and max(lengths) >= budget and len(args) <= 2:
            original = _original_tokens(wrapped, args, kwargs)
            if original > sum(lengths):
                op.set_truncated(original_tokens=original)
    except Exception as exc:
        report_error(_COMPONENT, exc)
    finally:
        _IN_TOKENIZER.reset(token)
    op.end()
    return result


def _call_wrapper(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    if not RT.enabled or _IN_TOKENIZER.get():
        return wrapped(*args, **kwargs)
    text = args[0] if args else kwargs.get("text")
    pair = args[1] if len(args) > 1 else kwargs.get("text_pair")
    if text is None:
        text = kwargs.get("text_target")
    words = bool(kwargs.get("is_split_into_words"))
    single = isinstance(text, str) or (
        words and isinstance(text, (list, tuple)) and bool(text) and isinstance(text[0], str)
    )
    return _tokenizer_call(
        "encode",
        wrapped,
        instance,
        args,
        kwargs,
        _chars([text, pair]),
        _budget(instance, kwargs),
        single,
    )


def _encode_wrapper(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    if not RT.enabled or _IN_TOKENIZER.get():
        return wrapped(*args, **kwargs)
    text = args[0] if args else kwargs.get("text")
    pair = args[1] if len(args) > 1 else kwargs.get("text_pair")
    return _tokenizer_call(
        "encode",
        wrapped,
        instance,
        args,
        kwargs,
        _chars([text, pair]),
        _budget(instance, kwargs),
        True,
    )


def _chat_chars(conversation: Any) -> int:
    """Characters of the text content of a conversation (or a batch of them)."""
    if isinstance(conversation, Mapping):
        content = conversation.get("content")
        if isinstance(content, str):
            return len(content)
        if isinstance(content, (list, tuple)):
            return sum(
                len(part["text"])
                for part in content
                if isinstance(part, Mapping) and isinstance(part.get("text"), str)
            )
        return 0
    if isinstance(conversation, (list, tuple)):  # never consume a one-shot iterable
        return sum(_chat_chars(item) for item in conversation)
    return 0


def _chat_template_wrapper(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    if not RT.enabled or _IN_TOKENIZER.get():
        return wrapped(*args, **kwargs)
    conversation = args[0] if args else kwargs.get("conversation")
    batch = (
        isinstance(conversation, (list, tuple))
        and bool(conversation)
        and isinstance(conversation[0], (list, tuple))
    )
    # apply_chat_template truncates only with truncation=True (max_length alone pads/limits
    # nothing); options passed positionally are not inspected.
    truncates = len(args) <= 1 and kwargs.get("truncation") is True
    return _tokenizer_call(
        "apply_chat_template",
        wrapped,
        instance,
        args,
        kwargs,
        _chat_chars(conversation),
        _budget(instance, kwargs) if truncates else None,
        not batch,
    )


def _decode_wrapper(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    if not RT.enabled or _IN_TOKENIZER.get():
        return wrapped(*args, **kwargs)
    try:
        ids = args[0] if args else kwargs.get("token_ids", kwargs.get("sequences"))
        op = Tokenize("decode", _tokenizer_name(instance), None, None, True)
        op.set_tokens(sum(len(row) for row in _rows(ids)))
        op.start()
    except Exception as exc:
        report_error(_COMPONENT, exc)
        return wrapped(*args, **kwargs)
    token = _IN_TOKENIZER.set(True)
    try:
        result = wrapped(*args, **kwargs)
    except BaseException as exc:
        op.end(exc)
        raise
    finally:
        _IN_TOKENIZER.reset(token)
    op.end()
    return result


# -- generate ----------------------------------------------------------------------------------
class _StreamerProxy(wrapt.ObjectProxy):  # type: ignore[type-arg]
    """The caller's streamer as ``generate`` sees it: each ``put`` after the prompt is a chunk."""

    def __init__(self, wrapped: Any, stream: Stream) -> None:
        super().__init__(wrapped)
        self._self_stream = stream
        self._self_prompt_seen = False

    def put(self, value: Any) -> Any:
        if self._self_prompt_seen:
            try:
                self._self_stream.chunk(_numel(value))
            except Exception as exc:
                report_error(_COMPONENT, exc)
        else:
            self._self_prompt_seen = True  # generate() first puts the prompt ids
        # Text streamers re-decode their growing token cache on every put: bookkeeping of
        # the stream, not the application's tokenizer work, so it is not counted.
        token = _IN_TOKENIZER.set(True)
        try:
            return self.__wrapped__.put(value)
        finally:
            _IN_TOKENIZER.reset(token)

    def end(self) -> Any:
        token = _IN_TOKENIZER.set(True)
        try:
            return self.__wrapped__.end()
        finally:
            _IN_TOKENIZER.reset(token)


def _numel(value: Any) -> int:
    numel = getattr(value, "numel", None)
    if callable(numel):
        return int(numel())
    return sum(len(row) for row in _rows(value))


def _model_name(model: Any) -> str:
    config = getattr(model, "config", None)
    for candidate in (
        getattr(model, "name_or_path", None),
        getattr(config, "_name_or_path", None),
        getattr(config, "model_type", None),
    ):
        name = _short_name(candidate)
        if name:
            return name
    return type(model).__name__


def _request_params(model: Any, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    config = kwargs.get("generation_config") or getattr(model, "generation_config", None)

    def value(name: str) -> Any:
        return kwargs[name] if name in kwargs else getattr(config, name, None)

    params: dict[str, Any] = {}
    max_new = value("max_new_tokens")
    if isinstance(max_new, int):
        params["max_tokens"] = max_new
    if value("do_sample"):
        for name in ("temperature", "top_p", "top_k"):
            if isinstance(value(name), (int, float)):
                params[name] = value(name)
    count = value("num_return_sequences")
    if isinstance(count, int) and count > 1:
        params["choice_count"] = count
    return params


def _input_tokens(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> tuple[int, int] | None:
    """(real input tokens, padded input length) of a generate call, if known."""
    ids = kwargs.get("input_ids")
    if ids is None:
        ids = args[0] if args else kwargs.get("inputs")
    shape = getattr(ids, "shape", None)
    if ids is None or shape is None or len(shape) != 2:
        return None
    mask = kwargs.get("attention_mask")
    real = int(mask.sum()) if mask is not None and hasattr(mask, "sum") else int(ids.numel())
    return real, int(shape[1])


def _output_tokens(model: Any, result: Any, input_length: int | None) -> int | None:
    sequences = getattr(result, "sequences", result)
    shape = getattr(sequences, "shape", None)
    if shape is None or len(shape) != 2:
        return None
    rows, length = int(shape[0]), int(shape[1])
    if getattr(getattr(model, "config", None), "is_encoder_decoder", False):
        return rows * max(length - 1, 0)  # minus the decoder start token
    if input_length is None:
        return None
    return rows * max(length - input_length, 0)


_STREAMER_INDEX = 7  # generate(inputs, generation_config, ..., assistant_model, streamer, ...)


def _generate_wrapper(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    if not RT.enabled or _IN_GENERATE.get():
        return wrapped(*args, **kwargs)
    try:
        streamer = kwargs.get("streamer")
        if streamer is None and len(args) > _STREAMER_INDEX:
            streamer = args[_STREAMER_INDEX]
        model = _model_name(instance)
        params = _request_params(instance, kwargs)
        inputs = _input_tokens(args, kwargs)
        gen: Generation
        if streamer is not None:
            gen = Stream(model, PROVIDER, semconv.OP_TEXT_COMPLETION, in_process=True, **params)
            proxy = _StreamerProxy(streamer, gen)
            if "streamer" in kwargs or len(args) <= _STREAMER_INDEX:
                kwargs = {**kwargs, "streamer": proxy}
            else:
                args = (*args[:_STREAMER_INDEX], proxy, *args[_STREAMER_INDEX + 1 :])
        else:
            gen = Generation(model, PROVIDER, semconv.OP_TEXT_COMPLETION, in_process=True, **params)
    except Exception as exc:
        report_error(_COMPONENT, exc)
        return wrapped(*args, **kwargs)
    token = _IN_GENERATE.set(True)
    try:
        with gen:
            result = wrapped(*args, **kwargs)
            try:
                output = _output_tokens(instance, result, inputs[1] if inputs else None)
                gen.set_response(
                    model=model,
                    input_tokens=inputs[0] if inputs else None,
                    output_tokens=output,
                )
            except Exception as exc:
                report_error(_COMPONENT, exc)
    finally:
        _IN_GENERATE.reset(token)
    return result


# -- instrumentor ------------------------------------------------------------------------------
_TOKENIZER_TARGETS: tuple[tuple[str, Callable[..., Any]], ...] = (
    ("PreTrainedTokenizerBase.__call__", _call_wrapper),
    ("PreTrainedTokenizerBase.encode", _encode_wrapper),
    ("PreTrainedTokenizerBase.decode", _decode_wrapper),
    ("PreTrainedTokenizerBase.batch_decode", _decode_wrapper),  # v4 loops over decode()
    ("PreTrainedTokenizerBase.apply_chat_template", _chat_template_wrapper),
)
_GENERATION_TARGETS: tuple[tuple[str, Callable[..., Any]], ...] = (
    ("GenerationMixin.generate", _generate_wrapper),
)


class TransformersInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Record tokenizer telemetry and in-process ``generate`` spans for transformers."""

    _active = False
    _wrapped: list[tuple[Any, str]] = []  # noqa: RUF012 - BaseInstrumentor is a singleton

    def instrumentation_dependencies(self) -> Collection[str]:
        """The tested transformers versions."""
        return ("transformers >= 4.57, < 6",)

    def _instrument(self, **kwargs: Any) -> None:
        cls = type(self)
        cls._active = True
        wrapt.register_post_import_hook(cls._on_tokenizers, _TOKENIZER_MODULE)
        wrapt.register_post_import_hook(cls._on_generation, _GENERATION_MODULE)

    @classmethod
    def _on_tokenizers(cls, module: Any) -> None:
        cls._wrap(module, _TOKENIZER_TARGETS)

    @classmethod
    def _on_generation(cls, module: Any) -> None:
        cls._wrap(module, _GENERATION_TARGETS)

    @classmethod
    def _wrap(cls, module: Any, targets: Iterable[tuple[str, Callable[..., Any]]]) -> None:
        if not cls._active:
            return
        for path, wrapper in targets:
            owner_name, attribute = path.split(".")
            owner = getattr(module, owner_name, None)
            original = getattr(owner, attribute, None)
            if owner is None or not callable(original):
                _log.debug("otel-llm: transformers %s missing; not instrumented", path)
                continue
            if isinstance(owner.__dict__.get(attribute), wrapt.FunctionWrapper):
                continue  # already wrapped (hook fired twice)
            wrapt.wrap_function_wrapper(module, path, wrapper)
            cls._wrapped.append((owner, attribute))

    def _uninstrument(self, **kwargs: Any) -> None:
        cls = type(self)
        cls._active = False
        for owner, attribute in cls._wrapped:
            unwrap(owner, attribute)
        cls._wrapped = []
