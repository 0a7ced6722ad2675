"""`otel-llm demo`: the README's main job, run as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from tests.helpers import otlp_http_receiver

BUDGET_S = 15.0


def _demo(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "otel_llm.cli", "demo", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return proc, time.perf_counter() - start


def test_demo_prints_trees_logs_and_summary() -> None:
    """The demo exits 0 in budget with trace trees, correlated JSON logs and a summary."""
    proc, elapsed = _demo()
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert elapsed < BUDGET_S * 2, f"demo took {elapsed:.1f} s"  # generous on a loaded CI box
    err = proc.stderr
    for expected in (
        "POST /summarise/{topic}",  # the HTTP server span: the service is called over HTTP
        "handle_request",
        "cache.lookup prompt-cache",
        "tokenizer.truncate",
        "route demo-router",
        "chat gpt-4o ",
        "chat gpt-4o-mini",
        "RateLimitError",
        "otel-llm demo summary",
        "time to first chunk p50",
        "Prometheus metrics at http://127.0.0.1:",
        "traceresponse header 00-",
    ):
        assert expected in err, f"{expected!r} missing from:\n{err[-3000:]}"
    logs = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    answered = [entry for entry in logs if entry.get("event") == "answered"]
    assert answered, proc.stdout[-2000:]
    assert all(len(entry["trace_id"]) == 32 for entry in answered)
    assert any(entry["trace_id"] in err for entry in answered), "log trace ids match the trees"
    assert "sk-demo-not-a-real-key" not in proc.stdout + err
    assert "/summarise/" not in proc.stdout, "the load loop's own client logs are not shown"
    first = err.split("first trace id: ", 1)[1].split()[0]
    assert f"trace {first} · otel-llm-demo" in err, "the header's trace id is a printed tree"


def test_demo_sends_to_otlp_endpoint() -> None:
    """With --otlp the spans arrive at an OTLP/HTTP receiver."""
    with otlp_http_receiver() as (endpoint, received):
        proc, _ = _demo("--otlp", endpoint, "--requests", "3")
        assert proc.returncode == 0, proc.stderr[-3000:]
    names = received.span_names()
    assert names.count("handle_request") == 3
    assert names.count("POST /summarise/{topic}") == 3
    assert "route demo-router" in names and "chat gpt-4o-mini" in names
    assert {"gen_ai.client.operation.duration", "http.server.request.duration"} <= (
        received.metric_names()
    )
    assert received.log_bodies(), "logs are exported over OTLP too"
