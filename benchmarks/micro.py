"""Micro-benchmarks of otel-llm's own API in one process (SDK on, or ``OTEL_SDK_DISABLED``).

``python benchmarks/micro.py --iterations N --batches B`` prints one JSON object with µs
per operation for each batch of each operation. Every instrumented operation has its
baseline: the same code without instrumentation, in the same process, interleaved batch by
batch so machine noise hits both alike.

- ``generation``: ``with generation(...) as g`` around a stand-in call, response set.
- ``stream_256`` / ``stream_1``: a ``with stream(...)`` of 256 (1) chunks; the per-chunk
  cost of ``chunk()`` is the slope between the two, net of the baseline loop.
- ``tokenize``: ``with tokenize("count", ...)`` with the token count set.
- ``histogram_record``: the SDK's own cost of one ``Histogram.record`` with the same
  attributes and span context ``chunk()`` uses (the issue 3 yardstick).
- ``tiktoken_encode``: ``Encoding.encode`` through the tiktoken instrumentor (when the
  offline rank files can be seeded).

``--callgrind OP --iterations N`` runs only OP N times (for instruction counts under
``valgrind --tool=callgrind``; the driver diffs two N to cancel start-up).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from _common import Batches, Pipeline

import otel_llm
from otel_llm import semconv

DOC = "The quick brown fox jumps over the lazy dog. " * 20
CHUNK_TEXT = [f"tok{i} " for i in range(256)]
_sink: list[object] = [None]


def _user_code() -> int:
    """Stands in for the application's own call; identical in baseline and instrumented."""
    _sink[0] = DOC
    return 7


def _consume(item: object) -> None:
    _sink[0] = item


def _ops(pipe: Pipeline) -> dict[str, Callable[[], object]]:
    generation, stream, tokenize = otel_llm.generation, otel_llm.stream, otel_llm.tokenize

    def op_generation() -> None:
        with generation(
            model="gpt-4o-mini", provider="openai", operation="chat", max_tokens=256,
            temperature=0.2,
        ) as g:  # fmt: skip
            out = _user_code()
            g.set_response(
                model="gpt-4o-mini-2024-07-18",
                response_id="r1",
                finish_reasons=["stop"],
                input_tokens=42,
                output_tokens=out,
            )

    def base_generation() -> None:
        _user_code()

    def stream_of(n: int) -> Callable[[], None]:
        chunks = CHUNK_TEXT[:n]

        def op() -> None:
            with stream(model="llama-3-8b", provider="vllm") as s:
                for c in chunks:
                    _consume(c)
                    s.chunk(c)

        return op

    def base_stream_of(n: int) -> Callable[[], None]:
        chunks = CHUNK_TEXT[:n]

        def op() -> None:
            for c in chunks:
                _consume(c)

        return op

    def op_tokenize() -> None:
        with tokenize("count", tokenizer="cl100k_base", text=DOC) as t:
            t.set_tokens(_user_code())

    # The yardstick: one record of the semconv per-chunk histogram, same attributes and a
    # context holding a sampled span, as Stream.chunk() records it.
    from opentelemetry import metrics, trace

    hist = metrics.get_meter("bench").create_histogram(
        semconv.METRIC_TIME_PER_OUTPUT_CHUNK,
        unit=semconv.UNIT_SECONDS,
        explicit_bucket_boundaries_advisory=semconv.BUCKETS_TIME_PER_OUTPUT_CHUNK,
    )
    attrs = {
        semconv.GEN_AI_OPERATION_NAME: "chat",
        semconv.GEN_AI_PROVIDER_NAME: "vllm",
        semconv.GEN_AI_REQUEST_MODEL: "llama-3-8b",
    }
    ctx = trace.set_span_in_context(trace.get_tracer("bench").start_span("bench"))

    def op_histogram() -> None:
        hist.record(0.0123, attrs, context=ctx)

    ops: dict[str, Callable[[], object]] = {
        "baseline": base_generation,
        "generation": op_generation,
        "tokenize": op_tokenize,
        "baseline_stream_1": base_stream_of(1),
        "stream_1": stream_of(1),
        "baseline_stream_256": base_stream_of(256),
        "stream_256": stream_of(256),
        "histogram_record": op_histogram,
    }
    return ops


def _tiktoken_ops() -> dict[str, Callable[[], object]] | None:
    """Plain and instrumented ``Encoding.encode`` (instrumented after the plain one is taken)."""
    try:
        import tiktoken

        from otel_llm._offline import seed_tiktoken_cache

        seed_tiktoken_cache()
        enc = tiktoken.get_encoding("cl100k_base")
    except Exception:
        return None
    plain = enc.encode  # bound before instrumenting: the wrapper replaces the class attribute
    from otel_llm.instrumentation.tiktoken import TiktokenInstrumentor

    TiktokenInstrumentor().instrument()
    instrumented = tiktoken.get_encoding("cl100k_base")
    return {
        "baseline_tiktoken_encode": lambda: plain(DOC),
        "tiktoken_encode": lambda: instrumented.encode(DOC),
    }


def _time(fn: Callable[[], object], n: int, out: Batches | None = None) -> None:
    out = out if out is not None else Batches()
    started = out.start()
    for _ in range(n):
        fn()
    out.stop(started, n)


def run(iterations: int, batches: int) -> dict[str, Any]:
    """Time every op in interleaved batches (rotating the order each batch)."""
    pipe = Pipeline()
    ops = _ops(pipe)
    tk = _tiktoken_ops()
    if tk is not None:
        ops.update(tk)
    names = list(ops)
    for name in names:  # warm-up
        _time(ops[name], max(10, iterations // 10))
    out = {name: Batches() for name in names}
    for b in range(batches):
        order = names[b % len(names) :] + names[: b % len(names)]
        for name in order:
            n = iterations // 64 if name.endswith("_256") else iterations
            _time(ops[name], max(1, n), out[name])
    pipe.tracer_provider.force_flush()
    return {
        "sdk_disabled": os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true",
        "timings_us": {name: batches_.as_dict() for name, batches_ in out.items()},
        "spans_exported": pipe.spans.count,
        "metrics": pipe.metric_names(),
    }


def callgrind(op: str, iterations: int) -> None:
    """Run only ``op`` ``iterations`` times, for an instruction count."""
    pipe = Pipeline()
    ops = _ops(pipe)
    if op == "chunk":
        s = otel_llm.stream(model="llama-3-8b", provider="vllm").start()
        s.chunk("first")
        fn: Callable[[], object] = lambda: s.chunk("tok")  # noqa: E731
    else:
        fn = ops[op]
    for _ in range(iterations):
        fn()


def main(argv: list[str] | None = None) -> int:
    """Parse arguments; time all ops (JSON on stdout) or run one op for callgrind."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--batches", type=int, default=7)
    parser.add_argument("--callgrind", metavar="OP")
    args = parser.parse_args(argv)
    if args.callgrind:
        callgrind(args.callgrind, args.iterations)
        return 0
    json.dump(run(args.iterations, args.batches), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
