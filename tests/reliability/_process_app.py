"""Programs the process tests run in a fresh interpreter: ``python -m ... SCENARIO ENDPOINT``.

Each configures otel-llm the way an application does, forks or starts worker processes,
records spans tagged with ``test.step`` (what made the span) and ``test.pid`` (the process
that made it), and prints one JSON line describing what it did. The test process receives
the spans over OTLP/HTTP and checks them against that line.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import sys
import threading
import time
from typing import Any

import otel_llm

SPANS_PER_PROCESS = 50
REPORT = "scenario report: "
"""Prefix of the JSON line (the app's own log lines go to the same stream)."""
CHILD_DEADLINE = 30.0


def _configure(endpoint: str, **overrides: Any) -> otel_llm.Telemetry:
    options: dict[str, Any] = {
        "service_name": "process-test",
        "traces_exporter": "otlp",
        "metrics_exporter": "otlp",
        "logs_exporter": "none",
        "otlp_protocol": "http/protobuf",
        "otlp_endpoint": endpoint,
        "instrument": False,
    }
    options.update(overrides)
    return otel_llm.configure(**options)


def _work(step: str) -> None:
    with otel_llm.generation("model", "test") as call:
        call.set_attribute("test.step", step)
        call.set_attribute("test.pid", os.getpid())
        call.set_response(input_tokens=3, output_tokens=4)


def _wait(pids: list[int]) -> dict[int, int | None]:
    """Exit codes of the children, None for one still running at the deadline (killed)."""
    codes: dict[int, int | None] = {}
    deadline = time.monotonic() + CHILD_DEADLINE
    while len(codes) < len(pids) and time.monotonic() < deadline:
        for pid in pids:
            if pid not in codes:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    codes[pid] = os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    for pid in pids:
        if pid not in codes:
            codes[pid] = None
            os.kill(pid, 9)
            os.waitpid(pid, 0)
    return codes


def fork(endpoint: str) -> dict[str, Any]:
    """``os.fork()`` twice after ``configure()``, with one span exported and one still
    queued in the parent's batch processor at the fork."""
    telemetry = _configure(endpoint)
    _work("parent-exported")
    telemetry.force_flush()  # the exporter now holds a kept-alive connection
    _work("parent-queued")  # in the batch processor's queue at the fork
    children = []
    for child in range(2):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            code = 1
            try:
                for i in range(SPANS_PER_PROCESS):
                    _work(f"child{child}-{i}")
                code = 0 if telemetry.force_flush(10_000) else 2
            finally:
                os._exit(code)
        children.append(pid)
    for i in range(SPANS_PER_PROCESS):
        _work(f"parent-{i}")
    codes = _wait(children)
    telemetry.shutdown()
    return {"parent": os.getpid(), "children": {str(pid): codes[pid] for pid in children}}


class _StuckStream(io.StringIO):
    """A stderr whose writes block until released: the exporter thread stays mid-write."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def write(self, text: str) -> int:
        self.entered.set()
        self.release.wait()
        return super().write(text)


def fork_mid_export(endpoint: str) -> dict[str, Any]:
    """Fork while the exporter thread is inside the console exporter's write (holding its
    locks): the child's own export must still finish."""
    stuck = _StuckStream()
    sys.stderr = stuck
    telemetry = _configure(endpoint, traces_exporter="console", metrics_exporter="none")
    _work("parent")
    if not stuck.entered.wait(CHILD_DEADLINE):
        return {"error": "the exporter never wrote"}
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            out = sys.stderr = io.StringIO()
            _work("child")
            flushed = telemetry.force_flush(5_000)
            code = 0 if flushed and "chat model" in out.getvalue() else 3
        finally:
            os._exit(code)
    codes = _wait([pid])
    stuck.release.set()
    telemetry.shutdown()
    sys.stderr = sys.__stderr__
    return {"parent": os.getpid(), "children": {str(pid): codes[pid]}}


def fork_mid_metric_export(endpoint: str) -> dict[str, Any]:
    """Fork while the parent's metric reader thread waits inside an OTLP export (the
    receiver holds the request): the child's own metric export must still finish."""
    import urllib.request

    telemetry = _configure(endpoint + "/stall", traces_exporter="none")
    _work("parent")
    threading.Thread(target=telemetry.force_flush, daemon=True).start()
    deadline = time.monotonic() + CHILD_DEADLINE
    while urllib.request.urlopen(endpoint + "/stalled", timeout=5).read() != b"yes":
        if time.monotonic() > deadline:
            return {"error": "the metric export never reached the receiver"}
        time.sleep(0.05)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            _work("child")
            code = 0 if telemetry.force_flush(5_000) else 2
        finally:
            os._exit(code)
    codes = _wait([pid])
    return {"parent": os.getpid(), "children": {str(pid): codes[pid]}}


def _task(step: str) -> int:
    _work(step)
    return os.getpid()


def _spawned_worker(endpoint: str) -> None:
    _configure(endpoint)


def pool(endpoint: str, method: str) -> dict[str, Any]:
    """A ``multiprocessing`` pool of 2 workers (``fork`` or ``spawn``) running tasks."""
    context = multiprocessing.get_context(method)
    if method == "fork":
        telemetry = _configure(endpoint)
        _work("parent-queued")
        initializer, args = None, ()
    else:  # a spawned worker starts a new interpreter: it configures itself
        telemetry = _configure(endpoint)
        initializer, args = _spawned_worker, (endpoint,)
    with context.Pool(2, initializer=initializer, initargs=args) as workers:
        pids = workers.map(_task, [f"task-{i}" for i in range(2 * SPANS_PER_PROCESS)], chunksize=5)
        workers.close()
        workers.join()
    telemetry.shutdown()
    return {"parent": os.getpid(), "workers": sorted(set(pids))}


def main() -> None:
    """Run the scenario named on the command line; print what it did as JSON."""
    scenario, endpoint = sys.argv[1], sys.argv[2]
    if scenario == "fork":
        result = fork(endpoint)
    elif scenario == "fork-mid-export":
        result = fork_mid_export(endpoint)
    elif scenario == "fork-mid-metric-export":
        result = fork_mid_metric_export(endpoint)
    else:
        result = pool(endpoint, scenario.removeprefix("pool-"))
    print(REPORT + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
