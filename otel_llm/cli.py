"""The ``otel-llm`` command: ``doctor``, ``demo`` and ``run``."""

from __future__ import annotations

import argparse
import json
import socket
import sys
from collections.abc import Sequence
from urllib.parse import urlparse

from ._settings import Settings, default_otlp_endpoint, resolve

__all__ = ["main"]


def _check_endpoint(settings: Settings, timeout: float = 2.0) -> tuple[bool, str]:
    """Try a TCP connection to the OTLP endpoint; say what to do when it fails."""
    endpoint = settings.otlp_endpoint or default_otlp_endpoint(settings.otlp_protocol)
    parsed = urlparse(endpoint if "://" in endpoint else f"http://{endpoint}")
    host = parsed.hostname or "localhost"
    port = parsed.port or (4318 if settings.otlp_protocol == "http/protobuf" else 4317)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True, f"OTLP endpoint {host}:{port} accepts connections."
    except OSError as exc:
        return False, (
            f"OTLP endpoint {host}:{port} is not reachable ({exc.strerror or exc}). "
            "Start a collector (`docker compose up -d otel-collector`), or point "
            "OTEL_EXPORTER_OTLP_ENDPOINT at one, or use OTEL_TRACES_EXPORTER=console "
            "to print traces locally. The application keeps running either way: "
            "telemetry is dropped after the exporter's retries."
        )


def _doctor(args: argparse.Namespace) -> int:
    settings = resolve()
    report: dict[str, object] = {"configuration": settings.describe()}
    uses_otlp = "otlp" in (
        settings.traces_exporters + settings.metrics_exporters + settings.logs_exporters
    )
    ok = True
    if uses_otlp and not settings.disabled:
        ok, message = _check_endpoint(settings)
        report["otlp check"] = {"ok": ok, "message": message}
    if args.send_test and not settings.disabled:
        report["test telemetry"] = _send_test()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print("otel-llm doctor\n")
        for key, value in settings.describe().items():
            print(f"  {key:<20} {value}")
        if "otlp check" in report:
            check = report["otlp check"]
            assert isinstance(check, dict)
            print(f"\n  [{'ok' if check['ok'] else 'FAIL'}] {check['message']}")
        if "test telemetry" in report:
            sent = report["test telemetry"]
            assert isinstance(sent, dict)
            print(f"\n  sent one span, one log and one metric: trace id {sent['trace_id']}")
            print(f"  Jaeger: {sent['jaeger']}")
            print(f"  Elasticsearch/Kibana: query {sent['logs']}")
    return 0 if ok else 1


def _send_test() -> dict[str, str]:
    """Emit one span, one correlated log and one metric through the configured pipeline."""
    import otel_llm

    telemetry = otel_llm.configure(instrument=False)
    log = otel_llm.get_logger("otel_llm.doctor")
    with otel_llm.generation(model="otel-llm-doctor", provider="otel_llm") as g:
        trace_id = otel_llm.current_trace_id() or ""
        log.info("otel-llm doctor test event")
        g.set_response(input_tokens=1, output_tokens=1, finish_reasons=["stop"])
    telemetry.force_flush(10_000)
    service = telemetry.settings.service_name
    return {
        "trace_id": trace_id,
        "jaeger": f"http://localhost:16686/trace/{trace_id} (service {service})",
        "logs": f'trace_id:"{trace_id}"',
    }


def _demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    return run_demo(
        requests=args.requests,
        concurrency=args.concurrency,
        otlp=args.otlp,
        seed=args.seed,
    )


def _run(args: argparse.Namespace) -> int:
    """Exec the command under ``opentelemetry-instrument`` with otel-llm's distro selected."""
    import os
    import shutil

    command = [c for c in args.command_line if c != "--"] if args.command_line else []
    if not command:
        print("otel-llm run: give a command, e.g. otel-llm run -- python app.py", file=sys.stderr)
        return 2
    launcher = shutil.which("opentelemetry-instrument")
    if launcher is None:
        print("otel-llm run: opentelemetry-instrument is not on PATH; reinstall otel-llm "
              "(it comes with opentelemetry-instrumentation).", file=sys.stderr)  # fmt: skip
        return 2
    env = dict(os.environ)
    # Select ours even when opentelemetry-distro is installed too.
    env.setdefault("OTEL_PYTHON_DISTRO", "otel_llm")
    env.setdefault("OTEL_PYTHON_CONFIGURATOR", "otel_llm")
    if args.service_name:
        env["OTEL_SERVICE_NAME"] = args.service_name
    if args.exporter:
        for signal in ("TRACES", "METRICS", "LOGS"):
            value = args.exporter
            if args.exporter == "prometheus":
                value = "prometheus" if signal == "METRICS" else "none"
            env[f"OTEL_{signal}_EXPORTER"] = value
    if args.endpoint:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = args.endpoint
    os.execvpe(launcher, [launcher, *command], env)
    return 0  # pragma: no cover - exec does not return


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``otel-llm``."""
    parser = argparse.ArgumentParser(
        prog="otel-llm", description="OpenTelemetry instrumentation for LLM applications."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    doctor = sub.add_parser(
        "doctor", help="print the resolved configuration and check the OTLP endpoint"
    )
    doctor.add_argument("--json", action="store_true", help="machine-readable output")
    doctor.add_argument(
        "--send-test",
        action="store_true",
        help="emit one span, one log and one metric and print the trace id to look up",
    )
    doctor.set_defaults(func=_doctor)
    demo = sub.add_parser(
        "demo", help="run an instrumented LLM service against a local simulated model"
    )
    demo.add_argument("--requests", type=_positive, default=6, help="requests to send (default 6)")
    demo.add_argument(
        "--concurrency", type=_positive, default=2, help="concurrent requests (default 2)"
    )
    demo.add_argument(
        "--otlp",
        metavar="URL",
        help="send telemetry to this OTLP endpoint instead (e.g. http://localhost:4318)",
    )
    demo.add_argument("--seed", type=int, default=7, help="random seed of the simulated model")
    demo.set_defaults(func=_demo)
    run = sub.add_parser(
        "run",
        help="run a Python program auto-instrumented: otel-llm run -- python app.py",
        description="Runs COMMAND with OpenTelemetry auto-instrumentation and otel-llm's "
        "configuration (the same as opentelemetry-instrument with the otel-llm distro).",
    )
    run.add_argument("--service-name", help="service.name of the program")
    run.add_argument(
        "--exporter",
        choices=("otlp", "console", "prometheus", "none"),
        help="shortcut for OTEL_{TRACES,METRICS,LOGS}_EXPORTER (prometheus: metrics only)",
    )
    run.add_argument("--endpoint", help="OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT)")
    run.add_argument("command_line", nargs=argparse.REMAINDER, metavar="-- COMMAND ...")
    run.set_defaults(func=_run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``otel-llm`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
