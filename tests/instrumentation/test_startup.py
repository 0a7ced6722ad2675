"""Startup path: ``opentelemetry-instrument python app.py`` in a subprocess, spans over OTLP/HTTP.

The test runs a real OTLP/HTTP receiver on 127.0.0.1 that decodes what the child process
exports with opentelemetry-proto. The child is an unmodified openai application (its HTTP
is answered in-process by ``httpx.MockTransport``); everything else is the real startup:
``sitecustomize`` -> our distro -> our configurator (``otel_llm.configure()``) -> our
instrumentor entry points.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_llm import _distro, instrumentation

BIN = Path(sys.executable).parent
LAUNCHER = BIN / "opentelemetry-instrument"

APP = textwrap.dedent(
    """
    import httpx, openai, wrapt
    from openai.resources.chat.completions import Completions

    BODY = {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "This is a test."}}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
    }
    client = openai.OpenAI(
        api_key="sk-test", base_url="https://api.openai.com/v1", max_retries=0,
        http_client=httpx.Client(
            transport=httpx.MockTransport(lambda request: httpx.Response(200, json=BODY))
        ),
    )
    reply = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Say this is a test"}]
    )
    print("REPLY", reply.choices[0].message.content)
    print("WRAPPED", isinstance(Completions.__dict__["create"], wrapt.FunctionWrapper))
    """
)


@dataclass
class Received:
    """What the receiver decoded, by signal."""

    spans: list[Any] = field(default_factory=list)
    metrics: list[Any] = field(default_factory=list)
    logs: list[Any] = field(default_factory=list)
    resources: list[dict[str, Any]] = field(default_factory=list)


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


def _attributes(items: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in items}


@pytest.fixture
def receiver() -> Iterator[tuple[str, Received]]:
    """An OTLP/HTTP (protobuf) receiver on 127.0.0.1 for traces, metrics and logs."""
    received = Received()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            with lock:
                if self.path == "/v1/traces":
                    request: Any = ExportTraceServiceRequest.FromString(body)
                    for rs in request.resource_spans:
                        received.resources.append(_attributes(rs.resource.attributes))
                        for ss in rs.scope_spans:
                            received.spans += [(ss.scope.name, span) for span in ss.spans]
                elif self.path == "/v1/metrics":
                    request = ExportMetricsServiceRequest.FromString(body)
                    for rm in request.resource_metrics:
                        for sm in rm.scope_metrics:
                            received.metrics += list(sm.metrics)
                elif self.path == "/v1/logs":
                    request = ExportLogsServiceRequest.FromString(body)
                    received.logs += list(request.resource_logs)
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _run(
    tmp_path: Path, endpoint: str, command: list[str], **env: str
) -> subprocess.CompletedProcess[str]:
    app = tmp_path / "app.py"
    app.write_text(APP)
    child_env = {
        k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYTEST", "COV_"))
    }
    child_env.update(
        {
            "PATH": f"{BIN}{os.pathsep}{child_env.get('PATH', '')}",
            "OTEL_SERVICE_NAME": "startup-test",
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            # litellm's own import takes ~14 s; its instrumentor is tested elsewhere
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "litellm",
            **env,
        }
    )
    done = subprocess.run(
        [*command, sys.executable, str(app)],
        env=child_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _chat_span(received: Received) -> Any:
    spans = [span for scope, span in received.spans if scope == "otel_llm"]
    assert [s.name for s in spans] == ["chat gpt-4o-mini"]
    return spans[0]


def test_opentelemetry_instrument_exports_generation_over_otlp(
    tmp_path: Path, receiver: tuple[str, Received]
) -> None:
    """opentelemetry-instrument python app.py: spans and metrics arrive with our resource.

    Nothing selects otel-llm here: with otel-llm installed (and no other distro), the
    launcher finds its distro, configurator and instrumentors through the entry points.
    """
    endpoint, received = receiver
    done = _run(tmp_path, endpoint, [str(LAUNCHER)])
    assert "REPLY This is a test." in done.stdout
    assert "WRAPPED True" in done.stdout
    span = _chat_span(received)
    attributes = _attributes(span.attributes)
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert attributes["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert attributes["gen_ai.usage.input_tokens"] == 12
    assert attributes["gen_ai.usage.output_tokens"] == 5
    assert span.kind == 3  # SPAN_KIND_CLIENT
    (resource,) = {tuple(sorted(r.items())) for r in received.resources}
    resource_attributes = dict(resource)
    assert resource_attributes["service.name"] == "startup-test"
    assert resource_attributes["telemetry.distro.name"] == "otel-llm"
    names = {metric.name for metric in received.metrics}
    assert {"gen_ai.client.operation.duration", "gen_ai.client.token.usage"} <= names
    (usage,) = [m for m in received.metrics if m.name == "gen_ai.client.token.usage"]
    totals = {
        _attributes(p.attributes)["gen_ai.token.type"]: p.sum for p in usage.histogram.data_points
    }
    assert totals == {"input": 12, "output": 5}


def test_disabled_instrumentations_are_honoured(
    tmp_path: Path, receiver: tuple[str, Received]
) -> None:
    """OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=openai: the app runs unwrapped, no chat span."""
    endpoint, received = receiver
    done = _run(
        tmp_path,
        endpoint,
        [str(LAUNCHER)],
        OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="openai,litellm",
        OTEL_PYTHON_DISTRO="otel_llm",
        OTEL_PYTHON_CONFIGURATOR="otel_llm",
    )
    assert "REPLY This is a test." in done.stdout
    assert "WRAPPED False" in done.stdout
    assert [s for scope, s in received.spans if scope == "otel_llm"] == []


def test_otel_llm_instrument_variable_excludes_ours(
    tmp_path: Path, receiver: tuple[str, Received]
) -> None:
    """OTEL_LLM_INSTRUMENT=tiktoken: the distro skips our openai instrumentor."""
    endpoint, _received = receiver
    done = _run(tmp_path, endpoint, [str(LAUNCHER)], OTEL_LLM_INSTRUMENT="tiktoken")
    assert "WRAPPED False" in done.stdout


@pytest.mark.skipif(shutil.which("otel-llm", path=str(BIN)) is None, reason="CLI not installed")
def test_otel_llm_run_exports_generation(tmp_path: Path, receiver: tuple[str, Received]) -> None:
    """otel-llm run -- python app.py: the same startup without knowing the OTel CLI."""
    endpoint, received = receiver
    done = _run(tmp_path, endpoint, [str(BIN / "otel-llm"), "run", "--"])
    assert "REPLY This is a test." in done.stdout
    assert _attributes(_chat_span(received).attributes)["gen_ai.usage.output_tokens"] == 5


def test_distro_defaults_only_fill_unset_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """The distro sets OTLP exporters and the GenAI semconv opt-in, never overriding the user."""
    for name in _distro.DEFAULTS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    _distro.OtelLlmDistro().configure()
    assert os.environ["OTEL_TRACES_EXPORTER"] == "console"
    assert os.environ["OTEL_METRICS_EXPORTER"] == "otlp"
    # `http` joins when a web framework is installed (stable HTTP names; tests/web checks it)
    modes = os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"].split(",")
    assert modes[0] == "gen_ai_latest_experimental" and set(modes[1:]) <= {"http"}


def test_registry_names_every_entry_point() -> None:
    """Each registry entry is an installed opentelemetry_instrumentor entry point."""
    from importlib.metadata import entry_points

    ours = {
        ep.name: ep.value
        for ep in entry_points(group="opentelemetry_instrumentor")
        if ep.value.startswith("otel_llm.")
    }
    assert ours == instrumentation.INSTRUMENTORS
    (distro,) = [ep for ep in entry_points(group="opentelemetry_distro") if ep.name == "otel_llm"]
    assert distro.load() is _distro.OtelLlmDistro
    (conf,) = [
        ep for ep in entry_points(group="opentelemetry_configurator") if ep.name == "otel_llm"
    ]
    assert conf.load() is _distro.OtelLlmConfigurator


def test_registry_instrument_is_idempotent_and_honours_disabled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """instrument() twice gives the same names; disabled or unknown names behave."""
    monkeypatch.setenv("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "anthropic")
    try:
        first = instrumentation.instrument(["openai", "anthropic"])
        assert first == ["openai"]
        assert instrumentation.instrument(["openai", "anthropic"]) == ["openai"]
        with pytest.raises(ValueError, match="supported"):
            instrumentation.instrument(["cohere"])
        monkeypatch.setenv("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "*")
        assert instrumentation.instrument(["openai"]) == []  # disabled ones are not added
    finally:
        instrumentation.uninstrument(["openai", "anthropic"])
    from otel_llm.instrumentation.openai import OpenAIInstrumentor

    assert not OpenAIInstrumentor().is_instrumented_by_opentelemetry


class ForeignInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Stands in for another package's instrumentor (e.g. opentelemetry-instrumentation-*)."""

    calls: list[str] = []  # noqa: RUF012

    def instrumentation_dependencies(self) -> list[str]:
        return []

    def _instrument(self, **kwargs: Any) -> None:
        type(self).calls.append("instrument")

    def _uninstrument(self, **kwargs: Any) -> None:
        type(self).calls.append("uninstrument")


def _foreign(name: str) -> EntryPoint:
    return EntryPoint(
        name=name,
        value="tests.instrumentation.test_startup:ForeignInstrumentor",
        group="opentelemetry_instrumentor",
    )


def test_distro_skips_a_second_instrumentor_for_a_covered_library(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another package's 'openai' instrumentor is skipped (one span per call, not two)."""
    monkeypatch.delenv("OTEL_LLM_INSTRUMENT", raising=False)
    ForeignInstrumentor.calls.clear()
    _distro.OtelLlmDistro().load_instrumentor(_foreign("openai"), skip_dep_check=True)
    assert ForeignInstrumentor.calls == []


def test_distro_loads_other_instrumentors_and_excluded_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Libraries otel-llm does not cover, or that OTEL_LLM_INSTRUMENT excludes, load normally."""
    ForeignInstrumentor.calls.clear()
    distro = _distro.OtelLlmDistro()
    try:
        distro.load_instrumentor(_foreign("requests"), skip_dep_check=True)
        assert ForeignInstrumentor.calls == ["instrument"]
        ForeignInstrumentor().uninstrument()
        monkeypatch.setenv("OTEL_LLM_INSTRUMENT", "tiktoken")
        distro.load_instrumentor(_foreign("openai"), skip_dep_check=True)
        assert ForeignInstrumentor.calls == ["instrument", "uninstrument", "instrument"]
    finally:
        ForeignInstrumentor().uninstrument()
