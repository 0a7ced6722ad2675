"""Cost telemetry of a finished generation: span attribute, cost counter, budget charge.

The engine calls ``record_generation_cost`` once per logical call (by the innermost
generation, like the token metrics) while the span is still open. Money stays ``Decimal``
until this edge, where it becomes a float attribute and counter increment.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from opentelemetry import metrics
from opentelemetry.context import Context
from opentelemetry.metrics import Counter, MeterProvider
from opentelemetry.trace import Span
from opentelemetry.util.types import AttributeValue

from . import __version__, semconv
from ._budget import charge
from ._fork import fork_safe_lock
from ._pricing import Cost, Usage, get_table

__all__ = ["record_generation_cost", "usage_from_attributes"]

_TOKEN_TYPES: Mapping[str, str] = {
    "input": semconv.TOKEN_TYPE_INPUT,
    "cache_read": semconv.TOKEN_TYPE_CACHE_READ,
    "cache_creation": semconv.TOKEN_TYPE_CACHE_CREATION,
    "output": semconv.TOKEN_TYPE_OUTPUT,
    "reasoning": semconv.TOKEN_TYPE_REASONING,
}


def usage_from_attributes(attributes: Mapping[str, int]) -> Usage | None:
    """``Usage`` from ``gen_ai.usage.*`` attribute values; None when no tokens were reported."""
    if not attributes:
        return None
    return Usage(
        input_tokens=attributes.get(semconv.GEN_AI_USAGE_INPUT_TOKENS, 0),
        output_tokens=attributes.get(semconv.GEN_AI_USAGE_OUTPUT_TOKENS, 0),
        cache_read_input_tokens=attributes.get(semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, 0),
        cache_creation_input_tokens=attributes.get(
            semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, 0
        ),
        reasoning_output_tokens=attributes.get(semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, 0),
    )


def record_generation_cost(
    provider: str,
    request_model: str,
    response_model: str | None,
    usage: Usage | None,
    span: Span,
    context: Context | None = None,
    dimensions: Mapping[str, AttributeValue] | None = None,
) -> Cost | None:
    """Price the call, set ``otel_llm.cost.usd``, add to ``otel_llm.cost``, charge budgets.

    The served (response) model is priced when the table knows it - a dated snapshot can
    cost differently from its family - else the requested model. An unknown model gets no
    cost and one warning; its tokens still count toward token budgets. ``dimensions`` are
    the declared metric dimensions of ``otel_llm.attributes()`` (by default ``feature``).
    """
    if usage is None:
        return None
    table = get_table()
    cost: Cost | None = None
    if response_model:
        price = table.resolve(provider, response_model)
        if price is not None:
            cost = price.cost(usage, table.exchange_rates[price.currency])
    if cost is None:
        cost = table.cost(provider, request_model, usage)
    if cost is not None:
        if span.is_recording():
            span.set_attribute(semconv.COST_USD, float(cost.usd))
        counter = _counter()
        base: dict[str, AttributeValue] = {
            semconv.GEN_AI_PROVIDER_NAME: provider,
            semconv.GEN_AI_REQUEST_MODEL: cost.model,
        }
        if dimensions:
            base.update(dimensions)
        rate = cost.usd / cost.total if cost.total else Decimal(1)
        for kind, amount in cost.by_token_type.items():
            if amount:
                counter.add(
                    float(amount * rate),
                    {**base, semconv.GEN_AI_TOKEN_TYPE: _TOKEN_TYPES[kind]},
                    context=context,
                )
    charge(cost.usd if cost is not None else None, usage.total_tokens, span)
    return cost


_lock = fork_safe_lock()
_cached: tuple[MeterProvider, Counter] | None = None


def _counter() -> Counter:
    """The ``otel_llm.cost`` counter of the current global meter provider."""
    global _cached
    provider = metrics.get_meter_provider()
    cached = _cached
    if cached is not None and cached[0] is provider:
        return cached[1]
    with _lock:
        if _cached is None or _cached[0] is not provider:
            counter = provider.get_meter("otel_llm", __version__).create_counter(
                semconv.METRIC_COST,
                unit=semconv.UNIT_USD,
                description="Estimated spend on model calls, from the otel-llm pricing table.",
            )
            _cached = (provider, counter)
        return _cached[1]
