"""One benchmark process: one instrumentation variant, the same openai workload.

``python benchmarks/openai_worker.py VARIANT --calls N --streams M --batches B`` prints one
JSON object: µs per call for each batch of each workload (sync/async chat, sync/async
stream of 256 chunks) and what the variant recorded. Every SDK runs at its default content
capture setting. A variant whose package is not installed reports ``available: false``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from _common import CHUNKS, MESSAGES, MODEL, Batches, Pipeline, clients, time_batches

VARIANTS = ("none", "otel-llm", "openai-v2", "openllmetry", "openlit", "openinference")
HERE = Path(__file__).resolve().parent


def _setup(variant: str, pipe: Pipeline) -> str:
    """Instrument openai the way each project documents it; return the package version."""
    from importlib.metadata import version

    if variant == "none":
        return version("openai")
    if variant == "otel-llm":
        from otel_llm.instrumentation.openai import OpenAIInstrumentor

        OpenAIInstrumentor().instrument()
        return version("otel-llm")
    if variant == "openai-v2":
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor as V2

        V2().instrument(
            tracer_provider=pipe.tracer_provider,
            meter_provider=pipe.meter_provider,
            logger_provider=pipe.logger_provider,
        )
        return version("opentelemetry-instrumentation-openai-v2")
    if variant == "openllmetry":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor as Traceloop

        Traceloop().instrument(
            tracer_provider=pipe.tracer_provider, meter_provider=pipe.meter_provider
        )
        return version("opentelemetry-instrumentation-openai")
    if variant == "openlit":
        import openlit
        from openlit._instrumentors import MODULE_NAME_MAP

        # Only its openai instrumentor (it would also trace httpx); a local price table
        # because its default one is fetched from GitHub at init.
        openlit.init(
            disable_batch=True,
            disabled_instrumentors=[name for name in MODULE_NAME_MAP if name != "openai"],
            pricing_json=str(HERE / "openlit_pricing.json"),
        )
        return version("openlit")
    if variant == "openinference":
        from openinference.instrumentation.openai import OpenAIInstrumentor as OpenInference

        OpenInference().instrument(tracer_provider=pipe.tracer_provider)
        return version("openinference-instrumentation-openai")
    raise ValueError(f"unknown variant {variant!r}; allowed: {', '.join(VARIANTS)}")


def _chat(client: Any) -> object:
    return client.chat.completions.create(
        model=MODEL, messages=MESSAGES, max_tokens=64, temperature=0.2
    )


def _stream(client: Any) -> int:
    n = 0
    for _chunk in client.chat.completions.create(
        model=MODEL,
        messages=MESSAGES,
        max_tokens=300,
        stream=True,
        stream_options={"include_usage": True},
    ):
        n += 1
    return n


async def _achat(client: Any) -> object:
    return await client.chat.completions.create(
        model=MODEL, messages=MESSAGES, max_tokens=64, temperature=0.2
    )


async def _astream(client: Any) -> int:
    n = 0
    async for _chunk in await client.chat.completions.create(
        model=MODEL,
        messages=MESSAGES,
        max_tokens=300,
        stream=True,
        stream_options={"include_usage": True},
    ):
        n += 1
    return n


async def _atime(fn: Any, client: Any, calls: int, batches: int) -> dict[str, list[float]]:
    out = Batches()
    for _ in range(batches):
        started = out.start()
        for _ in range(calls):
            await fn(client)
        out.stop(started, calls)
    return out.as_dict()


def run(variant: str, calls: int, streams: int, batches: int) -> dict[str, Any]:
    """Set up one variant, warm it up, time every workload and describe its telemetry."""
    pipe = Pipeline()
    try:
        package_version = _setup(variant, pipe)
    except ImportError as exc:
        return {"variant": variant, "available": False, "reason": str(exc)}
    sync, asynchronous = clients()
    loop = asyncio.new_event_loop()
    assert _stream(sync) == CHUNKS + 1, "the canned stream must yield 256 chunks + usage"
    for _ in range(max(2, calls // 10)):  # warm-up: imports, caches, first-call paths
        _chat(sync)
        _stream(sync)
        loop.run_until_complete(_achat(asynchronous))
        loop.run_until_complete(_astream(asynchronous))

    timings = {
        "chat_sync": time_batches(lambda: _chat(sync), calls, batches),
        "chat_async": loop.run_until_complete(_atime(_achat, asynchronous, calls, batches)),
        "stream_sync": time_batches(lambda: _stream(sync), streams, batches),
        "stream_async": loop.run_until_complete(_atime(_astream, asynchronous, streams, batches)),
    }

    recorded: dict[str, Any] = {}
    for name, once in (
        ("chat", lambda: _chat(sync)),
        ("stream", lambda: _stream(sync)),
    ):
        pipe.tracer_provider.force_flush()
        before_logs = pipe.logs.count
        pipe.spans.last = []
        once()
        pipe.tracer_provider.force_flush()
        pipe.logger_provider.force_flush()
        recorded[name] = {**pipe.describe_last(), "log_records": pipe.logs.count - before_logs}
    recorded["metrics"] = pipe.metric_names()
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()
    return {
        "variant": variant,
        "available": True,
        "version": package_version,
        "timings_us": timings,
        "recorded": recorded,
    }


def callgrind(variant: str, workload: str, calls: int) -> None:
    """Set up ``variant``, warm up, then run ``workload`` ``calls`` times: nothing else."""
    pipe = Pipeline()
    _setup(variant, pipe)
    sync, _ = clients()
    fn = _chat if workload == "chat_sync" else _stream
    for _ in range(2):
        fn(sync)
    for _ in range(calls):
        fn(sync)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run one variant, print its JSON result."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("variant", choices=VARIANTS)
    parser.add_argument("--calls", type=int, default=50, help="chat calls per batch")
    parser.add_argument("--streams", type=int, default=5, help="streams per batch")
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument(
        "--callgrind",
        choices=("chat_sync", "stream_sync"),
        help="only run this workload --calls times after a warm-up (for valgrind)",
    )
    args = parser.parse_args(argv)
    if args.callgrind:
        callgrind(args.variant, args.callgrind, args.calls)
        return 0
    result = run(args.variant, args.calls, args.streams, args.batches)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
