"""Collector outage: stop it for 10 s under load; the app sees nothing, delivery resumes.

Runs last in the suite (file name) because it restarts the session's collector. What the OTel
Python SDK does meanwhile (measured in STACK notes and here): each export retries one batch
until its timeout, then drops it and logs a warning; nothing reaches application code.
Cumulative metrics lose nothing, because the next export after the restart carries the totals.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import wait_for, workload_env
from tests.e2e.stack import Stack, get_json

pytestmark = pytest.mark.e2e

SERVICE = "e2e-outage"
OUTAGE_S = 10.0

WORKLOAD = """
import json, os, sys, time
import otel_llm
from opentelemetry import trace

tel = otel_llm.configure(
    service_name=%(service)r, traces_exporter="otlp", metrics_exporter="otlp",
    logs_exporter="otlp", otlp_endpoint=%(endpoint)r, otlp_protocol="http/protobuf",
)
tracer = trace.get_tracer("e2e.outage")
log = otel_llm.get_logger("e2e.outage")
ticks, exceptions, slowest, slow = [], 0, 0.0, []
# Runs until the test creates the stop file (or a safety limit), so a slow start under load
# cannot shift the outage outside the workload.
stop_file, end = %(stop_file)r, time.time() + %(limit)s
i = 0
while time.time() < end and not os.path.exists(stop_file):
    t0 = time.perf_counter()
    try:
        with tracer.start_as_current_span("tick") as span:
            span.set_attribute("e2e.tick", i)
            with otel_llm.generation(model="m", provider="openai", operation="chat") as g:
                g.set_response(model="m", input_tokens=5, output_tokens=2)
            log.info("tick", tick=i)
        ticks.append({"tick": i, "at": time.time()})
    except Exception as exc:  # the test asserts this never happens
        exceptions += 1
        print(f"workload exception: {exc!r}", file=sys.stderr)
    took = time.perf_counter() - t0
    slowest = max(slowest, took)
    if took > 0.5:
        slow.append({"tick": i, "at": time.time(), "s": took})
    i += 1
    time.sleep(0.2)
t0 = time.perf_counter()
tel.force_flush()
flush_s = time.perf_counter() - t0
tel.shutdown()
print(json.dumps({"ticks": ticks, "exceptions": exceptions, "slowest_s": slowest, "slow": slow,
                  "flush_s": flush_s}))
"""


def found_ticks(stack: Stack) -> set[int]:
    """Tick numbers of the workload's spans that reached Jaeger."""
    query = urllib.parse.urlencode(
        {"service": SERVICE, "operation": "tick", "lookback": "1h", "limit": 2000}
    )
    data = get_json(f"{stack.jaeger}/api/traces?{query}", timeout=15)["data"] or []
    ticks = set()
    for trace in data:
        for span in trace["spans"]:
            for tag in span.get("tags", []):
                if tag["key"] == "e2e.tick":
                    ticks.add(int(tag["value"]))
    return ticks


def test_collector_outage_is_invisible_to_the_app(stack: Stack) -> None:
    """10 s without a collector: zero exceptions, no held calls, delivery resumes after."""
    stop_file = stack.run_dir / "outage-stop"
    code = WORKLOAD % {
        "service": SERVICE,
        "endpoint": stack.otlp_http,
        "stop_file": str(stop_file),
        "limit": 180,
    }
    # Output goes to files, not pipes: a full pipe would block the workload's log writes and
    # show up as slow instrumented calls that have nothing to do with export.
    out_path, err_path = stack.run_dir / "outage.out", stack.run_dir / "outage.err"
    with out_path.open("w") as out, err_path.open("w") as err:
        workload = subprocess.Popen(
            [sys.executable, "-c", code],
            stdout=out,
            stderr=err,
            text=True,
            env=workload_env(OTEL_METRIC_EXPORT_INTERVAL="2000", OTEL_BSP_SCHEDULE_DELAY="500"),
            cwd=Path(__file__).resolve().parents[2],
        )
    try:
        # Delivery works before the outage: the first ticks are in Jaeger.
        wait_for("the workload's first traces in Jaeger", lambda: found_ticks(stack), 90)
        time.sleep(2)
        down_at = time.time()
        stack.stop("otelcol")
        time.sleep(OUTAGE_S)
        stack.start_collector()
        up_at = time.time()
        time.sleep(8)
        stop_file.touch()
        workload.wait(timeout=120)
    finally:
        if workload.poll() is None:
            workload.kill()
            workload.wait(timeout=10)
    stdout, stderr = out_path.read_text(), err_path.read_text()
    assert workload.returncode == 0, stderr[-3000:]
    report: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])

    assert report["exceptions"] == 0, stderr[-3000:]
    # Export runs on the SDK's background threads: no instrumented call waits for it.
    slow = [{**c, "at": round(c["at"] - down_at, 1)} for c in report["slow"]]
    assert report["slowest_s"] < 1.0, f"slow calls (at = s after the stop): {slow}"

    ticks = report["ticks"]
    after = {t["tick"] for t in ticks if t["at"] > up_at + 2}
    during = {t["tick"] for t in ticks if down_at <= t["at"] <= up_at}
    before = {t["tick"] for t in ticks if t["at"] < down_at - 2}
    assert after and during and before

    arrived = wait_for(
        "every tick sent after the restart in Jaeger",
        lambda: (lambda got: got if after <= got else None)(found_ticks(stack)),
        deadline_s=90,
    )
    lost = sorted(set(t["tick"] for t in ticks) - arrived)

    # Cumulative metrics: the total count of generations arrives in full after the restart.
    promql = f'sum(gen_ai_client_operation_duration_seconds_count{{job="{SERVICE}"}})'
    url = f"{stack.prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": promql})

    def total() -> float:
        result = get_json(url)["data"]["result"]
        return float(result[0]["value"][1]) if result else 0.0

    wait_for(f"{promql} == {len(ticks)}", lambda: total() == len(ticks), deadline_s=60)

    warnings = [line for line in stderr.splitlines() if "export" in line.lower()]
    note = (
        f"\ncollector outage {OUTAGE_S:.0f}s: {len(ticks)} traces sent, {len(during)} during the"
        f" outage, {len(lost)} lost {lost}; slowest instrumented call"
        f" {report['slowest_s'] * 1000:.1f} ms; final force_flush {report['flush_s']:.1f}s;"
        f" metric count complete ({len(ticks)}); {len(warnings)} SDK export warnings on stderr"
    )
    print(note, file=sys.stderr)
    (stack.run_dir / "outage-report.txt").write_text(note.strip() + "\n")
