"""Memory check: many instrumented calls and abandoned streams leave no growth.

``python benchmarks/memory.py --calls 100000 --streams 10000`` runs the otel-llm API with a
realistic pipeline (``BatchSpanProcessor`` with its bounded queue, dropping exporter;
``InMemoryMetricReader``) under ``tracemalloc`` and prints JSON: the snapshot diff after the
generations and after the abandoned streams (total bytes and the top allocation sites),
the peak, and how many abandoned streams the garbage collector finalised.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import sys
import tracemalloc
from collections.abc import Sequence
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

import otel_llm


class _Drop(SpanExporter):
    """Counts and drops spans (a collector that always accepts)."""

    def __init__(self) -> None:
        self.count = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.count += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Nothing to release."""


def _generation(i: int) -> None:
    with otel_llm.generation(model="gpt-4o-mini", provider="openai", max_tokens=64) as g:
        g.set_response(
            model="gpt-4o-mini-2024-07-18",
            response_id=f"r{i}",
            finish_reasons=["stop"],
            input_tokens=42,
            output_tokens=7,
        )


def _abandoned_stream() -> None:
    proxy = otel_llm.stream(model="llama-3-8b", provider="vllm").wrap(iter(["a", "b", "c"]))
    next(proxy)  # read one chunk, then drop the proxy: the GC finaliser must end the span


def _diff(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot) -> dict[str, Any]:
    stats = after.compare_to(before, "lineno")
    return {
        "growth_bytes": sum(s.size_diff for s in stats),
        "growth_blocks": sum(s.count_diff for s in stats),
        "top": [
            {"where": str(s.traceback), "size_diff": s.size_diff, "count_diff": s.count_diff}
            for s in sorted(stats, key=lambda s: s.size_diff, reverse=True)[:5]
        ],
    }


def _settle(processor: BatchSpanProcessor) -> None:
    processor.force_flush()
    gc.collect()


def run(calls: int, streams: int) -> dict[str, Any]:
    """Warm up, then measure growth over ``calls`` generations and ``streams`` abandoned streams."""
    # The abandoned-stream warnings are built and emitted as usual, but not printed.
    logging.getLogger().addHandler(logging.NullHandler())
    exporter = _Drop()
    processor = BatchSpanProcessor(exporter)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    reader = InMemoryMetricReader()
    trace.set_tracer_provider(provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))

    for i in range(min(2000, calls)):  # warm-up: instruments, series, caches, export thread
        _generation(i)
        _abandoned_stream()
    _settle(processor)
    reader.collect()

    tracemalloc.start(1)
    base = tracemalloc.take_snapshot()
    for i in range(calls):
        _generation(i)
    _settle(processor)
    reader.collect()
    after_calls = tracemalloc.take_snapshot()
    for _ in range(streams):
        _abandoned_stream()
    _settle(processor)
    reader.collect()
    after_streams = tracemalloc.take_snapshot()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    finalised = 0
    data = reader.get_metrics_data()
    for rm in data.resource_metrics if data else []:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == "otel_llm.stream.gc_finalized":
                    finalised = int(sum(p.value for p in metric.data.data_points))
    provider.shutdown()
    return {
        "calls": calls,
        "abandoned_streams": streams,
        "spans_exported": exporter.count,
        "streams_finalised_by_gc_total": finalised,
        "after_calls": _diff(base, after_calls),
        "after_abandoned_streams": _diff(after_calls, after_streams),
        "peak_traced_bytes": peak,
        "span_queue_bound": "BatchSpanProcessor max_queue_size=2048 (default)",
    }


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--streams", type=int, default=10_000)
    args = parser.parse_args(argv)
    json.dump(run(args.calls, args.streams), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
