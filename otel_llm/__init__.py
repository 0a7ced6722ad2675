"""otel-llm: OpenTelemetry-native instrumentation for Python LLM applications.

Spans, metrics and trace-correlated logs for the calls that decide an LLM app's latency,
cost and correctness: tokenizer, generation, streaming, routing and prompt-cache lookups.
"""

from __future__ import annotations

__version__ = "0.1.0"

from opentelemetry import trace as _trace

from ._attributes import attributes
from ._budget import (
    Budget,
    BudgetExceeded,
    BudgetScope,
    BudgetStore,
    BudgetUsage,
    InMemoryBudgetStore,
    budget,
    budget_scope,
    set_budget_store,
)
from ._cache import CacheLookup, CacheMetrics, cache_lookup, register_cache
from ._configure import Telemetry, configure, shutdown
from ._generation import Generation, generation
from ._logging import get_logger
from ._route import Route, route
from ._stream import Stream, stream
from ._tokenize import Tokenize, tokenize
from ._tool import Tool, tool
from ._traced import traced
from ._web import TraceResponseMiddleware, TraceResponseWSGIMiddleware


def current_trace_id() -> str | None:
    """The active trace id as 32 lower-case hex digits (for support tickets), or None."""
    ctx = _trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


__all__ = [
    "Budget",
    "BudgetExceeded",
    "BudgetScope",
    "BudgetStore",
    "BudgetUsage",
    "CacheLookup",
    "CacheMetrics",
    "Generation",
    "InMemoryBudgetStore",
    "Route",
    "Stream",
    "Telemetry",
    "Tokenize",
    "Tool",
    "TraceResponseMiddleware",
    "TraceResponseWSGIMiddleware",
    "__version__",
    "attributes",
    "budget",
    "budget_scope",
    "cache_lookup",
    "configure",
    "current_trace_id",
    "generation",
    "get_logger",
    "register_cache",
    "route",
    "set_budget_store",
    "shutdown",
    "stream",
    "tokenize",
    "tool",
    "traced",
]
