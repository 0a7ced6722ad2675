"""Shared helpers for tests: run Python in a subprocess, a local OTLP/HTTP receiver."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

_CLEAN_PREFIXES = ("OTEL_", "OTEL_LLM_")


def script(*parts: str) -> str:
    """Join independently indented code snippets into one program."""
    return "\n".join(textwrap.dedent(part) for part in parts)


def run_python(
    code: str, env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter with a clean OTEL_* environment."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(_CLEAN_PREFIXES)}
    base.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=base,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass
class Received:
    """What a local OTLP/HTTP receiver decoded, per signal."""

    traces: list[ExportTraceServiceRequest] = field(default_factory=list)
    metrics: list[ExportMetricsServiceRequest] = field(default_factory=list)
    logs: list[ExportLogsServiceRequest] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    """Every request body as sent (gzip undone), for byte-level checks."""

    def span_names(self) -> list[str]:
        return [
            span.name
            for request in self.traces
            for rs in request.resource_spans
            for ss in rs.scope_spans
            for span in ss.spans
        ]

    def metric_names(self) -> set[str]:
        return {
            metric.name
            for request in self.metrics
            for rm in request.resource_metrics
            for sm in rm.scope_metrics
            for metric in sm.metrics
        }

    def log_bodies(self) -> list[str]:
        return [
            record.body.string_value
            for request in self.logs
            for rl in request.resource_logs
            for sl in rl.scope_logs
            for record in sl.log_records
        ]


@contextmanager
def otlp_http_receiver() -> Iterator[tuple[str, Received]]:
    """A real OTLP/HTTP protobuf receiver on 127.0.0.1; yields (endpoint, received)."""
    received = Received()
    decoders = {
        "/v1/traces": (ExportTraceServiceRequest, received.traces),
        "/v1/metrics": (ExportMetricsServiceRequest, received.metrics),
        "/v1/logs": (ExportLogsServiceRequest, received.logs),
    }

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            if self.headers.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            received.raw.append(body)
            decoder = decoders.get(self.path)
            if decoder is None:
                self.send_response(404)
                self.end_headers()
                return
            message_type, sink = decoder
            message = message_type()
            message.ParseFromString(body)
            sink.append(message)
            received.headers.append({k.lower(): v for k, v in self.headers.items()})
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
