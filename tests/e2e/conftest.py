"""Session fixtures of the real-stack suite: the running stack and the demo workload sent once.

Without the cached binaries (scripts/stack/build.sh) the suite skips with a message saying how
to run it; when CI is set it fails instead. Every wait has a deadline.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.deploy._binaries import BUILD_HINT, CACHE, in_ci
from tests.e2e.stack import (
    STANDARD_PORTS,
    Stack,
    StackError,
    free_ports,
    gateway_ports,
    missing_parts,
    reap_dead_runs,
)

DEMO_REQUESTS = 6
"""Sequential demo requests: 4 distinct documents (cache misses), 2 repeats (cache hits)."""
DEMO_MISSES = 4
DEMO_SERVICE = "otel-llm-demo"


def workload_env(**extra: str) -> dict[str, str]:
    """The test environment without OTEL_* settings that would redirect a workload."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTEL_LLM_"))}
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Collector, Jaeger, Prometheus and Elasticsearch on free 127.0.0.1 ports."""
    yield from started_stack(tmp_path_factory, "e2e-running")


def started_stack(
    tmp_path_factory: pytest.TempPathFactory,
    ledger_name: str,
    *,
    with_es: bool = True,
    gateways: int = 0,
    gateway_env: dict[str, str] | None = None,
    alerting: bool = False,
    extra_rule_files: list[Path] | None = None,
) -> Iterator[Stack]:
    """Start a stack (skip or fail without binaries), yield it, stop it.

    PIDs go to the ledger CACHE/<ledger_name>/<pytest pid>; leftovers of killed earlier runs
    (ledgers whose pytest process is gone) are stopped first; runs still going, and stacks of
    another shape (their own ledger_name), are left alone.
    """
    missing = missing_parts(with_es=with_es, alerting=alerting)
    if missing:
        message = f"real-stack suite needs {', '.join(missing)}; {BUILD_HINT}"
        if in_ci():
            pytest.fail(f"CI is set but {message}", pytrace=False)
        pytest.skip(message)
    run_dir = tmp_path_factory.mktemp("stack")
    reaped = reap_dead_runs(CACHE / ledger_name)
    ledger = CACHE / ledger_name / str(os.getpid())
    if reaped:
        print(f"\nstopped processes left by a killed earlier run: {reaped}", file=sys.stderr)
    stack = Stack(
        run_dir=run_dir,
        ports=free_ports(list(STANDARD_PORTS) + gateway_ports(gateways)),
        with_es=with_es,
        ledger=ledger,
        gateways=gateways,
        gateway_env=gateway_env or {},
        alerting=alerting,
        extra_rule_files=extra_rule_files or [],
    )
    started = time.monotonic()
    try:
        stack.start_all()
    except StackError as exc:
        pytest.fail(f"the stack did not start: {exc}", pytrace=False)
    print(f"\nstack up in {time.monotonic() - started:.1f}s (run dir {run_dir})", file=sys.stderr)
    try:
        yield stack
    finally:
        stack.stop_all()


@dataclass
class DemoRun:
    """What `otel-llm demo` printed: its JSON log lines and the trace ids they carry."""

    returncode: int
    stderr: str
    logs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def trace_ids(self) -> list[str]:
        """Trace ids of the requests, in order (one per 'request received' log line)."""
        return [r["trace_id"] for r in self.logs if r.get("event") == "request received"]


@pytest.fixture(scope="session")
def demo(stack: Stack) -> DemoRun:
    """`otel-llm demo --otlp <collector>` run once, sequentially, against the stack."""
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("otel-llm")), "demo", "--otlp", stack.otlp_http,
            "--requests", str(DEMO_REQUESTS), "--concurrency", "1", "--seed", "7",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env=workload_env(),
        check=False,
    )  # fmt: skip
    logs = []
    for line in (result.stdout + "\n" + result.stderr).splitlines():
        if line.startswith("{"):
            try:
                logs.append(json.loads(line))
            except ValueError:
                continue
    run = DemoRun(result.returncode, result.stderr, logs)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(run.trace_ids) == DEMO_REQUESTS, result.stderr[-3000:]
    return run


def wait_for(what: str, check: Any, deadline_s: float = 60, every_s: float = 1.0) -> Any:
    """Poll `check()` until it returns a truthy value; fail with `what` after the deadline."""
    end = time.monotonic() + deadline_s
    last: Any = None
    while True:
        try:
            last = check()
        except (OSError, StackError, KeyError, ValueError) as exc:
            last = exc
        else:
            if last:
                return last
        if time.monotonic() >= end:
            pytest.fail(f"timed out after {deadline_s:.0f}s waiting for {what} (last: {last!r})")
        time.sleep(every_s)


def python_workload(
    code: str, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run a workload script in a fresh interpreter (own SDK providers) with a deadline."""
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=workload_env(**env),
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )
