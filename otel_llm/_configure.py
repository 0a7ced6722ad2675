"""``configure()``: build (or adopt) the tracer, meter and logger providers once per process."""

from __future__ import annotations

import atexit
import logging
import os
import platform
import socket
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry import _logs, metrics, trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    ConsoleLogRecordExporter,
    LogRecordExporter,
)
from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    MeterProvider,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    TraceIdRatioBased,
)

from . import __version__, _attributes, _runtime
from ._attributes import AttributesSpanProcessor
from ._export import REPORT, quiet_sdk_export_logs, watch
from ._fork import (
    fork_safe_lock,
    own_connections,
    own_process_pid,
    reinit_export_lock,
    shutdown_at_worker_exit,
)
from ._logging import setup_logging, teardown_logging
from ._pricing import configure_pricing
from ._process import check_available, start_process_metrics
from ._redact import Redactor, wrap_log_exporter, wrap_span_exporter
from ._settings import Settings, resolve
from .semconv import ENV_LLM_INSTRUMENT

__all__ = ["Telemetry", "configure", "shutdown"]

_log = logging.getLogger("otel_llm")
_INSTRUMENTS = (
    Counter,
    UpDownCounter,
    Histogram,
    ObservableCounter,
    ObservableUpDownCounter,
    ObservableGauge,
)
_lock = fork_safe_lock()
_current: Telemetry | None = None


class Telemetry:
    """Handle on the providers ``configure()`` set up: flush and shut them down."""

    def __init__(
        self,
        settings: Settings,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        logger_provider: LoggerProvider | None = None,
        owned: frozenset[str] = frozenset(),
        prometheus_url: str | None = None,
        arguments: Mapping[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self.logger_provider = logger_provider
        self.prometheus_url = prometheus_url
        self._owned = owned
        self._arguments = dict(arguments or {})
        self._shut_down = False
        self.logging_installed = False

    @property
    def enabled(self) -> bool:
        """False for the no-op handle of a disabled SDK."""
        return not self.settings.disabled

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Export everything buffered so far. True does not prove delivery (OTLP retries)."""
        ok = True
        for provider in (self.tracer_provider, self.meter_provider, self.logger_provider):
            if provider is not None:
                try:
                    ok = bool(provider.force_flush(timeout_millis)) and ok
                except Exception:  # never raise into the app
                    _log.debug("force_flush failed", exc_info=True)
                    ok = False
        return ok

    def shutdown(self) -> None:
        """Flush and stop the providers this handle created (adopted ones are left alone)."""
        global _current
        if self._shut_down:
            return
        self._shut_down = True
        for kind, provider in (
            ("traces", self.tracer_provider),
            ("metrics", self.meter_provider),
            ("logs", self.logger_provider),
        ):
            if provider is not None and kind in self._owned:
                try:
                    provider.shutdown()
                except Exception:
                    _log.debug("shutdown of %s provider failed", kind, exc_info=True)
        if self.logging_installed:
            teardown_logging()
        REPORT.flush()  # drops not yet logged, e.g. of the final export
        with _lock:
            if _current is self:
                _current = None

    def __repr__(self) -> str:
        return f"Telemetry(service={self.settings.service_name!r}, enabled={self.enabled})"


def configure(
    *,
    service_name: str | None = None,
    service_version: str | None = None,
    environment: str | None = None,
    disabled: bool | None = None,
    traces_exporter: str | Iterable[str] | None = None,
    metrics_exporter: str | Iterable[str] | None = None,
    logs_exporter: str | Iterable[str] | None = None,
    otlp_endpoint: str | None = None,
    otlp_protocol: str | None = None,
    otlp_headers: Mapping[str, str] | None = None,
    prometheus_host: str | None = None,
    prometheus_port: int | None = None,
    sampler: str | None = None,
    sampler_arg: float | None = None,
    capture_content: str | None = None,
    metric_cardinality_limit: int | None = None,
    resource_attributes: Mapping[str, str] | None = None,
    instrument: bool | Iterable[str] | None = None,
    logging: bool | None = None,
    log_format: str | None = None,
    log_level: str | None = None,
    log_sample_ratio: float | None = None,
    log_rate_limit: float | None = None,
    redact_patterns: Iterable[str] | None = None,
    redact_fields: Iterable[str] | None = None,
    pricing: str | Mapping[str, Any] | None = None,
    metric_dimensions: str | Iterable[str] | None = None,
    baggage: bool | None = None,
    process_metrics: bool | None = None,
) -> Telemetry:
    """Set up OpenTelemetry for an LLM application and return its :class:`Telemetry` handle.

    Every argument is optional; arguments override ``OTEL_*`` environment variables, which
    override defaults (see ``docs/configuration.md``). Calling it again returns the same
    handle (with a warning if the arguments differ). Providers the application installed
    before are adopted, never replaced. With ``OTEL_SDK_DISABLED=true`` it returns a no-op
    handle and every otel-llm API becomes a near-free no-op.

    ``instrument`` picks the libraries to auto-instrument: ``True`` (default: every
    supported library that is installed, or ``OTEL_LLM_INSTRUMENT``), ``False``, or names
    such as ``["openai", "tiktoken"]``. ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` wins.
    ``logging`` and the ``log_*``/``redact_*`` arguments set up trace-correlated structlog
    and stdlib logging (see ``docs/logging.md``); ``pricing`` extends or overrides the
    packaged price table (a file path or a mapping; see ``docs/cost-and-budgets.md``).
    ``metric_dimensions`` names the ``attributes()`` keys added to the cost, token and
    duration metrics (default ``["feature"]``; ids are refused); ``baggage=True`` also puts
    the ``attributes()`` values into W3C baggage (see ``docs/production.md``).
    ``process_metrics=True`` records this process's CPU, memory and thread metrics (needs
    the ``process`` extra; ``ImportError`` without it).
    """
    global _current
    arguments = {k: v for k, v in locals().items() if v is not None}
    settings = resolve(**{k: v for k, v in arguments.items() if k not in ("instrument", "pricing")})
    configure_pricing(pricing)  # a bad table fails here, at startup, naming file and line
    process = settings.process_metrics and check_available(explicit=process_metrics is not None)
    with _lock:
        if _current is not None:
            if arguments != _current._arguments:
                _log.warning(
                    "otel_llm.configure() was already called; the new arguments are ignored "
                    "and the existing configuration is kept."
                )
            return _current
        _attributes.configure(dimensions=settings.metric_dimensions, baggage=settings.baggage)
        if settings.disabled:
            _runtime.configure(enabled=False, capture=settings.capture_content)
            _current = Telemetry(settings, arguments=arguments)
            return _current
        redactor = Redactor(settings.redact_patterns, settings.redact_fields)
        current = _current = _build(settings, arguments, redactor)
        _runtime.configure(enabled=True, capture=settings.capture_content)
        if process and current.meter_provider is not None:
            start_process_metrics(current.meter_provider)
        atexit.register(current.shutdown)
        shutdown_at_worker_exit(current)
        if settings.logging and current.logger_provider is not None:
            setup_logging(
                logger_provider=current.logger_provider,
                service_name=settings.service_name,
                fmt=settings.log_format,  # type: ignore[arg-type]
                level=settings.log_level,
                redactor=redactor,
                sample_ratio=settings.log_sample_ratio,
                rate_limit=settings.log_rate_limit,
            )
            current.logging_installed = True
    _auto_instrument(instrument)
    return current


def _auto_instrument(choice: bool | Iterable[str] | None) -> None:
    from . import instrumentation

    if choice is None:
        raw = os.environ.get(ENV_LLM_INSTRUMENT, "all").strip().lower()
        choice = raw not in ("none", "false", "0") and (
            True if raw in ("all", "true", "1", "") else [n.strip() for n in raw.split(",")]
        )
    if choice is False:
        return
    libraries = None if choice is True else [str(name) for name in choice]
    if libraries is not None:
        unknown = sorted(set(libraries) - set(instrumentation.INSTRUMENTORS))
        if unknown:
            supported = ", ".join(instrumentation.INSTRUMENTORS)
            raise ValueError(f"cannot instrument {unknown}; supported: {supported}")
    instrumentation.instrument(libraries)


def shutdown() -> None:
    """Flush and shut down what ``configure()`` set up; safe to call more than once."""
    with _lock:
        handle = _current
    if handle is not None:
        handle.shutdown()


def _resource(settings: Settings) -> Resource:
    attributes: dict[str, Any] = {
        "telemetry.distro.name": "otel-llm",
        "telemetry.distro.version": __version__,
        "host.name": socket.gethostname(),
        "os.type": platform.system().lower(),
        "process.pid": os.getpid(),
        "process.runtime.name": platform.python_implementation().lower(),
        "process.runtime.version": platform.python_version(),
    }
    # Resource.create merges OTEL_RESOURCE_ATTRIBUTES / OTEL_SERVICE_NAME underneath these.
    explicit: dict[str, Any] = dict(settings.resource_attributes)
    explicit["service.name"] = settings.service_name
    if settings.service_version:
        explicit["service.version"] = settings.service_version
    if settings.environment:
        explicit["deployment.environment.name"] = settings.environment
    return Resource(attributes).merge(Resource.create(explicit))


def _sampler(settings: Settings) -> Sampler:
    ratio = TraceIdRatioBased(settings.sampler_arg)
    return {
        "always_on": ALWAYS_ON,
        "always_off": ALWAYS_OFF,
        "traceidratio": ratio,
        "parentbased_always_on": ParentBased(ALWAYS_ON),
        "parentbased_always_off": ParentBased(ALWAYS_OFF),
        "parentbased_traceidratio": ParentBased(ratio),
    }[settings.sampler]


def _otlp_kwargs(settings: Settings, signal: str) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if settings.otlp_headers:
        kwargs["headers"] = dict(settings.otlp_headers)
    if settings.otlp_endpoint:
        endpoint = settings.otlp_endpoint.rstrip("/")
        if settings.otlp_protocol == "http/protobuf":
            endpoint = f"{endpoint}/v1/{signal}"
        kwargs["endpoint"] = endpoint
    return kwargs


def _span_exporters(settings: Settings) -> list[tuple[SpanExporter, int | None]]:
    """The span exporters and their batch delay (None: OTEL_BSP_SCHEDULE_DELAY, default 5 s)."""
    exporters: list[tuple[SpanExporter, int | None]] = []
    for name in settings.traces_exporters:
        if name == "otlp":
            if settings.otlp_protocol == "http/protobuf":
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                    OTLPSpanExporter as HttpSpanExporter,
                )

                http_exporter = HttpSpanExporter(
                    **_otlp_kwargs(settings, "traces"), session=own_connections("traces")
                )
                exporters.append((http_exporter, None))
            else:
                from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                    OTLPSpanExporter as GrpcSpanExporter,
                )

                exporters.append((GrpcSpanExporter(**_otlp_kwargs(settings, "traces")), None))
        elif name == "console":
            from ._console import ConsoleTreeSpanExporter

            exporters.append((ConsoleTreeSpanExporter(), 200))
    return exporters


def _metric_readers(settings: Settings) -> tuple[list[MetricReader], str | None]:
    # A cap per instrument: past it, new attribute sets land in the one overflow series
    # (otel.metric.overflow=true) the OTel spec describes, so memory stays bounded.
    limits: dict[type, int] = {kind: settings.metric_cardinality_limit for kind in _INSTRUMENTS}
    readers: list[MetricReader] = []
    prometheus_url = None
    for name in settings.metrics_exporters:
        if name == "otlp":
            if settings.otlp_protocol == "http/protobuf":
                from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
                    OTLPMetricExporter as HttpMetricExporter,
                )

                exporter: Any = HttpMetricExporter(
                    **_otlp_kwargs(settings, "metrics"), session=own_connections("metrics")
                )
            else:
                from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
                    OTLPMetricExporter as GrpcMetricExporter,
                )

                exporter = GrpcMetricExporter(**_otlp_kwargs(settings, "metrics"))
            readers.append(PeriodicExportingMetricReader(exporter, cardinality_limits=limits))
        elif name == "console":
            from opentelemetry.sdk.metrics.export import ConsoleMetricExporter

            readers.append(
                PeriodicExportingMetricReader(ConsoleMetricExporter(), cardinality_limits=limits)
            )
        elif name == "prometheus":
            from opentelemetry.exporter.prometheus import PrometheusMetricReader
            from prometheus_client import start_http_server

            try:
                server, _thread = start_http_server(
                    settings.prometheus_port, addr=settings.prometheus_host
                )
            except OSError as exc:  # port taken: keep the app running, say why
                _log.warning(
                    "Prometheus endpoint %s:%s could not start (%s); metrics are not served "
                    "there. Set OTEL_LLM_PROMETHEUS_PORT to a free port.",
                    settings.prometheus_host,
                    settings.prometheus_port,
                    exc,
                )
                continue
            port = server.server_address[1]
            prometheus_url = f"http://{settings.prometheus_host}:{port}/metrics"
            readers.append(PrometheusMetricReader(cardinality_limits=limits))
    return readers, prometheus_url


def _log_exporters(settings: Settings) -> list[LogRecordExporter]:
    exporters: list[LogRecordExporter] = []
    for name in settings.logs_exporters:
        if name == "otlp":
            if settings.otlp_protocol == "http/protobuf":
                from opentelemetry.exporter.otlp.proto.http._log_exporter import (
                    OTLPLogExporter as HttpLogExporter,
                )

                exporters.append(
                    HttpLogExporter(
                        **_otlp_kwargs(settings, "logs"), session=own_connections("logs")
                    )
                )
            else:
                from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (
                    OTLPLogExporter as GrpcLogExporter,
                )

                exporters.append(GrpcLogExporter(**_otlp_kwargs(settings, "logs")))
        elif name == "console":
            exporters.append(ConsoleLogRecordExporter())
    return exporters


def _build(settings: Settings, arguments: Mapping[str, Any], redactor: Redactor) -> Telemetry:
    resource = _resource(settings)
    owned: set[str] = set()

    existing_tp = trace.get_tracer_provider()
    if isinstance(existing_tp, TracerProvider):
        tracer_provider = existing_tp
    else:
        tracer_provider = TracerProvider(resource=resource, sampler=_sampler(settings))
        for exporter, delay in _span_exporters(settings):
            # Bounded queue (OTEL_BSP_MAX_QUEUE_SIZE, default 2048), export on the processor's
            # own thread, never on the caller's; secrets are redacted on the way to every
            # exporter.
            tracer_provider.add_span_processor(
                BatchSpanProcessor(
                    wrap_span_exporter(exporter, redactor), schedule_delay_millis=delay
                )
            )
        trace.set_tracer_provider(tracer_provider)
        owned.add("traces")
    tracer_provider.add_span_processor(AttributesSpanProcessor())

    existing_mp = metrics.get_meter_provider()
    prometheus_url = None
    if isinstance(existing_mp, MeterProvider):
        meter_provider = existing_mp
    else:
        readers, prometheus_url = _metric_readers(settings)
        for reader in readers:
            reinit_export_lock(reader)
        meter_provider = MeterProvider(resource=resource, metric_readers=readers)
        metrics.set_meter_provider(meter_provider)
        owned.add("metrics")

    existing_lp = _logs.get_logger_provider()
    if isinstance(existing_lp, LoggerProvider):
        logger_provider = existing_lp
    else:
        logger_provider = LoggerProvider(resource=resource)
        for log_exporter in _log_exporters(settings):
            logger_provider.add_log_record_processor(
                BatchLogRecordProcessor(wrap_log_exporter(log_exporter, redactor))
            )
        _logs.set_logger_provider(logger_provider)
        owned.add("logs")

    # A forked child reports its own pid in the resource of the providers made here.
    own_process_pid(
        *(p for kind, p in (("traces", tracer_provider), ("metrics", meter_provider),
                            ("logs", logger_provider)) if kind in owned)
    )  # fmt: skip
    # Count and summarise lost telemetry (ours and adopted providers' batch processors).
    watch(tracer_provider, meter_provider, logger_provider)
    quiet_sdk_export_logs()
    return Telemetry(
        settings,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        logger_provider=logger_provider,
        owned=frozenset(owned),
        prometheus_url=prometheus_url,
        arguments=arguments,
    )
