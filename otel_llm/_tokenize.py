"""``tokenize()``: tokenizer spans and metrics (counts, truncations, estimates, overflows)."""

from __future__ import annotations

import logging
from typing import ClassVar

from opentelemetry import context as otel_context
from opentelemetry import trace

from . import semconv
from ._logging import log_event
from ._noop import NOOP
from ._operation import Attributes, Operation
from ._runtime import RT

__all__ = ["Tokenize", "tokenize"]


def _count(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    return value


class Tokenize(Operation):
    """Handle of one tokenizer call: report tokens, truncation, chunks and estimates."""

    __slots__ = (
        "_chunks",
        "_estimated",
        "_input_chars",
        "_max_tokens",
        "_operation",
        "_original_tokens",
        "_parent_required",
        "_tokenizer",
        "_tokens",
        "_truncated",
    )

    _component: ClassVar[str] = "tokenize"

    def __init__(
        self,
        operation: str,
        tokenizer: str,
        input_chars: int | None,
        max_tokens: int | None,
        parent_required: bool,
    ) -> None:
        super().__init__()
        if operation not in semconv.TOKENIZER_OPERATIONS:
            raise ValueError(
                f"unknown tokenizer operation {operation!r}; "
                f"allowed: {', '.join(sorted(semconv.TOKENIZER_OPERATIONS))}"
            )
        if not isinstance(tokenizer, str) or not tokenizer:
            raise ValueError(f"tokenizer must be a non-empty string, got {tokenizer!r}")
        self._operation = operation
        self._tokenizer = tokenizer
        self._input_chars = input_chars
        self._max_tokens = None if max_tokens is None else _count("max_tokens", max_tokens)
        self._parent_required = parent_required
        self._tokens: int | None = None
        self._original_tokens: int | None = None
        self._chunks: int | None = None
        self._truncated = False
        self._estimated = False
        self._metric_attrs = {
            semconv.TOKENIZER_NAME: tokenizer,
            semconv.TOKENIZER_OPERATION: operation,
        }

    def _span_name(self) -> str:
        return f"{semconv.SPAN_TOKENIZER_PREFIX}.{self._operation}"

    def _should_record_span(self, parent: otel_context.Context) -> bool:
        # Hot tokenizer paths (instrumentors) only trace under an existing span: metrics
        # always, but no root span per encode() call.
        return not self._parent_required or trace.get_current_span(parent).is_recording()

    def _start_attributes(self) -> Attributes:
        attributes: Attributes = dict(self._metric_attrs)
        if self._input_chars is not None:
            attributes[semconv.TOKENIZER_INPUT_CHARS] = self._input_chars
        if self._max_tokens is not None:
            attributes[semconv.TOKENIZER_MAX_TOKENS] = self._max_tokens
        return attributes

    def set_tokens(self, tokens: int) -> None:
        """Tokens produced (encode/count/truncate) or consumed (decode)."""
        self._tokens = _count("tokens", tokens)

    def set_truncated(self, original_tokens: int, truncated: bool = True) -> None:
        """Report that the input was cut from ``original_tokens``: data loss, counted."""
        self._original_tokens = _count("original_tokens", original_tokens)
        self._truncated = truncated

    def set_chunks(self, chunks: int) -> None:
        """Number of chunks a chunk operation produced."""
        self._chunks = _count("chunks", chunks)

    def set_estimated(self, estimated: bool = True) -> None:
        """Mark the count as a heuristic estimate, not a real tokenizer's."""
        self._estimated = bool(estimated)

    def _on_end(self, duration: float) -> None:
        attributes: Attributes = {
            semconv.TOKENIZER_TRUNCATED: self._truncated,
            semconv.TOKENIZER_ESTIMATED: self._estimated,
        }
        if self._tokens is not None:
            attributes[semconv.TOKENIZER_TOKENS] = self._tokens
        if self._input_chars is not None:
            attributes[semconv.TOKENIZER_INPUT_CHARS] = self._input_chars
        if self._original_tokens is not None:
            attributes[semconv.TOKENIZER_ORIGINAL_TOKENS] = self._original_tokens
        if self._chunks is not None:
            attributes[semconv.TOKENIZER_CHUNKS] = self._chunks
        span = self.span
        if span.is_recording():
            span.set_attributes(attributes)
        instruments = RT.instruments
        ctx = self._ctx
        attrs = self._metric_attrs
        if self._error_type is not None:
            attrs = {**attrs, semconv.ERROR_TYPE: self._error_type}
        instruments.tokenizer_duration.record(duration, attrs, context=ctx)
        if self._tokens is not None:
            instruments.tokenizer_tokens.record(self._tokens, attrs, context=ctx)
        if self._input_chars is not None:
            instruments.tokenizer_input_chars.record(self._input_chars, attrs, context=ctx)
        if self._chunks is not None:
            instruments.tokenizer_chunks.record(self._chunks, attrs, context=ctx)
        if self._truncated:
            instruments.tokenizer_truncations.add(1, attrs, context=ctx)
            log_event(
                logging.INFO,
                "input truncated",
                tokenizer=self._tokenizer,
                original_tokens=self._original_tokens,
                kept_tokens=self._tokens,
                max_tokens=self._max_tokens,
            )
        if self._estimated:
            instruments.tokenizer_estimates.add(1, attrs, context=ctx)
        needed = self._original_tokens if self._original_tokens is not None else self._tokens
        if self._max_tokens is not None and needed is not None and needed > self._max_tokens:
            instruments.tokenizer_budget_overflows.add(1, attrs, context=ctx)


def tokenize(
    operation: str,
    tokenizer: str,
    text: str | None = None,
    max_tokens: int | None = None,
    *,
    input_chars: int | None = None,
    parent_required: bool = False,
) -> Tokenize:
    """Trace a tokenizer call (``tokenizer.{operation}``) and record tokenizer metrics.

    ``operation`` is one of encode, decode, count, truncate, chunk, apply_chat_template.
    ``text`` is only measured (its length), never recorded. With ``parent_required=True``
    a span is made only under an active span; metrics are always recorded.
    """
    if not RT.enabled:
        return NOOP  # type: ignore[return-value]
    if input_chars is None and text is not None:
        input_chars = len(text)
    return Tokenize(operation, tokenizer, input_chars, max_tokens, parent_required)
