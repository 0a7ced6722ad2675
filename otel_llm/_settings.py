"""Resolve configuration: ``configure()`` arguments, then ``OTEL_*`` variables, then defaults.

A bad environment value logs ONE warning naming the variable and the allowed values and
falls back to the default; a bad argument raises ``ValueError`` listing the choices.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeVar, get_args

from . import semconv
from ._attributes import DEFAULT_METRIC_DIMENSIONS, parse_dimensions

__all__ = [
    "CAPTURE_MODES",
    "CaptureMode",
    "Settings",
    "resolve",
    "sdk_disabled",
]

_log = logging.getLogger("otel_llm")

CaptureMode = Literal["NO_CONTENT", "SPAN_ONLY", "EVENT_ONLY", "SPAN_AND_EVENT"]
CAPTURE_MODES: tuple[str, ...] = get_args(CaptureMode)
Protocol = Literal["grpc", "http/protobuf"]

TRACES_EXPORTERS = ("otlp", "console", "none")
METRICS_EXPORTERS = ("otlp", "console", "prometheus", "none")
LOGS_EXPORTERS = ("otlp", "console", "none")
SAMPLERS = (
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
)
PROTOCOLS: tuple[str, ...] = get_args(Protocol)
LOG_FORMATS = ("json", "console")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")

T = TypeVar("T")


@dataclass(frozen=True)
class Settings:
    """The fully resolved configuration ``configure()`` builds its providers from."""

    service_name: str
    service_version: str | None
    environment: str | None
    disabled: bool
    traces_exporters: tuple[str, ...]
    metrics_exporters: tuple[str, ...]
    logs_exporters: tuple[str, ...]
    otlp_endpoint: str | None
    otlp_protocol: Protocol
    otlp_headers: Mapping[str, str]
    prometheus_host: str
    prometheus_port: int
    sampler: str
    sampler_arg: float
    capture_content: CaptureMode
    metric_cardinality_limit: int
    resource_attributes: Mapping[str, str] = field(default_factory=dict)
    logging: bool = True
    log_format: str | None = None
    log_level: str = "INFO"
    log_sample_ratio: float = 1.0
    log_rate_limit: float | None = None
    redact_patterns: tuple[str, ...] = ()
    redact_fields: tuple[str, ...] = ()
    metric_dimensions: tuple[str, ...] = DEFAULT_METRIC_DIMENSIONS
    baggage: bool = False
    process_metrics: bool = False

    def describe(self) -> dict[str, object]:
        """A JSON-friendly view for ``otel-llm doctor`` (header values hidden)."""
        return {
            "service.name": self.service_name,
            "disabled": self.disabled,
            "traces exporters": list(self.traces_exporters),
            "metrics exporters": list(self.metrics_exporters),
            "logs exporters": list(self.logs_exporters),
            "otlp endpoint": self.otlp_endpoint or default_otlp_endpoint(self.otlp_protocol),
            "otlp protocol": self.otlp_protocol,
            "otlp headers": sorted(self.otlp_headers),
            "prometheus endpoint": f"http://{self.prometheus_host}:{self.prometheus_port}/metrics",
            "sampler": f"{self.sampler}({self.sampler_arg})",
            "content capture": self.capture_content,
            "metric series cap": self.metric_cardinality_limit,
            "metric dimensions": list(self.metric_dimensions),
            "baggage": self.baggage,
            "process metrics": self.process_metrics,
            "logging": f"{self.log_format or 'auto'} at {self.log_level}"
            if self.logging
            else "off",
        }


def default_otlp_endpoint(protocol: str) -> str:
    """The OTLP endpoint the exporters use when none is configured."""
    return "http://localhost:4318" if protocol == "http/protobuf" else "http://localhost:4317"


def _warn(name: str, value: str, allowed: str, default: object) -> None:
    _log.warning("Invalid %s=%r; allowed: %s. Using the default %r.", name, value, allowed, default)


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value.strip() if value is not None and value.strip() else None


def env_bool(name: str, default: bool) -> bool:
    """Read a boolean variable; a bad value warns and yields ``default``."""
    raw = _env(name)
    if raw is None:
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    _warn(name, raw, "true|false", default)
    return default


def env_choice(name: str, allowed: Iterable[str], default: T) -> str | T:
    """Read a variable restricted to ``allowed`` (case-insensitive)."""
    raw = _env(name)
    if raw is None:
        return default
    choices = tuple(allowed)
    for choice in choices:
        if raw.lower() == choice.lower():
            return choice
    _warn(name, raw, "|".join(choices), default)
    return default


def env_number(name: str, default: float, low: float, high: float) -> float:
    """Read a number in ``[low, high]``."""
    raw = _env(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        _warn(name, raw, f"a number from {low:g} to {high:g}", default)
        return default
    return value


def _env_list(name: str, allowed: tuple[str, ...], default: tuple[str, ...]) -> tuple[str, ...]:
    raw = _env(name)
    if raw is None:
        return default
    items = tuple(part.strip().lower() for part in raw.split(",") if part.strip())
    bad = [item for item in items if item not in allowed]
    if bad or not items:
        _warn(name, raw, ", ".join(allowed), ",".join(default))
        return default
    return tuple(i for i in items if i != "none")


def _arg_list(name: str, value: str | Iterable[str], allowed: tuple[str, ...]) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else tuple(value)
    normalised = tuple(item.strip().lower() for item in items)
    for item in normalised:
        if item not in allowed:
            raise ValueError(f"{name}={item!r} is not one of: {', '.join(allowed)}")
    return tuple(i for i in normalised if i != "none")


def parse_headers(raw: str | None) -> dict[str, str]:
    """Parse ``OTEL_EXPORTER_OTLP_HEADERS`` (``k=v,k2=v2``, values URL-encoded)."""
    from urllib.parse import unquote

    headers: dict[str, str] = {}
    for pair in (raw or "").split(","):
        key, sep, value = pair.partition("=")
        if sep and key.strip():
            headers[key.strip().lower()] = unquote(value.strip())
    return headers


def parse_capture_mode(raw: str | None) -> CaptureMode | None:
    """Map a content-capture value (also ``true``/``false``) to a mode; None if invalid."""
    if raw is None:
        return None
    value = raw.strip().upper()
    if value in ("TRUE", "1"):
        return "SPAN_ONLY"
    if value in ("FALSE", "0", ""):
        return "NO_CONTENT"
    for mode in CAPTURE_MODES:
        if value == mode:
            return mode  # type: ignore[return-value]
    return None


def sdk_disabled() -> bool:
    """True when ``OTEL_SDK_DISABLED`` asks for a no-op SDK."""
    return env_bool("OTEL_SDK_DISABLED", False)


def resolve(
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
    logging: bool | None = None,
    log_format: str | None = None,
    log_level: str | None = None,
    log_sample_ratio: float | None = None,
    log_rate_limit: float | None = None,
    redact_patterns: Iterable[str] | None = None,
    redact_fields: Iterable[str] | None = None,
    metric_dimensions: str | Iterable[str] | None = None,
    baggage: bool | None = None,
    process_metrics: bool | None = None,
) -> Settings:
    """Resolve every setting: argument, then environment variable, then default."""
    if log_format is not None and log_format not in LOG_FORMATS:
        raise ValueError(f"log_format={log_format!r} is not one of: {', '.join(LOG_FORMATS)}")
    if log_level is not None and log_level.upper() not in LOG_LEVELS:
        raise ValueError(f"log_level={log_level!r} is not one of: {', '.join(LOG_LEVELS)}")
    if log_sample_ratio is not None and not 0.0 <= log_sample_ratio <= 1.0:
        raise ValueError(f"log_sample_ratio={log_sample_ratio!r} must be between 0 and 1")
    if log_rate_limit is not None and log_rate_limit <= 0:
        raise ValueError(f"log_rate_limit={log_rate_limit!r} must be positive")
    if otlp_protocol is not None and otlp_protocol not in PROTOCOLS:
        raise ValueError(f"otlp_protocol={otlp_protocol!r} is not one of: {', '.join(PROTOCOLS)}")
    if sampler is not None and sampler not in SAMPLERS:
        raise ValueError(f"sampler={sampler!r} is not one of: {', '.join(SAMPLERS)}")
    if sampler_arg is not None and not 0.0 <= sampler_arg <= 1.0:
        raise ValueError(f"sampler_arg={sampler_arg!r} must be between 0 and 1")
    if prometheus_port is not None and not 0 <= prometheus_port <= 65535:
        raise ValueError(f"prometheus_port={prometheus_port!r} must be between 0 and 65535")
    if metric_cardinality_limit is not None and metric_cardinality_limit < 1:
        raise ValueError("metric_cardinality_limit must be a positive integer")
    capture: CaptureMode | None = None
    if capture_content is not None:
        capture = parse_capture_mode(capture_content)
        if capture is None:
            raise ValueError(
                f"capture_content={capture_content!r} is not one of: {', '.join(CAPTURE_MODES)}"
            )
    else:
        raw_capture = _env(semconv.ENV_CAPTURE_CONTENT)
        capture = parse_capture_mode(raw_capture)
        if capture is None:
            if raw_capture is not None:
                _warn(
                    semconv.ENV_CAPTURE_CONTENT, raw_capture, "|".join(CAPTURE_MODES), "NO_CONTENT"
                )
            capture = "NO_CONTENT"

    def exporters(
        arg: str | Iterable[str] | None, kind: str, allowed: tuple[str, ...]
    ) -> tuple[str, ...]:
        if arg is not None:
            return _arg_list(f"{kind}_exporter", arg, allowed)
        return _env_list(f"OTEL_{kind.upper()}_EXPORTER", allowed, ("otlp",))

    port = prometheus_port
    if port is None:
        port = int(env_number(semconv.ENV_LLM_PROMETHEUS_PORT, 9464, 0, 65535))
    limit = metric_cardinality_limit
    if limit is None:
        limit = int(env_number(semconv.ENV_LLM_METRIC_CARDINALITY_LIMIT, 2000, 1, 1_000_000))
    protocol = otlp_protocol or env_choice(
        "OTEL_EXPORTER_OTLP_PROTOCOL", PROTOCOLS, "grpc"
    )  # http/json is not implemented by the Python exporters: it warns and uses grpc
    sampler_name = sampler or str(
        env_choice("OTEL_TRACES_SAMPLER", SAMPLERS, "parentbased_always_on")
    )
    arg = (
        sampler_arg if sampler_arg is not None else env_number("OTEL_TRACES_SAMPLER_ARG", 1.0, 0, 1)
    )
    return Settings(
        service_name=service_name or _env("OTEL_SERVICE_NAME") or _service_from_resource_env(),
        service_version=service_version,
        environment=environment,
        disabled=disabled if disabled is not None else sdk_disabled(),
        traces_exporters=exporters(traces_exporter, "traces", TRACES_EXPORTERS),
        metrics_exporters=exporters(metrics_exporter, "metrics", METRICS_EXPORTERS),
        logs_exporters=exporters(logs_exporter, "logs", LOGS_EXPORTERS),
        otlp_endpoint=otlp_endpoint or _env("OTEL_EXPORTER_OTLP_ENDPOINT"),
        otlp_protocol=protocol,  # type: ignore[arg-type]
        otlp_headers=dict(otlp_headers)
        if otlp_headers is not None
        else parse_headers(_env("OTEL_EXPORTER_OTLP_HEADERS")),
        prometheus_host=prometheus_host or _env(semconv.ENV_LLM_PROMETHEUS_HOST) or "127.0.0.1",
        prometheus_port=port,
        sampler=sampler_name,
        sampler_arg=arg,
        capture_content=capture,
        metric_cardinality_limit=limit,
        resource_attributes=dict(resource_attributes or {}),
        logging=logging if logging is not None else env_bool(semconv.ENV_LLM_LOGGING, True),
        log_format=log_format or env_choice(semconv.ENV_LLM_LOG_FORMAT, LOG_FORMATS, None),
        log_level=(
            log_level or str(env_choice(semconv.ENV_LLM_LOG_LEVEL, LOG_LEVELS, "INFO"))
        ).upper(),
        log_sample_ratio=log_sample_ratio
        if log_sample_ratio is not None
        else env_number(semconv.ENV_LLM_LOG_SAMPLE_RATIO, 1.0, 0, 1),
        log_rate_limit=log_rate_limit
        if log_rate_limit is not None
        else _env_rate(semconv.ENV_LLM_LOG_RATE_LIMIT),
        redact_patterns=tuple(redact_patterns)
        if redact_patterns is not None
        else _env_patterns(semconv.ENV_LLM_REDACT_PATTERNS),
        redact_fields=tuple(redact_fields)
        if redact_fields is not None
        else tuple(
            f.strip() for f in (_env(semconv.ENV_LLM_REDACT_FIELDS) or "").split(",") if f.strip()
        ),
        metric_dimensions=_metric_dimensions(metric_dimensions),
        baggage=baggage if baggage is not None else env_bool(semconv.ENV_LLM_BAGGAGE, False),
        process_metrics=process_metrics
        if process_metrics is not None
        else env_bool(semconv.ENV_LLM_PROCESS_METRICS, False),
    )


def _metric_dimensions(arg: str | Iterable[str] | None) -> tuple[str, ...]:
    """Declared dimensions: a bad argument raises, a bad variable entry warns and is skipped."""
    if arg is not None:
        dimensions, errors = parse_dimensions((arg,) if isinstance(arg, str) else arg)
        if errors:
            raise ValueError(f"metric_dimensions: {'; '.join(errors)}")
        return dimensions
    name = semconv.ENV_LLM_METRIC_DIMENSIONS
    raw = _env(name)
    if raw is None:
        return DEFAULT_METRIC_DIMENSIONS
    if raw.lower() == "none":
        return ()
    dimensions, errors = parse_dimensions(p.strip() for p in raw.split(",") if p.strip())
    if errors:
        _log.warning("Invalid %s: %s. Those entries are ignored.", name, "; ".join(errors))
    return dimensions


def _env_patterns(name: str) -> tuple[str, ...]:
    """Redaction patterns from ``name``; ones that do not compile are skipped with a warning."""
    from ._redact import pattern_error

    raw = _env(name) or ""
    patterns = tuple(p for p in re.split(r"\n|;;", raw) if p)
    errors = [error for error in map(pattern_error, patterns) if error is not None]
    if errors:
        _log.warning("Invalid %s: %s. Those patterns are skipped.", name, "; ".join(errors))
    return tuple(p for p in patterns if pattern_error(p) is None)


def _env_rate(name: str) -> float | None:
    if _env(name) is None:
        return None
    rate = env_number(name, 0.0, 0.0, 1e9)
    return rate or None


def _service_from_resource_env() -> str:
    for pair in (_env("OTEL_RESOURCE_ATTRIBUTES") or "").split(","):
        key, _, value = pair.partition("=")
        if key.strip() == "service.name" and value.strip():
            return value.strip()
    return "unknown_service"
