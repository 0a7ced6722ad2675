"""Processes: ``os.fork()``, ``multiprocessing`` (fork and spawn) and worker servers.

Every scenario runs in its own interpreter (``tests/reliability/_process_app.py``, or a real
gunicorn / uvicorn with two workers) and exports over OTLP/HTTP to :class:`Receiver`, a
small HTTP server in this test process that decodes the ``ExportTraceServiceRequest`` /
``ExportMetricsServiceRequest`` protobufs. Checked: each process's spans arrive (each
worker exports its own telemetry), every span id arrives exactly once (the parent's spans
queued at the fork are not sent again by the children), and no child hangs at the fork,
even when another thread held otel-llm's locks mid-export. Every subprocess has a timeout.
"""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from tests.reliability._process_app import REPORT, SPANS_PER_PROCESS
from tests.reliability.conftest import FIGURES

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 120


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def _attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs if isinstance(pair, KeyValue)}


@dataclass
class Span:
    """One received span: its id, name, attributes and its resource's attributes."""

    span_id: str
    name: str
    attributes: dict[str, Any]
    resource: dict[str, Any]
    connection: tuple[str, int]
    """The client address of the connection that carried it."""


@dataclass
class Receiver:
    """Spans and metric data points received over OTLP/HTTP, per resource."""

    spans: list[Span] = field(default_factory=list)
    metric_pids: Counter[int] = field(default_factory=Counter)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    stalled: threading.Event = field(default_factory=threading.Event)
    """Set while the first request to ``/stall/...`` is held."""
    release: threading.Event = field(default_factory=threading.Event)
    """Set to let the held request go (at the end of the test at the latest)."""

    def steps(self) -> Counter[str]:
        """How many times each ``test.step`` arrived."""
        return Counter(str(s.attributes.get("test.step")) for s in self.spans)

    def shared_connections(self) -> dict[tuple[str, int], set[int]]:
        """Connections that carried spans of more than one process (``test.pid``)."""
        pids: dict[tuple[str, int], set[int]] = {}
        for span in self.spans:
            pids.setdefault(span.connection, set()).add(int(span.attributes["test.pid"]))
        return {address: found for address, found in pids.items() if len(found) > 1}


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the exporters' connection pools expect

        def log_message(self, format: str, *args: Any) -> None:
            return None

        def do_GET(self) -> None:
            reply = b"yes" if receiver.stalled.is_set() else b"no"
            self.send_response(200)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path.startswith("/stall/"):
                with receiver.lock:
                    first = not receiver.stalled.is_set()
                    receiver.stalled.set()
                if first:  # an exporter stuck mid-export, until the test ends
                    receiver.release.wait(TIMEOUT)
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if self.path.endswith("/v1/traces"):
                request = ExportTraceServiceRequest.FromString(body)
                with receiver.lock:
                    for resource_spans in request.resource_spans:
                        resource = _attributes(resource_spans.resource.attributes)
                        for scope_spans in resource_spans.scope_spans:
                            for span in scope_spans.spans:
                                receiver.spans.append(
                                    Span(
                                        span.span_id.hex(),
                                        span.name,
                                        _attributes(span.attributes),
                                        resource,
                                        self.client_address[:2],
                                    )
                                )
                reply = ExportTraceServiceResponse().SerializeToString()
            elif self.path.endswith("/v1/metrics"):
                metrics = ExportMetricsServiceRequest.FromString(body)
                with receiver.lock:
                    for resource_metrics in metrics.resource_metrics:
                        pid = _attributes(resource_metrics.resource.attributes)["process.pid"]
                        receiver.metric_pids[int(pid)] += 1
                reply = ExportMetricsServiceResponse().SerializeToString()
            else:
                reply = b""
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
            except OSError:  # the held request's client gave up waiting
                self.close_connection = True

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """An OTLP/HTTP receiver on 127.0.0.1 for one test."""
    received = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(received))
    server.daemon_threads = True
    received.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield received
    received.release.set()
    server.shutdown()
    server.server_close()


def run_scenario(scenario: str, receiver: Receiver) -> dict[str, Any]:
    """Run ``_process_app`` ``scenario`` in a new interpreter; its JSON report."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.reliability._process_app", scenario, receiver.url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**os.environ, "OTEL_METRIC_EXPORT_INTERVAL": "500"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith(REPORT)]
    assert len(lines) == 1, done.stdout[-3000:]
    report: dict[str, Any] = json.loads(lines[0].removeprefix(REPORT))
    return report


def assert_each_once(receiver: Receiver) -> None:
    """No span id arrived twice."""
    twice = [sid for sid, n in Counter(s.span_id for s in receiver.spans).items() if n > 1]
    assert twice == [], f"{len(twice)} spans were sent more than once"


# -- os.fork() ------------------------------------------------------------------------------
def test_fork_after_configure(receiver: Receiver) -> None:
    """Two children forked after ``configure()`` export their own spans through the
    inherited providers; the span the parent had queued at the fork arrives once (from
    the parent), and nothing arrives twice."""
    report = run_scenario("fork", receiver)
    assert list(report["children"].values()) == [0, 0], report
    assert_each_once(receiver)
    # the parent's kept-alive export connection is its own: a child opens a new one
    assert receiver.shared_connections() == {}
    steps = receiver.steps()
    assert steps["parent-exported"] == 1 and steps["parent-queued"] == 1
    for child, pid in enumerate(report["children"]):
        mine = [
            s for s in receiver.spans if str(s.attributes["test.step"]).startswith(f"child{child}-")
        ]
        assert len(mine) == SPANS_PER_PROCESS, f"child {child} lost spans"
        assert {s.attributes["test.pid"] for s in mine} == {int(pid)}
        # under its own identity: its pid and a new instance id in the resource
        assert {s.resource["process.pid"] for s in mine} == {int(pid)}
    instances = {
        s.resource["process.pid"]: s.resource["service.instance.id"] for s in receiver.spans
    }
    assert len(set(instances.values())) == 3, instances
    assert set(receiver.metric_pids) == {report["parent"], *map(int, report["children"])}
    parent = [s for s in receiver.spans if str(s.attributes["test.step"]).startswith("parent-")]
    assert len(parent) == SPANS_PER_PROCESS + 2
    assert len(receiver.spans) == 3 * SPANS_PER_PROCESS + 2


def test_fork_while_exporter_holds_locks(receiver: Receiver) -> None:
    """A child forked while the parent's exporter thread is stuck inside the console
    exporter (its locks held) still exports its own span, well within the deadline."""
    report = run_scenario("fork-mid-export", receiver)
    assert list(report["children"].values()) == [0], report


def test_fork_while_metric_export_in_flight(receiver: Receiver) -> None:
    """A child forked while the parent's metric reader is inside an OTLP export (its
    export lock held, the collector not answering) still exports its own metrics."""
    report = run_scenario("fork-mid-metric-export", receiver)
    assert list(report["children"].values()) == [0], report
    assert {int(pid) for pid in report["children"]} <= set(receiver.metric_pids)


# -- multiprocessing ----------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_multiprocessing_pool(receiver: Receiver, method: str) -> None:
    """A 2-process ``multiprocessing`` pool: every task's span arrives, exactly once,
    exported by the worker that ran it; with ``fork`` the parent's queued span once."""
    report = run_scenario(f"pool-{method}", receiver)
    assert_each_once(receiver)
    steps = receiver.steps()
    tasks = [s for s in receiver.spans if str(s.attributes["test.step"]).startswith("task-")]
    assert len(tasks) == 2 * SPANS_PER_PROCESS, f"{len(tasks)} of {2 * SPANS_PER_PROCESS} tasks"
    assert {s.attributes["test.pid"] for s in tasks} == set(report["workers"])
    if method == "fork":
        assert steps["parent-queued"] == 1
    FIGURES.append(f"processes: multiprocessing {method}: {len(tasks)} task spans once each")


# -- worker servers ------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=30) as reply:
        result: dict[str, Any] = json.loads(reply.read())
        return result


def serve_and_stop(
    command: list[str], port: int, receiver: Receiver, workers: int = 2, **env: str
) -> dict[int, int]:
    """Start the server, send requests until all ``workers`` answered (at most 400), stop
    it (SIGTERM, within the timeout); returns the pid that served each request number."""
    environment = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_METRIC_EXPORT_INTERVAL": "500",
        **env,
    }
    server = subprocess.Popen(
        command, cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    served: dict[int, int] = {}
    try:
        base = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 60
        while True:  # until the server answers
            try:
                _get(base + "?n=-1")
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "no server"
                time.sleep(0.2)
        with ThreadPoolExecutor(8) as pool:
            n = 0
            while len(set(served.values())) < workers and n < 400:
                batch = range(n, n + 40)
                for i, reply in zip(
                    batch, pool.map(lambda i: _get(f"{base}?n={i}"), batch), strict=True
                ):
                    assert reply["id"] == f"chatcmpl-{i}"
                    served[i] = reply["pid"]
                n += 40
    finally:
        server.terminate()
        try:
            output = server.communicate(timeout=TIMEOUT)[0].decode(errors="replace")
        except subprocess.TimeoutExpired:
            server.kill()
            output = server.communicate()[0].decode(errors="replace")
            pytest.fail(f"the server did not stop in {TIMEOUT} s: {output[-2000:]}")
    assert len(set(served.values())) == workers, f"a worker served nothing: {output[-2000:]}"
    return served


def check_workers(receiver: Receiver, served: dict[int, int], name: str) -> None:
    """One span per request, exported by the worker that served it (its own pid in the
    resource); every worker exported metrics; nothing arrived twice."""
    assert_each_once(receiver)
    chats = {
        s.attributes["gen_ai.response.id"]: s
        for s in receiver.spans
        if s.name == "chat gpt-4" and s.attributes.get("gen_ai.response.id") != "chatcmpl--1"
    }
    assert len(chats) == len(served) == sum(1 for s in receiver.spans if s.name == "chat gpt-4") - 1
    for n, pid in served.items():
        assert chats[f"chatcmpl-{n}"].resource["process.pid"] == pid
    workers = set(served.values())
    assert workers <= set(receiver.metric_pids), f"metrics from {receiver.metric_pids}"
    per_worker = Counter(served.values())
    FIGURES.append(
        f"processes: {name}: {len(served)} requests, spans per worker {sorted(per_worker.values())}"
        f", each once, metrics from every worker"
    )


def test_gunicorn_workers(receiver: Receiver) -> None:
    """gunicorn, 2 sync workers forked from a master that never configured otel-llm;
    ``post_fork`` configures each: each worker exports its own spans and metrics."""
    port = _free_port()
    command = [sys.executable, "-m", "gunicorn", "-c", "tests/reliability/_gunicorn_conf.py",
               "-b", f"127.0.0.1:{port}", "tests.reliability._server_app:wsgi"]  # fmt: skip
    served = serve_and_stop(command, port, receiver)
    check_workers(receiver, served, "gunicorn -w 2 (post_fork)")


def test_gunicorn_preload(receiver: Receiver) -> None:
    """gunicorn --preload with an app that configures otel-llm at import: the master
    configures and forks 2 workers (``post_fork`` gets the same handle back). Each worker
    still exports its own spans and metrics, under its own pid, each span once."""
    port = _free_port()
    command = [sys.executable, "-m", "gunicorn", "-c", "tests/reliability/_gunicorn_conf.py",
               "--preload", "-b", f"127.0.0.1:{port}",
               "tests.reliability._server_app:wsgi"]  # fmt: skip
    served = serve_and_stop(command, port, receiver, OTEL_LLM_TEST_CONFIGURE_AT_IMPORT="1")
    check_workers(receiver, served, "gunicorn -w 2 --preload (configured in the master)")


def test_uvicorn_one_process(receiver: Receiver) -> None:
    """uvicorn in one process, stopped by SIGTERM (uvicorn re-raises it after its graceful
    shutdown, so the process dies without atexit): the app's lifespan shutdown calls
    ``otel_llm.shutdown()``, as the docs say, and every span arrives once."""
    port = _free_port()
    command = [sys.executable, "-m", "uvicorn", "--port", str(port), "--log-level", "warning",
               "tests.reliability._server_app:asgi"]  # fmt: skip
    served = serve_and_stop(command, port, receiver, 1, OTEL_LLM_TEST_CONFIGURE_AT_IMPORT="1")
    check_workers(receiver, served, "uvicorn, one process")


def test_uvicorn_workers(receiver: Receiver) -> None:
    """uvicorn --workers 2 (spawned worker interpreters that configure at import and shut
    down in the lifespan shutdown): each worker exports its own spans and metrics."""
    port = _free_port()
    command = [sys.executable, "-m", "uvicorn", "--workers", "2", "--port", str(port),
               "--log-level", "warning", "tests.reliability._server_app:asgi"]  # fmt: skip
    served = serve_and_stop(command, port, receiver, OTEL_LLM_TEST_CONFIGURE_AT_IMPORT="1")
    check_workers(receiver, served, "uvicorn --workers 2")
