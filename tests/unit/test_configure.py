"""configure(): exporters, resource, sampler, idempotence, adoption, disabled mode, bad input.

OpenTelemetry globals can be set once per process, so each scenario runs in a subprocess.
"""

from __future__ import annotations

import json
import logging
import time

import pytest

from otel_llm._settings import resolve
from tests.helpers import otlp_http_receiver, run_python, script

WORKLOAD = """
import otel_llm
with otel_llm.route("r", candidates=["a", "b"]) as r:
    with otel_llm.generation(model="a", provider="openai") as g:
        g.set_response(input_tokens=5, output_tokens=2, finish_reasons=["stop"])
    r.select("a")
"""


def test_otlp_http_exports_traces_metrics_and_logs() -> None:
    """OTLP/HTTP sends spans, metrics and logs with headers and the resource to a receiver."""
    with otlp_http_receiver() as (endpoint, received):
        proc = run_python(
            script(
                """
            import logging, otel_llm
            tel = otel_llm.configure(service_name="svc", service_version="1.2.3",
                                     environment="test", otlp_protocol="http/protobuf",
                                     otlp_endpoint=ENDPOINT, otlp_headers={"x-api-key": "k1"})
            """.replace("ENDPOINT", repr(endpoint)),
                WORKLOAD,
                """
            from opentelemetry._logs import get_logger
            from opentelemetry._logs import LogRecord
            get_logger("t").emit(LogRecord(body="hello log"))
            tel.shutdown()
            """,
            )
        )
        assert proc.returncode == 0, proc.stderr
    assert sorted(received.span_names()) == ["chat a", "route r"]
    assert {"gen_ai.client.operation.duration", "gen_ai.client.token.usage"} <= (
        received.metric_names()
    )
    assert "hello log" in received.log_bodies()
    assert all(h.get("x-api-key") == "k1" for h in received.headers)
    resource = {
        kv.key: kv.value.string_value
        for kv in received.traces[0].resource_spans[0].resource.attributes
    }
    assert resource["service.name"] == "svc"
    assert resource["service.version"] == "1.2.3"
    assert resource["deployment.environment.name"] == "test"
    assert resource["telemetry.distro.name"] == "otel-llm"


def test_otlp_grpc_exports_traces() -> None:
    """The default OTLP/gRPC exporter delivers spans to a real gRPC receiver."""
    from concurrent import futures

    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

    names: list[str] = []

    class Service(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request, context):  # type: ignore[no-untyped-def]
            names.extend(
                s.name for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans
            )
            return trace_service_pb2.ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Service(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        proc = run_python(
            "import otel_llm\n"
            "tel = otel_llm.configure(metrics_exporter='none', logs_exporter='none')\n"
            + WORKLOAD
            + "tel.shutdown()\n",
            env={"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}"},
        )
    finally:
        server.stop(None)
    assert proc.returncode == 0, proc.stderr
    assert sorted(names) == ["chat a", "route r"]


def test_console_exporter_prints_tree_to_stderr() -> None:
    """The console exporter prints the finished trace as an indented tree on stderr."""
    proc = run_python(
        "import otel_llm\ntel = otel_llm.configure(traces_exporter='console', "
        "metrics_exporter='none', logs_exporter='none', logging=False)\n"
        + WORKLOAD
        + "tel.shutdown()\n"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    route_line = next(i for i, line in enumerate(lines) if "route r" in line)
    chat_line = next(i for i, line in enumerate(lines) if "chat a" in line)
    assert chat_line > route_line
    indent = len(lines[chat_line]) - len(lines[chat_line].lstrip(" │├└─|`-"))
    assert indent > 0, lines


def test_prometheus_endpoint_serves_metrics() -> None:
    """The prometheus exporter answers HTTP GET with the recorded metrics."""
    proc = run_python(
        "import urllib.request, otel_llm\n"
        "tel = otel_llm.configure(traces_exporter='none', logs_exporter='none', "
        "metrics_exporter='prometheus', prometheus_port=0)\n"
        + WORKLOAD
        + "print(urllib.request.urlopen(tel.prometheus_url, timeout=10).read().decode())\n"
    )
    assert proc.returncode == 0, proc.stderr
    assert "gen_ai_client_operation_duration_seconds_count" in proc.stdout
    assert 'gen_ai_token_type="output"' in proc.stdout


def test_idempotent_and_warns_on_different_arguments() -> None:
    """A second configure() returns the same handle and warns if its arguments differ."""
    proc = run_python(
        """
        import otel_llm
        a = otel_llm.configure(service_name="x", traces_exporter="none", log_format="json")
        b = otel_llm.configure(service_name="x", traces_exporter="none", log_format="json")
        c = otel_llm.configure(service_name="y")
        print(a is b, b is c)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert "True True" in proc.stdout.splitlines()
    assert (proc.stdout + proc.stderr).count("already called") == 1


def test_existing_providers_are_adopted_not_replaced() -> None:
    """Providers the application installed first are used, never replaced."""
    proc = run_python(
        """
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        mine = TracerProvider(); exporter = InMemorySpanExporter()
        mine.add_span_processor(SimpleSpanProcessor(exporter)); trace.set_tracer_provider(mine)
        import otel_llm
        tel = otel_llm.configure(metrics_exporter="none", logs_exporter="none")
        with otel_llm.generation(model="m", provider="p"):
            pass
        print(tel.tracer_provider is mine, [s.name for s in exporter.get_finished_spans()])
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "True ['chat m']"


def test_sdk_disabled_is_a_noop() -> None:
    """OTEL_SDK_DISABLED=true: a no-op handle, every API works and records nothing."""
    proc = run_python(
        """
        import otel_llm
        tel = otel_llm.configure()
        with otel_llm.stream(model="m", provider="p") as s:
            s.chunk("a")
        with otel_llm.route("r") as r:
            r.select("m")
        it = otel_llm.stream(model="m", provider="p").wrap([1, 2])
        print(tel.enabled, type(s).__name__, list(it), otel_llm.current_trace_id())
        """,
        env={"OTEL_SDK_DISABLED": "true"},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False _Noop [1, 2] None"


def test_unreachable_endpoint_never_blocks_the_app() -> None:
    """With the OTLP endpoint down, instrumented calls return at once and nothing raises."""
    proc = run_python(
        """
        import time, otel_llm
        otel_llm.configure(otlp_endpoint="http://127.0.0.1:9", otlp_protocol="http/protobuf",
                           logging=False)
        start = time.perf_counter()
        for _ in range(200):
            with otel_llm.generation(model="m", provider="p") as g:
                g.set_response(input_tokens=1, output_tokens=1)
        print(round(time.perf_counter() - start, 3))
        """,
        env={"OTEL_EXPORTER_OTLP_TIMEOUT": "1", "OTEL_BSP_SCHEDULE_DELAY": "10"},
    )
    assert proc.returncode == 0, proc.stderr
    assert float(proc.stdout.strip()) < 5, "export must not run on the caller's thread"


def test_batch_queue_settings_come_from_the_standard_variables() -> None:
    """OTEL_BSP_* / OTEL_BLRP_* size configure()'s own batch processors (the SDK defaults,
    2048 and 5 s, when unset); only the console tree keeps its short delay."""
    show = """
        from opentelemetry import _logs, trace
        import otel_llm
        otel_llm.configure(otlp_endpoint="http://127.0.0.1:9", otlp_protocol="http/protobuf",
                           logging=False, traces_exporter=["otlp", "console"],
                           logs_exporter="otlp", metrics_exporter="none")
        spans = trace.get_tracer_provider()._active_span_processor._span_processors
        logs = _logs.get_logger_provider()._multi_log_record_processor._log_record_processors
        for p in (*spans, *logs):
            b = getattr(p, "_batch_processor", None)
            if b is not None:
                print(b._max_queue_size, int(b._schedule_delay_millis))
        """
    tuned = run_python(
        show,
        env={
            "OTEL_BSP_MAX_QUEUE_SIZE": "100000",
            "OTEL_BSP_SCHEDULE_DELAY": "1000",
            "OTEL_BLRP_MAX_QUEUE_SIZE": "50000",
        },
    )
    assert tuned.returncode == 0, tuned.stderr
    assert tuned.stdout.split("\n")[:3] == ["100000 1000", "100000 200", "50000 1000"]
    default = run_python(show)
    assert default.returncode == 0, default.stderr
    assert default.stdout.split("\n")[:3] == ["2048 5000", "2048 200", "2048 1000"]


@pytest.mark.parametrize(
    ("variable", "value", "allowed"),
    [
        ("OTEL_TRACES_SAMPLER_ARG", "abc", "a number from 0 to 1"),
        ("OTEL_TRACES_EXPORTER", "zipkinx", "otlp, console, none"),
        ("OTEL_TRACES_SAMPLER", "sometimes", "parentbased_traceidratio"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", "grpc|http/protobuf"),
        ("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "ALL", "SPAN_AND_EVENT"),
        ("OTEL_SDK_DISABLED", "maybe", "true|false"),
    ],
)
def test_bad_environment_value_warns_once_and_uses_default(
    variable: str, value: str, allowed: str, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """A bad env value logs one warning naming the variable and the allowed values."""
    monkeypatch.setenv(variable, value)
    default = resolve()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="otel_llm"):
        settings = resolve()
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert variable in warnings[0] and allowed in warnings[0]
    assert settings == default


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"traces_exporter": "zipkin"}, "not one of: otlp, console, none"),
        ({"metrics_exporter": ["otlp", "statsd"]}, "prometheus"),
        ({"prometheus_port": 70000}, "between 0 and 65535"),
        ({"sampler": "sometimes"}, "traceidratio"),
        ({"sampler_arg": 1.5}, "between 0 and 1"),
        ({"capture_content": "ALL"}, "SPAN_ONLY"),
        ({"otlp_protocol": "http/json"}, "grpc, http/protobuf"),
    ],
)
def test_bad_argument_raises_value_error(kwargs: dict[str, object], match: str) -> None:
    """A bad configure() argument raises ValueError listing the choices."""
    with pytest.raises(ValueError, match=match):
        resolve(**kwargs)  # type: ignore[arg-type]


def test_arguments_override_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Arguments win over OTEL_* variables, which win over defaults."""
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.25")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20abc,x-team=llm")
    settings = resolve(service_name="from-arg")
    assert settings.service_name == "from-arg"
    assert (settings.sampler, settings.sampler_arg) == ("traceidratio", 0.25)
    assert settings.otlp_headers == {"authorization": "Bearer abc", "x-team": "llm"}
    assert resolve().service_name == "from-env"


def test_doctor_explains_unreachable_endpoint() -> None:
    """`otel-llm doctor` prints the configuration and an actionable OTLP failure."""
    proc = run_python(
        "import sys; from otel_llm.cli import main; sys.exit(main(['doctor']))",
        env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_SERVICE_NAME": "chat"},
    )
    assert proc.returncode == 1
    assert "chat" in proc.stdout
    assert "127.0.0.1:9 is not reachable" in proc.stdout
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in proc.stdout
    as_json = run_python(
        "import sys; from otel_llm.cli import main; sys.exit(main(['doctor', '--json']))",
        env={"OTEL_TRACES_EXPORTER": "console", "OTEL_METRICS_EXPORTER": "none",
             "OTEL_LOGS_EXPORTER": "none"},
    )  # fmt: skip
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["configuration"]["traces exporters"] == ["console"]


def test_configure_returns_quickly() -> None:
    """Sanity: resolving settings is cheap (no network at startup)."""
    start = time.perf_counter()
    resolve()
    assert time.perf_counter() - start < 1


def test_doctor_send_test_delivers_a_correlated_span_and_log() -> None:
    """`doctor --send-test` sends a span and a log with the printed trace id."""
    with otlp_http_receiver() as (endpoint, received):
        proc = run_python(
            "import sys; from otel_llm.cli import main; sys.exit(main(['doctor', '--send-test']))",
            env={
                "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            },
        )
    assert proc.returncode == 0, proc.stderr
    trace_id = proc.stdout.split("trace id ")[1].split()[0]
    assert len(trace_id) == 32
    assert "chat otel-llm-doctor" in received.span_names()
    records = [
        record
        for request in received.logs
        for rl in request.resource_logs
        for sl in rl.scope_logs
        for record in sl.log_records
    ]
    assert any(r.trace_id.hex() == trace_id for r in records)


def test_log_records_from_any_source_are_redacted_on_export() -> None:
    """A LogRecord emitted straight to the provider (not via our handler) is redacted too."""
    with otlp_http_receiver() as (endpoint, received):
        proc = run_python(
            script(
                """
            import otel_llm
            from opentelemetry._logs import get_logger
            tel = otel_llm.configure(otlp_endpoint=ENDPOINT, otlp_protocol="http/protobuf",
                                     logging=False)
            get_logger("raw").emit(body="key sk-proj-AbCdEf0123456789abcdef leaked")
            tel.shutdown()
            """.replace("ENDPOINT", repr(endpoint))
            )
        )
        assert proc.returncode == 0, proc.stderr
    bodies = received.log_bodies()
    assert bodies == ["key [REDACTED] leaked"]
