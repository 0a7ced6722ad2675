"""``otel-llm demo``: a small LLM web service, auto-instrumented, against a simulated model.

The service is a Starlette app served by uvicorn on 127.0.0.1 (a free port); the demo's
load loop calls it over real HTTP, so each trace starts at the HTTP server span
(``POST /summarise/{topic}``) and every response carries the ``traceresponse`` header.
Each request: a prompt-cache lookup; on a miss, tokenise and truncate a long document
with a real offline tokenizer (tiktoken cl100k_base), route between two models through the
real ``openai`` SDK (the first is rate-limited, so the router falls back), stream the
answer, and cache it. Repeated documents hit the cache. Everything runs on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import logging
import random
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

from . import semconv
from ._demo_server import OVERLOADED_MODEL, SimulatedModelServer

__all__ = ["run_demo"]

SERVICE = "otel-llm-demo"
CANDIDATES = (OVERLOADED_MODEL, "gpt-4o-mini")
MAX_PROMPT_TOKENS = 512
TOPICS = ("latency", "streaming", "routing", "tokenizers", "caching", "budgets")


@dataclass
class _Stats:
    """What the summary table reads: finished spans, gathered as they end."""

    requests: list[float] = field(default_factory=list)
    ttft: list[float] = field(default_factory=list)
    tokens_per_second: list[float] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    errors: int = 0
    trace_ids: list[str] = field(default_factory=list)


class _SummaryProcessor(SpanProcessor):
    """Collects request latencies and generation figures from the spans themselves."""

    def __init__(self, stats: _Stats) -> None:
        self.stats = stats

    def on_start(self, span: Any, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        attrs = span.attributes or {}
        duration = ((span.end_time or 0) - (span.start_time or 0)) / 1e9
        if span.name == "handle_request":
            self.stats.requests.append(duration)
            if span.context is not None:
                self.stats.trace_ids.append(format(span.context.trace_id, "032x"))
            if attrs.get(semconv.ERROR_TYPE):
                self.stats.errors += 1
        elif semconv.GEN_AI_OPERATION_NAME in attrs and not attrs.get(semconv.ERROR_TYPE):
            ttft = attrs.get(semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK)
            if isinstance(ttft, float):
                self.stats.ttft.append(ttft)
            rate = attrs.get(semconv.STREAM_TOKENS_PER_SECOND)
            if isinstance(rate, float):
                self.stats.tokens_per_second.append(rate)
            self.stats.input_tokens += int(attrs.get(semconv.GEN_AI_USAGE_INPUT_TOKENS, 0))  # type: ignore[arg-type]
            self.stats.output_tokens += int(attrs.get(semconv.GEN_AI_USAGE_OUTPUT_TOKENS, 0))  # type: ignore[arg-type]
            self.stats.cost += float(attrs.get("otel_llm.cost.usd", 0.0))  # type: ignore[arg-type]

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _document(rng: random.Random, topic: str) -> str:
    sentences = [
        f"Section {i}: the {topic} study measured {rng.randint(10, 999)} requests "
        f"with a median of {rng.randint(20, 900)} ms and noted {rng.choice(TOPICS)} effects."
        for i in range(160)
    ]
    return " ".join(sentences)


def _percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def _summary(stats: _Stats, wall: float) -> str:
    ms = 1000.0
    rows = [
        ("requests", f"{len(stats.requests)} ({stats.errors} failed) in {wall:.2f} s"),
        ("latency p50 / p95", f"{_percentile(stats.requests, 50) * ms:.0f} / "
         f"{_percentile(stats.requests, 95) * ms:.0f} ms"),
        ("time to first chunk p50", f"{_percentile(stats.ttft, 50) * ms:.0f} ms"),
        ("tokens/s p50", f"{_percentile(stats.tokens_per_second, 50):.0f}"),
        ("tokens in / out", f"{stats.input_tokens} / {stats.output_tokens}"),
        ("cost", f"${stats.cost:.6f}" if stats.cost else "n/a (no price for these models)"),
    ]  # fmt: skip
    width = max(len(name) for name, _ in rows)
    lines = ["", "otel-llm demo summary", "-" * (width + 40)]
    lines += [f"{name:<{width}}  {value}" for name, value in rows]
    return "\n".join(lines)


class _Service:
    """The LLM work behind ``POST /summarise/{topic}``: cache, tokenizer, routed stream."""

    def __init__(self, base_url: str, seed: int) -> None:
        import openai
        import tiktoken

        import otel_llm

        self.log = otel_llm.get_logger("otel_llm.demo")
        self.encoding = tiktoken.get_encoding("cl100k_base")
        self.client = openai.AsyncOpenAI(
            base_url=base_url, api_key="sk-demo-not-a-real-key", max_retries=0
        )
        rng = random.Random(seed)
        self.documents = {topic: _document(rng, topic) for topic in TOPICS}
        self.cache: dict[str, str] = {}

    async def handle(self, request_id: int, topic: str) -> str:
        import openai

        import otel_llm

        log = self.log
        log.info("request received", request_id=request_id, topic=topic)
        with otel_llm.cache_lookup("prompt-cache") as lookup:
            answer = self.cache.get(topic)
            lookup.hit() if answer is not None else lookup.miss()
        if answer is not None:
            log.info("served from prompt cache", request_id=request_id, topic=topic)
            return answer
        document = self.documents[topic]
        ids = self.encoding.encode(document)
        with otel_llm.tokenize(
            "truncate", tokenizer=self.encoding.name, text=document, max_tokens=MAX_PROMPT_TOKENS
        ) as truncation:
            kept = ids[:MAX_PROMPT_TOKENS]
            truncation.set_tokens(len(kept))
            if len(ids) > len(kept):
                truncation.set_truncated(original_tokens=len(ids))
        prompt = self.encoding.decode(kept)
        messages: list[Any] = [
            {"role": "system", "content": "Summarise the document in two sentences."},
            {"role": "user", "content": prompt},
        ]
        with otel_llm.route(
            "demo-router", candidates=list(CANDIDATES), requested_model=CANDIDATES[0]
        ) as router:
            for position, model in enumerate(CANDIDATES):
                try:
                    stream = await self.client.chat.completions.create(
                        model=model,
                        messages=messages,
                        stream=True,
                        stream_options={"include_usage": True},
                        max_tokens=64,
                        temperature=0.2,
                    )
                    parts = [
                        chunk.choices[0].delta.content or ""
                        async for chunk in stream
                        if chunk.choices
                    ]
                except openai.RateLimitError as exc:
                    if position + 1 == len(CANDIDATES):
                        raise
                    router.fallback(
                        model, CANDIDATES[position + 1], reason="rate_limited", error=exc
                    )
                    continue
                router.select(model, reason="primary" if position == 0 else "fallback")
                break
        answer = "".join(parts)
        self.cache[topic] = answer
        log.info("answered", request_id=request_id, model=model, chars=len(answer))
        return answer


def _app(service: _Service) -> Any:
    """The demo's ASGI app: one route, and the traceresponse header on every response."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    import otel_llm

    traced_handle = otel_llm.traced(name="handle_request")(service.handle)

    async def summarise(request: Request) -> JSONResponse:
        request_id = int(request.query_params.get("request", "0"))
        try:
            answer = await traced_handle(request_id, request.path_params["topic"])
        except Exception as exc:  # a failed request is reported, the demo goes on
            service.log.error("request failed", request_id=request_id, error=str(exc))
            return JSONResponse({"error": type(exc).__name__}, status_code=502)
        return JSONResponse({"answer": answer})

    return Starlette(
        routes=[Route("/summarise/{topic}", summarise, methods=["POST"])],
        middleware=[Middleware(otel_llm.TraceResponseMiddleware)],
    )


async def _workload(
    model_url: str, requests: int, concurrency: int, seed: int, trace_headers: list[str]
) -> None:
    """Serve the app with uvicorn on a free loopback port and drive it over HTTP."""
    import socket

    import httpx
    import uvicorn

    service = _Service(model_url, seed)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        _app(service), lifespan="off", log_config=None, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    serving = asyncio.ensure_future(server.serve(sockets=[sock]))
    while not server.started and not serving.done():
        await asyncio.sleep(0.01)
    # About a third of the requests repeat an earlier document: prompt-cache hits.
    distinct = min(len(TOPICS), max(1, (2 * requests + 2) // 3))
    topics = [TOPICS[i % distinct] for i in range(requests)]
    semaphore = asyncio.Semaphore(concurrency)
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    # The load loop plays the users' browsers: its own httpx log lines are not the service's.
    quiet = _NotFrom(base_url)
    logging.getLogger("httpx").addFilter(quiet)
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:

            async def call(request_id: int, topic: str) -> None:
                async with semaphore:
                    response = await http.post(
                        f"/summarise/{topic}", params={"request": request_id}
                    )
                header = response.headers.get(semconv.TRACERESPONSE_HEADER)
                if header:
                    trace_headers.append(header)

            await asyncio.gather(*(call(i, topic) for i, topic in enumerate(topics)))
    finally:
        server.should_exit = True
        await serving
        await service.client.close()
        logging.getLogger("httpx").removeFilter(quiet)


class _NotFrom(logging.Filter):
    """Drops log records that mention ``url`` (the demo's own client calls)."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def filter(self, record: logging.LogRecord) -> bool:
        return self.url not in record.getMessage()


def run_demo(*, requests: int, concurrency: int, otlp: str | None, seed: int) -> int:
    """Run the demo service and print trees, logs and the summary; returns the exit code."""
    try:
        import openai  # noqa: F401
        import starlette  # noqa: F401
        import tiktoken  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        print(
            f"otel-llm demo needs the demo extra ({exc.name} is missing): "
            "pip install 'otel-llm[demo]'",
            file=sys.stderr,
        )
        return 2
    import otel_llm

    from ._offline import seed_tiktoken_cache

    seed_tiktoken_cache()
    exporters: dict[str, Any] = {
        "traces_exporter": ["console"],
        "metrics_exporter": ["prometheus"],
        "logs_exporter": "none",
    }
    if otlp:
        exporters = {
            "traces_exporter": ["otlp", "console"],
            "metrics_exporter": ["otlp", "prometheus"],
            "logs_exporter": "otlp",
            "otlp_endpoint": otlp,
            "otlp_protocol": "grpc" if otlp.rstrip("/").endswith(":4317") else "http/protobuf",
        }
    telemetry = otel_llm.configure(
        service_name=SERVICE,
        prometheus_port=0,
        instrument=["openai", "tiktoken", "starlette"],
        log_format="json",
        **exporters,
    )
    stats = _Stats()
    if telemetry.tracer_provider is not None:
        telemetry.tracer_provider.add_span_processor(_SummaryProcessor(stats))
    print(f"otel-llm demo: {requests} requests, concurrency {concurrency}", file=sys.stderr)
    if telemetry.prometheus_url:
        print(
            f"Prometheus metrics at {telemetry.prometheus_url} while the demo runs", file=sys.stderr
        )
    start = time.perf_counter()
    trace_headers: list[str] = []
    try:
        with SimulatedModelServer(seed=seed) as server:
            asyncio.run(_workload(server.base_url, requests, concurrency, seed, trace_headers))
    finally:
        telemetry.force_flush()
        wall = time.perf_counter() - start
        print(_summary(stats, wall), file=sys.stderr)
        if trace_headers:
            where = f"Jaeger behind {otlp}" if otlp else "the trees above"
            first = trace_headers[0].split("-")[1]
            print(
                f"first trace id: {first} (from the first response's traceresponse header "
                f"{trace_headers[0]}; find it in {where})",
                file=sys.stderr,
            )
        telemetry.shutdown()
    return 0 if not stats.errors else 1
