"""Export faults on the real collector: down for 60 s, slow, restarting, an exporter raising.

The workload is an openai application (the real SDK over ``httpx.MockTransport``) set up with
``otel_llm.configure()`` exporting traces, metrics and logs over OTLP/HTTP to this module's
own stack (collector, Jaeger, Prometheus). It makes one traced chat call and one log line per
tick and writes what it saw (call latencies, exceptions, RSS, otel-llm's warnings, the OTel
SDK's log lines) to a JSON report. What is asserted: no exception ever reaches the workload,
calls are not slowed by export, memory stays bounded by the queues, every loss is counted in
``otel_llm.export.dropped`` (read back from Prometheus once the collector is back) and logged
once per interval, and telemetry resumes after the fault.

Runs last (file name) and restarts only its own stack's collector. The figures it prints go
into docs/reliability.md, "Export faults". ~3.5 minutes, most of it the 60 s outage.
"""

from __future__ import annotations

import itertools
import json
import re
import statistics
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import started_stack, wait_for, workload_env
from tests.e2e.proxy import DelayingProxy
from tests.e2e.stack import Stack, get_json

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
OUTAGE_S = 60.0
WARN_INTERVAL_S = 60.0
BURST_SPANS = 5000
"""Spans ended at once mid-outage, to overflow the 2,048-span queue."""
WARNING = re.compile(r"^otel-llm: (\d+) (span|log record|metric export)s? dropped")

WORKLOAD = r"""
import json, logging, os, sys, time
import httpx, openai
import otel_llm
from opentelemetry import trace

cfg = json.loads(sys.argv[1])
warnings, sdk_lines = [], {}


class Warnings(logging.Handler):
    def emit(self, record):
        if record.levelno >= logging.WARNING and "dropped" in record.getMessage():
            warnings.append({"at": time.time(), "message": record.getMessage()})


class SdkLines(logging.Handler):
    def emit(self, record):
        key = f"{record.name}: {record.msg}"
        sdk_lines[key] = sdk_lines.get(key, 0) + 1


user_provider = None
if cfg["raising_exporter"]:
    # The application's own TracerProvider, set before configure() (which adopts it): one
    # processor with a broken exporter, one sending to the collector.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

    class BrokenExporter(SpanExporter):
        def export(self, spans):
            raise RuntimeError("this exporter is broken")

        def shutdown(self):
            pass

    user_provider = TracerProvider(resource=Resource.create({"service.name": cfg["service"]}))
    user_provider.add_span_processor(BatchSpanProcessor(BrokenExporter()))
    user_provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=cfg["endpoint"] + "/v1/traces"))
    )
    trace.set_tracer_provider(user_provider)

tel = otel_llm.configure(
    service_name=cfg["service"], traces_exporter="otlp", metrics_exporter="otlp",
    logs_exporter="otlp", otlp_endpoint=cfg["endpoint"], otlp_protocol="http/protobuf",
    instrument=["openai"],
)
logging.getLogger("otel_llm").addHandler(Warnings())
logging.getLogger("opentelemetry").addHandler(SdkLines())

BODY = {
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "pong"}}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
}
transport = httpx.MockTransport(lambda request: httpx.Response(200, json=BODY))
client = openai.OpenAI(
    api_key="sk-test", base_url="https://api.openai.com/v1", max_retries=0,
    http_client=httpx.Client(transport=transport),
)
tracer = trace.get_tracer("e2e.faults")
log = otel_llm.get_logger("e2e.faults")
page = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * page


calls, rss_samples, exceptions, burst_at = [], [], 0, None
end = time.time() + cfg["limit_s"]
next_rss, i = 0.0, 0
while time.time() < end and not os.path.exists(cfg["stop_file"]):
    started = time.time()
    t0 = time.perf_counter()
    try:
        with tracer.start_as_current_span("tick") as span:
            span.set_attribute("e2e.tick", i)
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "ping"}]
            )
            log.info("tick", tick=i)
    except Exception as exc:  # the test asserts this never happens
        exceptions += 1
        print(f"workload exception: {exc!r}", file=sys.stderr)
    took = time.perf_counter() - t0
    calls.append([started, took])
    if started >= next_rss:
        rss_samples.append([started, rss()])
        next_rss = started + 1.0
    i += 1
    if burst_at is None and os.path.exists(cfg["burst_file"]):
        # A burst far larger than the span queue (2,048): the oldest spans are pushed out.
        burst_at = time.time()
        for k in range(cfg["burst_spans"]):
            tracer.start_span("burst").end()
        rss_samples.append([time.time(), rss()])
    time.sleep(max(0.0, cfg["period_s"] - took))

if user_provider is not None:
    user_provider.shutdown()  # adopted: the application shuts its own provider down
tel.shutdown()
with open(cfg["report"], "w") as f:
    json.dump({"calls": calls, "rss": rss_samples, "exceptions": exceptions, "burst_at": burst_at,
               "warnings": warnings, "sdk_lines": sdk_lines}, f)
"""


@pytest.fixture(scope="module")
def faults_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """This module's own collector, Jaeger and Prometheus (no Elasticsearch)."""
    yield from started_stack(tmp_path_factory, "e2e-faults", with_es=False)


@dataclass
class Report:
    """What the workload saw."""

    calls: list[tuple[float, float]]
    rss: list[tuple[float, int]]
    exceptions: int
    warnings: list[dict[str, Any]]
    sdk_lines: dict[str, int]
    stderr: str
    burst_at: float | None = None

    def latencies(self, start: float = 0.0, end: float = float("inf")) -> list[float]:
        """Latencies (s) of the calls that started in [start, end), the first call excepted
        (it pays the lazy imports and connection setup of openai and the SDK)."""
        return [took for at, took in self.calls[1:] if start <= at < end]

    def rss_at(self, at: float) -> int:
        """The last RSS sample taken at or before `at`."""
        return [value for t, value in self.rss if t <= at][-1]


class Workload:
    """The workload process: started, then stopped by the test through a stop file."""

    def __init__(self, stack: Stack, name: str, endpoint: str, **options: Any) -> None:
        self.service = f"e2e-faults-{name}"
        self.dir = stack.run_dir / name
        self.dir.mkdir()
        self.stop_file = self.dir / "stop"
        self.report_file = self.dir / "report.json"
        config = {
            "service": self.service,
            "endpoint": endpoint,
            "stop_file": str(self.stop_file),
            "report": str(self.report_file),
            "limit_s": 240,
            "period_s": options.pop("period_s", 0.04),
            "raising_exporter": options.pop("raising_exporter", False),
            "burst_file": str(self.dir / "burst"),
            "burst_spans": BURST_SPANS,
        }
        env = workload_env(
            OTEL_BSP_SCHEDULE_DELAY="500",
            OTEL_BLRP_SCHEDULE_DELAY="500",
            OTEL_METRIC_EXPORT_INTERVAL="2000",
            OTEL_LLM_LOG_FORMAT="json",
            **options,
        )
        # Output to files, not pipes: a full pipe would block the workload's log writes.
        self.err_path = self.dir / "stderr"
        with (self.dir / "stdout").open("w") as out, self.err_path.open("w") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-c", WORKLOAD, json.dumps(config)],
                stdout=out,
                stderr=err,
                text=True,
                env=env,
                cwd=ROOT,
            )

    def finish(self) -> Report:
        """Stop the loop, wait for the exit (shutdown flushes), read the report."""
        self.stop_file.touch()
        try:
            self.process.wait(timeout=120)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(timeout=10)
        stderr = self.err_path.read_text()
        assert self.process.returncode == 0, stderr[-3000:]
        data = json.loads(self.report_file.read_text())
        return Report(
            [tuple(c) for c in data["calls"]],
            [tuple(r) for r in data["rss"]],
            data["exceptions"],
            data["warnings"],
            data["sdk_lines"],
            stderr,
            data["burst_at"],
        )

    def kill(self) -> None:
        """Kill the workload if a test failed before finish()."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def traced_ticks(stack: Stack, service: str) -> set[int]:
    """Tick numbers of the service's spans that reached Jaeger."""
    query = urllib.parse.urlencode(
        {"service": service, "operation": "tick", "lookback": "1h", "limit": 20000}
    )
    data = get_json(f"{stack.jaeger}/api/traces?{query}", timeout=30)["data"] or []
    return {
        int(tag["value"])
        for trace in data
        for span in trace["spans"]
        for tag in span.get("tags", [])
        if tag["key"] == "e2e.tick"
    }


def prom_sum(stack: Stack, promql: str) -> float:
    """Value of a PromQL sum (0 when there is no series)."""
    url = f"{stack.prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    result = get_json(url)["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


def dropped_query(service: str, signal: str, error_type: str | None = None) -> str:
    """PromQL: otel_llm.export.dropped of one service and signal (and error.type)."""
    labels = f'job="{service}", otel_llm_signal="{signal}"'
    if error_type:
        labels += f', error_type="{error_type}"'
    return f"sum(otel_llm_export_dropped_total{{{labels}}})"


def warnings_about(report: Report, noun: str) -> list[dict[str, Any]]:
    """The drop warnings about one kind of item (``span``, ``log record``), oldest first."""
    return [w for w in report.warnings if WARNING.match(w["message"])[2] == noun]  # type: ignore[index]


def warned_total(report: Report, noun: str) -> int:
    """Items of one kind the workload's drop warnings add up to."""
    return sum(int(WARNING.match(w["message"])[1]) for w in warnings_about(report, noun))  # type: ignore[index]


def assert_once_per_interval(report: Report, noun: str) -> None:
    """Consecutive warnings about one signal are at least an interval apart (the last one
    may be the shutdown summary, which comes when it comes)."""
    times = [w["at"] for w in warnings_about(report, noun)]
    gaps = [b - a for a, b in itertools.pairwise(times[:-1])]
    assert all(gap >= WARN_INTERVAL_S - 1 for gap in gaps), (noun, times)


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of values, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def ms(value: float) -> str:
    return f"{value * 1000:.2f} ms"


def note(stack: Stack, text: str) -> None:
    """Print a figure line and keep it in the run folder."""
    print(f"\n{text}", file=sys.stderr)
    with (stack.run_dir / "faults-report.txt").open("a") as f:
        f.write(text + "\n")


def wait_resumed(stack: Stack, service: str, report: Report, since: float) -> None:
    """Every tick started after `since` reaches Jaeger; Prometheus has every generation."""
    ticks = {i for i, (at, _) in enumerate(report.calls) if at > since}
    assert ticks, "no calls after recovery"
    wait_for(
        "the ticks sent after recovery in Jaeger",
        lambda: ticks <= traced_ticks(stack, service),
        deadline_s=90,
        every_s=2,
    )
    # Cumulative metrics: the full count of generations arrives after the fault.
    generations = f'sum(gen_ai_client_operation_duration_seconds_count{{job="{service}"}})'
    wait_for(
        f"{generations} == {len(report.calls)}",
        lambda: prom_sum(stack, generations) == len(report.calls),
        deadline_s=60,
    )


def wait_traced(stack: Stack, workload: Workload) -> None:
    """Wait (90 s at most) until the workload's first traces are in Jaeger."""
    wait_for(
        "the workload's first traces in Jaeger",
        lambda: traced_ticks(stack, workload.service),
        90,
    )


def test_exporter_raising_is_swallowed_counted_and_logged_once(faults_stack: Stack) -> None:
    """An application's own exporter that raises on every batch: the workload never sees it;
    every span it lost is counted (read back from Prometheus) and logged once per interval;
    the provider's other exporter keeps delivering to Jaeger."""
    stack = faults_stack
    workload = Workload(stack, "raising", stack.otlp_http, raising_exporter=True, period_s=0.05)
    try:
        wait_traced(stack, workload)
        time.sleep(5)
        report = workload.finish()
    finally:
        workload.kill()
    assert report.exceptions == 0, report.stderr[-3000:]
    spans = 2 * len(report.calls)  # the tick span and the chat span of each call
    query = dropped_query(workload.service, "traces", "RuntimeError")
    wait_for(f"{query} == {spans}", lambda: prom_sum(stack, query) == spans, deadline_s=60)
    warnings = warnings_about(report, "span")
    # The first drop at once, the rest at shutdown (one more per interval on a slow start).
    assert len(warnings) >= 2, report.warnings
    assert_once_per_interval(report, "span")
    assert all("RuntimeError" in w["message"] for w in warnings)
    assert warned_total(report, "span") == spans
    raised = {k: n for k, n in report.sdk_lines.items() if "Exception while exporting" in k}
    assert sum(raised.values()) <= 1, report.sdk_lines
    wait_resumed(stack, workload.service, report, since=0)
    note(
        stack,
        f"exporter raising: {len(report.calls)} calls, 0 exceptions; {spans} spans lost to it,"
        f" counted {spans} (error.type RuntimeError), {len(warnings)} warnings;"
        f" the other exporter delivered every tick to Jaeger",
    )


def test_slow_collector_times_out_without_slowing_the_app(faults_stack: Stack) -> None:
    """A proxy holds the collector's answers 4 s (exporter timeout 2 s) for 20 s: calls are
    not slowed, the exports time out and are counted as `timeout`, delivery resumes."""
    stack = faults_stack
    with DelayingProxy(stack.ports["otlp_http"]) as proxy:
        workload = Workload(stack, "slow", proxy.url, OTEL_EXPORTER_OTLP_TIMEOUT="2")
        try:
            wait_traced(stack, workload)
            time.sleep(5)
            slow_at = time.time()
            proxy.delay_s = 4.0
            time.sleep(20)
            proxy.delay_s = 0.0
            fast_at = time.time()
            time.sleep(8)
            report = workload.finish()
        finally:
            workload.kill()
    assert report.exceptions == 0, report.stderr[-3000:]
    normal = report.latencies(0, slow_at)
    slow = report.latencies(slow_at, fast_at)
    assert max(slow) < 1.0, f"slowest call while the collector was slow: {max(slow):.3f}s"
    # The figures (printed) are for docs/reliability.md; the bound only has to catch export
    # work on the caller's thread, without failing on a busy shared machine.
    assert statistics.median(slow) <= 3 * statistics.median(normal) + 0.005
    query = dropped_query(workload.service, "traces", "timeout")
    wait_for(f"{query} > 0", lambda: prom_sum(stack, query) > 0, deadline_s=60)
    timed_out = prom_sum(stack, query)
    assert any("timeout" in w["message"] for w in warnings_about(report, "span"))
    wait_resumed(stack, workload.service, report, since=fast_at + 3)
    note(
        stack,
        f"collector slow (answers held 4 s, timeout 2 s, for 20 s): {len(report.calls)} calls,"
        f" 0 exceptions; p50/p99 {ms(statistics.median(normal))}/{ms(percentile(normal, 0.99))}"
        f" normal vs {ms(statistics.median(slow))}/{ms(percentile(slow, 0.99))} slow;"
        f" {timed_out:.0f} spans counted as timeout; {proxy.delayed_chunks} answers held;"
        " delivery resumed",
    )


def test_collector_restarting_in_a_loop(faults_stack: Stack) -> None:
    """The collector stopped and started three times under load: no exception, no slow
    call, and every call after the last restart reaches Jaeger and Prometheus."""
    stack = faults_stack
    workload = Workload(stack, "restarts", stack.otlp_http)
    try:
        wait_traced(stack, workload)
        time.sleep(2)
        for _ in range(3):
            stack.stop("otelcol")
            time.sleep(3)
            stack.start_collector()
            time.sleep(2)
        back_at = time.time()
        time.sleep(6)
        report = workload.finish()
    finally:
        workload.kill()
    assert report.exceptions == 0, report.stderr[-3000:]
    slowest = max(report.latencies())
    assert slowest < 1.0, f"slowest call {slowest:.3f}s"
    wait_resumed(stack, workload.service, report, since=back_at + 2)
    lost = len(report.calls) - len(traced_ticks(stack, workload.service))
    note(
        stack,
        f"collector restarted 3 times (3 s down each): {len(report.calls)} calls, 0 exceptions,"
        f" slowest {ms(slowest)}; {lost} ticks not in Jaeger, {warned_total(report, 'span')}"
        " spans counted as dropped; everything after the last restart arrived",
    )


def test_collector_down_for_60s(faults_stack: Stack) -> None:
    """60 s without a collector under a steady load: zero exceptions, call latency as with
    the collector up, memory bounded by the queues, every loss counted and logged once per
    interval, and telemetry resumes when the collector is back."""
    stack = faults_stack
    workload = Workload(stack, "outage", stack.otlp_http)
    try:
        wait_traced(stack, workload)
        up_from = time.time()
        time.sleep(15)
        down_at = time.time()
        stack.stop("otelcol")
        time.sleep(OUTAGE_S / 2)
        (workload.dir / "burst").touch()
        time.sleep(OUTAGE_S / 2)
        stack.start_collector()
        up_at = time.time()
        time.sleep(12)
        report = workload.finish()
    finally:
        workload.kill()
    assert report.exceptions == 0, report.stderr[-3000:]

    up = report.latencies(up_from, down_at)
    down = report.latencies(down_at, up_at)
    p50_up, p99_up = statistics.median(up), percentile(up, 0.99)
    p50_down, p99_down = statistics.median(down), percentile(down, 0.99)
    # Export runs on the SDK's threads; with the collector down they only wait and retry.
    # A blocked call would wait for the exporter's retries (seconds). The measured ratios are
    # printed for docs/reliability.md; the bounds are loose so a busy machine cannot fail them.
    assert max(down) < 1.0, f"slowest call while down: {max(down):.3f}s"
    assert p50_down <= 3 * p50_up + 0.005, (p50_up, p50_down)
    assert p99_down <= 4 * p99_up + 0.020, (p99_up, p99_down)

    # Memory: the queues (2,048 spans, 2,048 log records) bound what is held.
    rss_growth = report.rss_at(up_at) - report.rss_at(down_at)
    assert rss_growth < 64 * 2**20, f"RSS grew {rss_growth / 2**20:.1f} MiB while down"
    assert report.burst_at is not None and down_at < report.burst_at < up_at

    # Every loss counted, and the count itself arrives once the collector is back.
    counted: dict[str, float] = {}
    for signal, noun in (("traces", "span"), ("logs", "log record")):
        warned = warned_total(report, noun)
        assert warned > 0, (signal, report.warnings)
        query = dropped_query(workload.service, signal)
        wait_for(f"{query} == {warned}", lambda: prom_sum(stack, query) == warned, 60)  # noqa: B023
        counted[signal] = warned
        assert_once_per_interval(report, noun)
        # One WARNING at the first drop, one per interval after it, one at shutdown at most.
        assert len(warnings_about(report, noun)) <= 2 + OUTAGE_S // WARN_INTERVAL_S
    queue_full = prom_sum(stack, dropped_query(workload.service, "traces", "queue_full"))
    # The burst overflows the queue: at most the queue and one batch in flight are kept.
    assert queue_full >= BURST_SPANS - 2048 - 512, queue_full
    failed = counted["traces"] - queue_full
    sdk_total = sum(report.sdk_lines.values())
    assert sdk_total <= 20, report.sdk_lines  # once per message per minute, not per batch

    wait_resumed(stack, workload.service, report, since=up_at + 3)
    lost_ticks = len(report.calls) - len(traced_ticks(stack, workload.service))
    note(
        stack,
        f"collector down {OUTAGE_S:.0f} s: {len(report.calls)} calls"
        f" ({len(down)} while down) and a burst of {BURST_SPANS} spans, 0 exceptions;"
        f" p50/p99 {ms(p50_up)}/{ms(p99_up)} up vs"
        f" {ms(p50_down)}/{ms(p99_down)} down; RSS +{rss_growth / 2**20:.1f} MiB while down;"
        f" {counted['traces']:.0f} spans dropped ({queue_full:.0f} queue_full,"
        f" {failed:.0f} failed exports), {counted['logs']:.0f} log records dropped;"
        f" {len(report.warnings)} otel-llm warnings, {sdk_total} SDK log lines;"
        f" {lost_ticks} ticks missing in Jaeger; every call after the restart arrived",
    )
