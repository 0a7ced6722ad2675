"""Web requests: HTTP server span -> route -> generation / tool spans, over real HTTP.

Each test serves an app (FastAPI or Starlette on uvicorn, Flask on werkzeug's WSGI server)
in its own process on 127.0.0.1, calls it with httpx, stops it (SIGTERM flushes) and reads
what it exported to a local OTLP/HTTP receiver. The openai SDK inside the app replays a
recorded tool-calling exchange at its transport.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan

from otel_llm import semconv
from tests.helpers import Received, otlp_http_receiver
from tests.instrumentation.conftest import CASSETTES

ROOT = Path(__file__).resolve().parents[2]
TOOL_SPAN = f"{semconv.SPAN_TOOL_PREFIX} get_current_weather"
FASTAPI = "opentelemetry.instrumentation.fastapi"
ASGI = "opentelemetry.instrumentation.asgi"
WSGI = "opentelemetry.instrumentation.wsgi"
pytestmark = pytest.mark.skipif(
    not (CASSETTES / "test_async_chat_completion_tool_calls_no_content.yaml").exists(),
    reason=f"recorded OpenAI exchanges not found in {CASSETTES}",
)


@dataclass
class Served:
    """What the tests see of one served app: its responses and its exported telemetry."""

    responses: list[httpx.Response]
    received: Received
    stderr: str

    def spans(self) -> list[PbSpan]:
        return [
            span
            for request in self.received.traces
            for rs in request.resource_spans
            for ss in rs.scope_spans
            for span in ss.spans
        ]

    def scope_of(self, span_id: bytes) -> str:
        """Instrumentation scope name of the span ``span_id``."""
        for request in self.received.traces:
            for rs in request.resource_spans:
                for ss in rs.scope_spans:
                    if any(span.span_id == span_id for span in ss.spans):
                        return str(ss.scope.name)
        raise KeyError(span_id.hex())

    def metric_points(self, name: str) -> list[dict[str, str]]:
        """Attributes of every histogram point of metric ``name``."""
        return [
            {kv.key: kv.value.string_value for kv in point.attributes}
            for request in self.received.metrics
            for rm in request.resource_metrics
            for sm in rm.scope_metrics
            for metric in sm.metrics
            if metric.name == name
            for point in metric.histogram.data_points
        ]


@contextmanager
def _serve(kind: str, *, mode: str = "late", env: dict[str, str] | None = None) -> Iterator[Any]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    base.update(env or {"OTEL_LLM_INSTRUMENT": "openai,fastapi,starlette,flask"})
    with otlp_http_receiver() as (endpoint, received):
        command = [sys.executable, "-m", "tests.web._server", kind, endpoint, mode]
        if mode == "auto":
            command = [str(Path(sys.executable).with_name("otel-llm")), "run", "--", *command]
            base.update(
                OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
                OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
                OTEL_LOGS_EXPORTER="none",
                OTEL_SERVICE_NAME=f"web-{kind}",
                PATH=os.pathsep.join([str(Path(sys.executable).parent), base.get("PATH", "")]),
            )
        proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=base,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.startswith("PORT "), f"app did not start: {line!r}"
            base_url = f"http://127.0.0.1:{int(line.split()[1])}"
            responses: list[httpx.Response] = []

            def call(conversation: str) -> httpx.Response:
                response = httpx.post(f"{base_url}/chat/{conversation}", timeout=30)
                responses.append(response)
                return response

            yield call
        finally:
            proc.send_signal(signal.SIGTERM)
            _, stderr = proc.communicate(timeout=60)
        served = Served(responses, received, stderr)
    call.served = served  # type: ignore[attr-defined]


def _run(kind: str, conversations: int = 2, **kwargs: Any) -> Served:
    with _serve(kind, **kwargs) as call:
        for i in range(conversations):
            response = call(f"conv-{i}")
            assert response.status_code == 200, response.text
    served: Served = call.served
    return served


def _tree(served: Served, trace_hex: str) -> dict[str, list[PbSpan]]:
    """The spans of one trace by name."""
    by_name: dict[str, list[PbSpan]] = {}
    for span in served.spans():
        if span.trace_id.hex() == trace_hex:
            by_name.setdefault(span.name, []).append(span)
    return by_name


def _assert_request_tree(served: Served, route_template: str, scope: str) -> None:
    """One trace per request: server -> route -> generations/tools; header; duration metric."""
    assert served.responses, served.stderr
    for response in served.responses:
        trace_hex = response.json()["trace_id"]
        header = response.headers.get(semconv.TRACERESPONSE_HEADER)
        tree = _tree(served, trace_hex)
        server_name = f"POST {route_template}"
        assert server_name in tree, f"{sorted(tree)}\n{served.stderr[-2000:]}"
        (server,) = tree[server_name]
        assert server.kind == PbSpan.SPAN_KIND_SERVER and not server.parent_span_id
        assert served.scope_of(server.span_id) == scope
        (route,) = tree["route web-router"]
        assert route.parent_span_id == server.span_id
        generations = tree["chat gpt-4o-mini"]
        tools = tree[TOOL_SPAN]
        assert len(generations) == 2 and len(tools) == 2
        assert all(s.parent_span_id == route.span_id for s in generations + tools)
        # a tool runs after the generation that asked for it, before the final one
        first, final = sorted(generations, key=lambda s: s.start_time_unix_nano)
        assert all(first.end_time_unix_nano <= t.start_time_unix_nano for t in tools)
        assert all(t.end_time_unix_nano <= final.start_time_unix_nano for t in tools)
        # flags: sampled, plus the Level 2 "random trace id" bit the SDK sets
        assert header in {f"00-{trace_hex}-{server.span_id.hex()}-{f}" for f in ("01", "03")}
    points = served.metric_points(semconv.METRIC_HTTP_SERVER_REQUEST_DURATION)
    assert points, f"no {semconv.METRIC_HTTP_SERVER_REQUEST_DURATION} in the export"
    # the WSGI middleware records no route on its metric (the span has it)
    assert {p.get(semconv.HTTP_ROUTE) for p in points} == {
        None if scope == WSGI else route_template
    }
    assert {p.get("http.request.method") for p in points} == {"POST"}


def test_fastapi_request_tree_traceresponse_and_duration() -> None:
    """FastAPI on uvicorn: server -> route -> generations and tools, header and metric match."""
    served = _run("fastapi")
    _assert_request_tree(served, "/chat/{conversation_id}", FASTAPI)
    names = {s.name for s in served.spans()}
    assert not any(n.endswith(("http send", "http receive")) for n in names), names


def test_fastapi_app_created_before_configure() -> None:
    """A FastAPI app (and class) made before configure() still gets its server spans."""
    _assert_request_tree(_run("fastapi", mode="early"), "/chat/{conversation_id}", FASTAPI)


def test_starlette_app_created_before_configure() -> None:
    """A plain Starlette app made before configure(): ASGI middleware, named by route."""
    _assert_request_tree(_run("starlette", mode="early"), "/chat/{conversation_id}", ASGI)


def test_flask_request_tree_traceresponse_and_duration() -> None:
    """Flask through WSGI: the same tree, header and request duration metric."""
    _assert_request_tree(_run("flask"), "/chat/<conversation_id>", WSGI)


def test_flask_app_created_before_configure() -> None:
    """A Flask app made before configure() is served through the WSGI middleware too."""
    served = _run("flask", mode="early", conversations=1)
    _assert_request_tree(served, "/chat/<conversation_id>", WSGI)


@pytest.mark.parametrize(("kind", "route", "scope"), [
    ("fastapi", "/chat/{conversation_id}", FASTAPI),
    ("flask", "/chat/<conversation_id>", WSGI),
])  # fmt: skip
def test_otel_llm_run_instruments_web_apps(kind: str, route: str, scope: str) -> None:
    """`otel-llm run` (opentelemetry-instrument + our distro) turns the web spans on too."""
    _assert_request_tree(_run(kind, mode="auto", conversations=1), route, scope)


def test_disabled_web_instrumentation() -> None:
    """OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=starlette: no server span, no header, no metric."""
    served = _run(
        "starlette",
        mode="early",
        conversations=1,
        env={"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "starlette"},
    )
    response = served.responses[0]
    assert semconv.TRACERESPONSE_HEADER not in response.headers
    tree = _tree(served, response.json()["trace_id"])
    assert not any(s.kind == PbSpan.SPAN_KIND_SERVER for spans in tree.values() for s in spans)
    (route,) = tree["route web-router"]
    assert not route.parent_span_id, "the route is the root without an HTTP server span"
    assert not served.metric_points(semconv.METRIC_HTTP_SERVER_REQUEST_DURATION)


def test_disabled_fastapi_leaves_fastapis_own_telemetry() -> None:
    """fastapi disabled: no contrib middleware; FastAPI's built-in spans remain."""
    served = _run(
        "fastapi",
        conversations=1,
        env={"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "fastapi"},
    )
    response = served.responses[0]
    tree = _tree(served, response.json()["trace_id"])
    (server,) = tree["POST /chat/{conversation_id}"]
    assert served.scope_of(server.span_id) == "fastapi"  # FastAPI's native telemetry
    assert not any(served.scope_of(s.span_id).startswith("opentelemetry.instrumentation")
                   for spans in tree.values() for s in spans)  # fmt: skip
