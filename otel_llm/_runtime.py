"""Process-wide engine state: enabled flag, tracer, metric instruments, error accounting.

Everything the handles need per call is fetched from here once and cached, so the hot path
touches no global OpenTelemetry lookups. ``configure()`` resets the cache.
"""

from __future__ import annotations

import logging
import os
from typing import Final

from opentelemetry import metrics, trace
from opentelemetry.context import create_key
from opentelemetry.metrics import Counter, Histogram, Meter, UpDownCounter

from . import __version__, semconv
from ._settings import CaptureMode, parse_capture_mode, sdk_disabled

__all__ = ["RT", "Instruments", "configure", "error_type_of", "report_error"]

_log = logging.getLogger("otel_llm")

SCOPE: Final = "otel_llm"
"""Instrumentation scope name of every span and metric otel-llm emits."""

GENERATION_KEY: Final = create_key("otel_llm.generation")
"""Context key holding the innermost active otel-llm generation (duplicate suppression)."""
ROUTE_KEY: Final = create_key("otel_llm.route")
"""Context key holding the active route, so attempts can be counted."""


class Instruments:
    """Every metric instrument otel-llm records, created once per meter."""

    def __init__(self, meter: Meter) -> None:
        h = meter.create_histogram
        c = meter.create_counter
        self.operation_duration: Histogram = h(
            semconv.METRIC_OPERATION_DURATION,
            unit=semconv.UNIT_SECONDS,
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=semconv.BUCKETS_OPERATION_DURATION,
        )
        self.token_usage: Histogram = h(
            semconv.METRIC_TOKEN_USAGE,
            unit=semconv.UNIT_TOKENS,
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=semconv.BUCKETS_TOKEN_USAGE,
        )
        self.time_to_first_chunk: Histogram = h(
            semconv.METRIC_TIME_TO_FIRST_CHUNK,
            unit=semconv.UNIT_SECONDS,
            description="Time from the request to the first streamed chunk.",
            explicit_bucket_boundaries_advisory=semconv.BUCKETS_TIME_TO_FIRST_CHUNK,
        )
        self.time_per_output_chunk: Histogram = h(
            semconv.METRIC_TIME_PER_OUTPUT_CHUNK,
            unit=semconv.UNIT_SECONDS,
            description="Time between consecutive streamed chunks.",
            explicit_bucket_boundaries_advisory=semconv.BUCKETS_TIME_PER_OUTPUT_CHUNK,
        )
        self.stream_active: UpDownCounter = meter.create_up_down_counter(
            semconv.METRIC_STREAM_ACTIVE, unit="{stream}", description="Streams currently open."
        )
        self.stream_tokens_per_second: Histogram = h(
            semconv.METRIC_STREAM_TOKENS_PER_SECOND,
            unit="{token}/s",
            description="Output tokens per second of finished streams.",
            explicit_bucket_boundaries_advisory=semconv.BUCKETS_TOKENS_PER_SECOND,
        )
        self.tokenizer_duration: Histogram = h(
            semconv.METRIC_TOKENIZER_DURATION,
            unit=semconv.UNIT_SECONDS,
            description="Tokenizer call duration.",
            explicit_bucket_boundaries_advisory=semconv.BUCKETS_FAST_DURATION,
        )
        self.tokenizer_tokens: Histogram = h(
            semconv.METRIC_TOKENIZER_TOKENS,
            unit=semconv.UNIT_TOKENS,
            description="Tokens per tokenizer call.",
            explicit_bucket_boundaries_advisory=semconv.BUCKETS_COUNT,
        )
        self.tokenizer_input_chars: Histogram = h(
            semconv.METRIC_TOKENIZER_INPUT_CHARS,
            unit="{char}",
            description="Input characters per tokenizer call.",
            explicit_bucket_boundaries_advisory=semconv.BUCKETS_COUNT,
        )
        self.tokenizer_chunks: Histogram = h(
            semconv.METRIC_TOKENIZER_CHUNKS,
            unit="{chunk}",
            description="Chunks produced per chunk operation.",
            explicit_bucket_boundaries_advisory=semconv.BUCKETS_COUNT,
        )
        self.tokenizer_truncations: Counter = c(
            semconv.METRIC_TOKENIZER_TRUNCATIONS,
            unit="{truncation}",
            description="Inputs cut to fit a token budget (data loss).",
        )
        self.tokenizer_estimates: Counter = c(
            semconv.METRIC_TOKENIZER_ESTIMATES,
            unit="{estimate}",
            description="Token counts estimated by a heuristic instead of a tokenizer.",
        )
        self.tokenizer_budget_overflows: Counter = c(
            semconv.METRIC_TOKENIZER_BUDGET_OVERFLOWS,
            unit="{overflow}",
            description="Inputs whose token count exceeded max_tokens.",
        )
        self.route_duration: Histogram = h(
            semconv.METRIC_ROUTE_DURATION,
            unit=semconv.UNIT_SECONDS,
            description="Duration of a routed request, fallbacks included.",
            explicit_bucket_boundaries_advisory=semconv.BUCKETS_OPERATION_DURATION,
        )
        self.route_selections: Counter = c(
            semconv.METRIC_ROUTE_SELECTIONS, unit="{selection}", description="Models selected."
        )
        self.route_fallbacks: Counter = c(
            semconv.METRIC_ROUTE_FALLBACKS, unit="{fallback}", description="Fallbacks taken."
        )
        self.cache_lookups: Counter = c(
            semconv.METRIC_CACHE_LOOKUPS, unit="{lookup}", description="Cache lookups by result."
        )
        self.cache_evictions: Counter = c(
            semconv.METRIC_CACHE_EVICTIONS,
            unit=semconv.UNIT_ENTRIES,
            description="Entries evicted from a registered cache.",
        )
        self.instrumentation_errors: Counter = c(
            semconv.METRIC_INSTRUMENTATION_ERRORS,
            unit="{error}",
            description="Telemetry failures swallowed so the application kept running.",
        )
        self.tool_duration: Histogram = h(
            semconv.METRIC_TOOL_DURATION,
            unit=semconv.UNIT_SECONDS,
            description="Tool execution duration.",
            explicit_bucket_boundaries_advisory=semconv.BUCKETS_FAST_DURATION,
        )
        self.stream_outcomes: Counter = c(
            semconv.METRIC_STREAM_OUTCOMES,
            unit="{stream}",
            description="Finished streams by outcome: completed, error, cancelled, abandoned.",
        )
        self.logs_dropped: Counter = c(
            semconv.METRIC_LOGS_DROPPED,
            unit="{record}",
            description="Log events dropped by sampling or the rate cap.",
        )
        self.cost_savings: UpDownCounter = meter.create_up_down_counter(
            semconv.METRIC_COST_SAVINGS,
            unit="{USD}",
            description="Cost at the requested model minus the cost at the served model.",
        )
        self.streams_gc_finalized: Counter = c(
            semconv.METRIC_STREAMS_FINALIZED_BY_GC,
            unit="{stream}",
            description="Abandoned streams ended by the garbage collector.",
        )
        self.export_dropped: Counter = c(
            semconv.METRIC_EXPORT_DROPPED,
            unit="{item}",
            description="Spans, log records and metric exports lost on the way out.",
        )


class _Runtime:
    """Mutable engine state; one instance, ``RT``."""

    __slots__ = ("_instruments", "_tracer", "capture", "enabled")

    def __init__(self) -> None:
        self.enabled: bool = not sdk_disabled()
        self.capture: CaptureMode = (
            parse_capture_mode(os.environ.get(semconv.ENV_CAPTURE_CONTENT)) or "NO_CONTENT"
        )
        self._tracer: trace.Tracer | None = None
        self._instruments: Instruments | None = None

    @property
    def tracer(self) -> trace.Tracer:
        tracer = self._tracer
        if tracer is None:
            tracer = self._tracer = trace.get_tracer(SCOPE, __version__)
        return tracer

    @property
    def instruments(self) -> Instruments:
        instruments = self._instruments
        if instruments is None:
            instruments = self._instruments = Instruments(metrics.get_meter(SCOPE, __version__))
        return instruments

    def reset(self) -> None:
        """Forget cached tracer and instruments (providers changed)."""
        self._tracer = None
        self._instruments = None


RT: Final = _Runtime()


def configure(*, enabled: bool, capture: CaptureMode) -> None:
    """Apply the resolved settings of ``configure()`` to the engine."""
    RT.enabled = enabled
    RT.capture = capture
    RT.reset()


def report_error(component: str, exc: BaseException | None = None) -> None:
    """Count and debug-log a telemetry failure that was swallowed to protect the app."""
    try:
        _log.debug("otel-llm swallowed a telemetry error in %s", component, exc_info=exc)
        RT.instruments.instrumentation_errors.add(1, {semconv.INSTRUMENTATION_COMPONENT: component})
    except Exception:  # pragma: no cover - the last line of defence must not raise
        pass


def error_type_of(exc: BaseException) -> str:
    """``error.type`` for an exception: ``cancelled`` for cancellation, else the class name."""
    import asyncio

    if isinstance(exc, (asyncio.CancelledError, GeneratorExit)):
        return semconv.ERROR_CANCELLED
    return type(exc).__qualname__
