"""``generation()``: the semconv v1.41 inference span and the GenAI client metrics."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind

from . import semconv
from ._attributes import current_dimensions
from ._budget import check_before_generation
from ._cost import record_generation_cost, usage_from_attributes
from ._noop import NOOP
from ._operation import Attributes, Operation
from ._redact import safe_label
from ._runtime import GENERATION_KEY, ROUTE_KEY, RT, report_error

__all__ = ["REQUEST_PARAMS", "Generation", "generation"]

REQUEST_PARAMS: Mapping[str, str] = {
    "max_tokens": semconv.GEN_AI_REQUEST_MAX_TOKENS,
    "temperature": semconv.GEN_AI_REQUEST_TEMPERATURE,
    "top_p": semconv.GEN_AI_REQUEST_TOP_P,
    "top_k": semconv.GEN_AI_REQUEST_TOP_K,
    "frequency_penalty": semconv.GEN_AI_REQUEST_FREQUENCY_PENALTY,
    "presence_penalty": semconv.GEN_AI_REQUEST_PRESENCE_PENALTY,
    "stop_sequences": semconv.GEN_AI_REQUEST_STOP_SEQUENCES,
    "seed": semconv.GEN_AI_REQUEST_SEED,
    "choice_count": semconv.GEN_AI_REQUEST_CHOICE_COUNT,
    "encoding_formats": semconv.GEN_AI_REQUEST_ENCODING_FORMATS,
    "output_type": semconv.GEN_AI_OUTPUT_TYPE,
}
"""Keyword arguments of ``generation()`` that become ``gen_ai.request.*`` attributes."""


def _non_negative(name: str, value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    return value


def _request_attributes(params: Mapping[str, Any]) -> Attributes:
    attributes: Attributes = {}
    for key, value in params.items():
        name = REQUEST_PARAMS.get(key)
        if name is None:
            raise ValueError(
                f"unknown request parameter {key!r}; allowed: {', '.join(sorted(REQUEST_PARAMS))}"
            )
        if value is None or (key == "choice_count" and value == 1):
            continue
        if key in ("stop_sequences", "encoding_formats"):
            value = [value] if isinstance(value, str) else [str(v) for v in value]
        attributes[name] = value
    return attributes


class Generation(Operation):
    """Handle of one model call: set the response, usage and errors on it.

    Use it as a context manager, or call ``start()`` / ``end(error)`` when the call's
    lifetime does not fit a ``with`` block (instrumentors do).
    """

    __slots__ = (
        "_attributes",
        "_child_recorded",
        "_child_usage",
        "_dimensions",
        "_in_process",
        "_input_tokens",
        "_model",
        "_operation",
        "_outer",
        "_output_tokens",
        "_provider",
        "_response_model",
        "_usage",
    )

    _component: ClassVar[str] = "generation"

    def __init__(
        self,
        model: str,
        provider: str,
        operation: str = semconv.OP_CHAT,
        *,
        server_address: str | None = None,
        server_port: int | None = None,
        in_process: bool = False,
        **request_params: Any,
    ) -> None:
        super().__init__()
        if not isinstance(model, str) or not model:
            raise ValueError(f"model must be a non-empty string, got {model!r}")
        if not isinstance(provider, str) or not provider:
            raise ValueError(f"provider must be a non-empty string, got {provider!r}")
        if not isinstance(operation, str) or not operation:
            raise ValueError(f"operation must be a non-empty string, got {operation!r}")
        self._model = model
        self._provider = provider
        self._operation = operation
        attributes: Attributes = {
            semconv.GEN_AI_OPERATION_NAME: operation,
            semconv.GEN_AI_PROVIDER_NAME: provider,
            semconv.GEN_AI_REQUEST_MODEL: model,
        }
        # a key pasted as a model name must not become a metric label
        metric_attrs = {**attributes, semconv.GEN_AI_REQUEST_MODEL: safe_label(model)}
        if server_address:
            attributes[semconv.SERVER_ADDRESS] = metric_attrs[semconv.SERVER_ADDRESS] = (
                server_address
            )
            if server_port:
                attributes[semconv.SERVER_PORT] = metric_attrs[semconv.SERVER_PORT] = server_port
        attributes.update(_request_attributes(request_params))
        self._attributes = attributes
        self._metric_attrs = metric_attrs
        self._response_model: str | None = None
        self._input_tokens: int | None = None
        self._output_tokens: int | None = None
        self._usage: dict[str, int] = {}
        self._outer: Generation | None = None
        self._child_recorded = False
        self._child_usage = False
        self._in_process = in_process
        self._dimensions = current_dimensions()

    def _span_kind(self) -> SpanKind:
        return SpanKind.INTERNAL if self._in_process else SpanKind.CLIENT

    @property
    def model(self) -> str:
        """The requested model."""
        return self._model

    @property
    def response_model(self) -> str | None:
        """The model that served the call, once the response is set."""
        return self._response_model

    @property
    def provider(self) -> str:
        """The provider name (``gen_ai.provider.name``)."""
        return self._provider

    def start(self) -> Generation:
        """Start the span; first a hard budget that is used up raises ``BudgetExceeded``."""
        if self._ctx is None:
            check_before_generation(self._provider, self._model)
        return super().start()

    def _span_name(self) -> str:
        return f"{self._operation} {self._model}"

    def _start_attributes(self) -> Attributes:
        return self._attributes

    def _context_values(self, ctx: otel_context.Context) -> otel_context.Context:
        outer = otel_context.get_value(GENERATION_KEY, ctx)
        if isinstance(outer, Generation):
            self._outer = outer
        route = otel_context.get_value(ROUTE_KEY, ctx)
        if route is not None:
            route.attempt_started(self)  # type: ignore[attr-defined]
        return otel_context.set_value(GENERATION_KEY, self, ctx)

    # -- response -----------------------------------------------------------------
    def set_response(
        self,
        *,
        model: str | None = None,
        response_id: str | None = None,
        finish_reasons: Sequence[str] | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        cache_read_input_tokens: int | None = None,
        cache_creation_input_tokens: int | None = None,
        reasoning_output_tokens: int | None = None,
    ) -> None:
        """Record what the model answered: served model, id, finish reasons and usage.

        Token counts must be non-negative ints, ``model`` and ``response_id`` strs
        (``ValueError`` otherwise). ``input_tokens`` includes cached input tokens, as OpenAI
        reports it.
        """
        for name, value in (("model", model), ("response_id", response_id)):
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{name} must be a str, got {value!r}")
        usage = {
            semconv.GEN_AI_USAGE_INPUT_TOKENS: _non_negative("input_tokens", input_tokens),
            semconv.GEN_AI_USAGE_OUTPUT_TOKENS: _non_negative("output_tokens", output_tokens),
            semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: _non_negative(
                "cache_read_input_tokens", cache_read_input_tokens
            ),
            semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: _non_negative(
                "cache_creation_input_tokens", cache_creation_input_tokens
            ),
            semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: _non_negative(
                "reasoning_output_tokens", reasoning_output_tokens
            ),
        }
        attributes: Attributes = {k: v for k, v in usage.items() if v is not None}
        self._usage.update(attributes)  # type: ignore[arg-type]
        if input_tokens is not None:
            self._input_tokens = input_tokens
        if output_tokens is not None:
            self._output_tokens = output_tokens
        if model:
            self._response_model = model
            attributes[semconv.GEN_AI_RESPONSE_MODEL] = model
        if response_id:
            attributes[semconv.GEN_AI_RESPONSE_ID] = response_id
        if finish_reasons is not None:
            reasons = [finish_reasons] if isinstance(finish_reasons, str) else finish_reasons
            attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] = [str(r) for r in reasons]
        self.set_attributes(attributes)

    def set_tool_calls(self, calls: Iterable[tuple[object, object]]) -> None:
        """Record the tool calls the model requested, as ``(name, call_id)`` pairs.

        Names and ids are not content, so they are recorded whatever the capture mode;
        the arguments are part of ``gen_ai.output.messages`` when capture allows it.
        """
        pairs = [(str(name or ""), str(call_id or "")) for name, call_id in calls]
        if pairs:
            self.set_attributes(
                {
                    semconv.RESPONSE_TOOL_CALL_NAMES: [name for name, _ in pairs],
                    semconv.RESPONSE_TOOL_CALL_IDS: [call_id for _, call_id in pairs],
                }
            )

    @property
    def usage(self) -> Mapping[str, int]:
        """Usage recorded so far, keyed by the ``gen_ai.usage.*`` attribute names."""
        return self._usage

    def set_input_messages(self, messages: Any) -> None:
        """Record the prompt when content capture allows it (``OTEL_INSTRUMENTATION_GENAI_...``)."""
        self._capture(semconv.GEN_AI_INPUT_MESSAGES, messages)

    def set_output_messages(self, messages: Any) -> None:
        """Record the completion when content capture allows it."""
        self._capture(semconv.GEN_AI_OUTPUT_MESSAGES, messages)

    def _capture(self, key: str, messages: Any) -> None:
        mode = RT.capture
        if mode == "NO_CONTENT" or not self.span.is_recording():
            return
        try:
            payload = messages if isinstance(messages, str) else json.dumps(messages, default=str)
            if mode in ("SPAN_ONLY", "SPAN_AND_EVENT"):
                self.span.set_attribute(key, payload)
            if mode in ("EVENT_ONLY", "SPAN_AND_EVENT"):
                self.span.add_event(key, {key: payload})
        except Exception as exc:
            from ._runtime import report_error

            report_error(self._component, exc)

    # -- end ----------------------------------------------------------------------
    def _on_end(self, duration: float) -> None:
        self._record_metrics(duration)

    def _record_metrics(self, duration: float) -> None:
        # Metrics are recorded once per logical call: by the innermost generation. An
        # enclosing generation (a user's span around an instrumented client, litellm over
        # openai) records only if nothing inside it did; its usage (tokens, cost) still
        # counts when the inner call knew none (e.g. a raw streamed response it could not
        # read), so tokens are never lost to the suppression.
        outer = self._outer
        if outer is not None:
            outer._child_recorded = True
            if self._input_tokens is not None or self._output_tokens is not None:
                outer._child_usage = True
        if self._child_recorded and (
            self._child_usage or (self._input_tokens is None and self._output_tokens is None)
        ):
            return
        attrs = self._metric_attrs
        if self._dimensions:
            attrs.update(self._dimensions)
        if self._response_model:
            attrs[semconv.GEN_AI_RESPONSE_MODEL] = safe_label(self._response_model)
        ctx = self._ctx
        instruments = RT.instruments
        if self._input_tokens is not None:
            instruments.token_usage.record(
                self._input_tokens,
                {**attrs, semconv.GEN_AI_TOKEN_TYPE: semconv.TOKEN_TYPE_INPUT},
                context=ctx,
            )
        if self._output_tokens is not None:
            instruments.token_usage.record(
                self._output_tokens,
                {**attrs, semconv.GEN_AI_TOKEN_TYPE: semconv.TOKEN_TYPE_OUTPUT},
                context=ctx,
            )
        try:
            record_generation_cost(
                self._provider,
                self._model,
                self._response_model,
                usage_from_attributes(self._usage),
                self.span,
                ctx,
                self._dimensions,
            )
        except Exception as exc:
            report_error(self._component, exc)
        if self._child_recorded:
            return  # the inner call recorded the duration
        if self._error_type is not None:
            attrs[semconv.ERROR_TYPE] = self._error_type
        instruments.operation_duration.record(duration, attrs, context=ctx)


def generation(
    model: str,
    provider: str,
    operation: str = semconv.OP_CHAT,
    *,
    server_address: str | None = None,
    server_port: int | None = None,
    in_process: bool = False,
    **request_params: Any,
) -> Generation:
    """Trace one model call (``{operation} {model}``, kind CLIENT) and record its metrics.

    ``request_params`` are the sampling parameters (``max_tokens``, ``temperature``,
    ``top_p``, ...) recorded as ``gen_ai.request.*``; ``in_process=True`` makes the span
    INTERNAL for a model running in this process.
    """
    if not RT.enabled:
        return NOOP  # type: ignore[return-value]
    return Generation(
        model,
        provider,
        operation,
        server_address=server_address,
        server_port=server_port,
        in_process=in_process,
        **request_params,
    )
