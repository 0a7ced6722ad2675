"""Trace-correlated structured logs: structlog in front, one stdlib handler behind.

Every event, from ``otel_llm.get_logger`` or from any stdlib logger, takes ONE path:

    structlog: sample ─► shared chain ─┐
                                       ├─► stdlib logging ─► _Handler
    stdlib record ─────────────────────┘     ├─ sample (stdlib records; per trace, rate cap)
                                             ├─ ProcessorFormatter: the shared chain for
                                             │  stdlib records (contextvars, level, time,
                                             │  trace ids, service.name, exception,
                                             │  redaction), then JSON or console ─► stream
                                             └─ the same event dict ─► OTel LogRecord

structlog events run the shared chain inside structlog and reach the handler already
processed (structlog's ``ProcessorFormatter`` pattern); stdlib records run it as the
formatter's ``foreign_pre_chain``. So both get the same fields, and each event is rendered
once and exported once, as a LogRecord emitted in the current context (its trace and span
ids are the active span's). Nothing in the path raises into the code that logged.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Literal, TextIO, cast

import structlog
from opentelemetry import _logs, trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.trace import SpanContext
from opentelemetry.util.types import AttributeValue
from structlog.typing import EventDict, Processor

from . import semconv
from ._attributes import current_attributes
from ._fingerprint import fingerprint
from ._fork import fork_safe_lock
from ._redact import REDACTED, Redactor

__all__ = ["LogFormat", "get_logger", "log_event", "setup_logging", "teardown_logging"]

LogFormat = Literal["json", "console"]

_SEVERITY: Mapping[int, tuple[SeverityNumber, str]] = {
    logging.DEBUG: (SeverityNumber.DEBUG, "DEBUG"),
    logging.INFO: (SeverityNumber.INFO, "INFO"),
    logging.WARNING: (SeverityNumber.WARN, "WARN"),
    logging.ERROR: (SeverityNumber.ERROR, "ERROR"),
    logging.CRITICAL: (SeverityNumber.FATAL, "FATAL"),
}
# Records of the OpenTelemetry SDK itself are rendered but never exported: exporting an
# exporter's own failure report would loop.
_NOT_EXPORTED = ("opentelemetry",)
# Event keys that are rendered but are carried elsewhere in a LogRecord (body, severity,
# timestamp, context, resource, instrumentation scope), so they are not attributes.
_NOT_ATTRIBUTES = frozenset(
    {"event", "level", "timestamp", "logger", "trace_id", "span_id", "trace_flags",
     "service.name", "exception"}
)  # fmt: skip
# Private keys: kept in the event dict for the export, removed before rendering.
_EXC = "_otel_llm_exception"

_lock = fork_safe_lock()
_installed: _Handler | None = None
# Before the first setup: root level, and structlog's configuration if the app made one.
_saved: tuple[int, dict[str, Any] | None] | None = None
_local = threading.local()


# -- processors ---------------------------------------------------------------------------


def _add_trace_context(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """Add the active span's ids (lower-case hex) and the request attributes."""
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        event["trace_id"] = format(span_context.trace_id, "032x")
        event["span_id"] = format(span_context.span_id, "016x")
        event["trace_flags"] = format(int(span_context.trace_flags), "02x")
    for key, value in current_attributes().items():
        event.setdefault(key, value)
    return event


def _exc_info(value: Any) -> tuple[type[BaseException], BaseException, TracebackType | None] | None:
    if isinstance(value, BaseException):
        return type(value), value, value.__traceback__
    if isinstance(value, tuple) and len(value) == 3 and isinstance(value[1], BaseException):
        return cast("tuple[type[BaseException], BaseException, TracebackType | None]", value)
    if value:
        current = sys.exc_info()
        if current[1] is not None:
            return cast("tuple[type[BaseException], BaseException, TracebackType | None]", current)
    return None


def _exception(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """Turn ``exc_info`` into text, so it can be redacted before anything renders it.

    ``exception`` holds the traceback (both renderers print it); the private key keeps
    type and message for the LogRecord's ``exception.*`` attributes. The console renderer
    never sees the live exception, so no pretty printer can show unredacted locals.
    """
    info = _exc_info(event.pop("exc_info", None))
    if info is not None:
        exc_type, exc, tb = info
        event["exception"] = "".join(traceback.format_exception(exc_type, exc, tb)).rstrip()
        event[_EXC] = (exc_type.__qualname__, str(exc))
        # The same grouping key as the span's exception event (never a metric attribute).
        event[semconv.ERROR_FINGERPRINT] = fingerprint(
            exc_type.__qualname__, str(event.get("logger") or "log"), str(exc)
        )
    stack = event.pop("stack_info", None)
    if isinstance(stack, str):  # a stdlib record's stack_info=True
        event["stack"] = stack
    return event


# Fields the chain itself fills from trusted sources (clock, level, logger name, span
# context, configuration): nothing to redact there.
_OWN_FIELDS = frozenset(
    {"timestamp", "level", "logger", "trace_id", "span_id", "trace_flags", "service.name"}
)


class _Redact:
    """Redact every field value (by content, and whole values of secret-named fields)."""

    __slots__ = ("redactor",)

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor

    def __call__(self, _: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
        value = self.redactor.value
        return {
            key: item if key in _OWN_FIELDS else value(item, key) for key, item in event.items()
        }


_SAFE_KEYS = ("timestamp", "level", "logger", "trace_id", "span_id", "trace_flags", "service.name")


class _Guarded:
    """Run processors so that none of them can raise into the code that logged.

    structlog runs its processors in the caller's frame; stdlib logging reports its own
    errors instead of raising. A failing processor is counted as an instrumentation error
    and skipped, except redaction: if it fails, only the fields that cannot hold a secret
    are kept.
    """

    __slots__ = ("_processors",)

    def __init__(self, processors: list[Any]) -> None:
        self._processors = processors

    def __call__(self, logger: Any, name: str, event: EventDict) -> EventDict:
        for processor in self._processors:
            try:
                event = processor(logger, name, event)
            except structlog.DropEvent:
                raise
            except Exception as exc:
                from ._runtime import report_error

                report_error("logging", exc)
                if isinstance(processor, _Redact):
                    event = {key: event[key] for key in _SAFE_KEYS if key in event}
                    event["event"] = REDACTED
                    event["otel_llm.redaction_failed"] = True
        return event


_RECORD_IDS = ("otelTraceID", "otelSpanID", "otelTraceSampled", "otelServiceName")


class _RecordFactory:
    """Put the trace context on every stdlib ``LogRecord`` as attributes.

    For applications that keep their own handlers: a format string can show
    ``%(otelTraceID)s`` and ``%(otelSpanID)s`` (the names opentelemetry-instrumentation-logging
    uses, ``"0"`` outside a span). otel-llm's own rendering takes the ids from the context.
    """

    __slots__ = ("previous", "service_name")

    def __init__(self, previous: Callable[..., logging.LogRecord], service_name: str) -> None:
        self.previous = previous
        self.service_name = service_name

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.previous(*args, **kwargs)
        try:
            span_context = trace.get_current_span().get_span_context()
            valid = span_context.is_valid
            record.otelTraceID = format(span_context.trace_id, "032x") if valid else "0"
            record.otelSpanID = format(span_context.span_id, "016x") if valid else "0"
            record.otelTraceSampled = valid and span_context.trace_flags.sampled
            record.otelServiceName = self.service_name
        except Exception:  # a record without ids is better than no record
            pass
        return record


def _drop_record_ids(_: Any, __: str, event: EventDict) -> EventDict:
    """ExtraAdder copies the factory's attributes; the event has its own ids already."""
    for key in _RECORD_IDS:
        event.pop(key, None)
    return event


def _drop_private(_: Any, __: str, event: EventDict) -> EventDict:
    return {key: value for key, value in event.items() if not key.startswith("_")}


def _capture(_: Any, __: str, event: EventDict) -> EventDict:
    """Keep the finished event dict for the LogRecord (the formatter only returns text)."""
    _local.event = event
    return _drop_private(_, __, event)


def _no_output(_: Any, __: str, event: EventDict) -> str:
    return ""


# -- sampling -----------------------------------------------------------------------------


class _Sampler:
    """WARNING and above always kept; below, a per-trace ratio and a per-second cap.

    The ratio compares the low 64 bits of the trace id with a bound, as the SDK's
    ``TraceIdRatioBased`` sampler does: every event of a trace gets the same decision, and
    with the same ratio the logs kept are those of the traces kept. Events outside a span
    keep every (1/ratio)-th one, deterministically.
    """

    def __init__(
        self, ratio: float, rate_limit: float | None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not 0.0 <= ratio <= 1.0:
            raise ValueError(f"sample_ratio={ratio!r} must be between 0 and 1")
        if rate_limit is not None and rate_limit <= 0:
            raise ValueError(f"rate_limit={rate_limit!r} must be positive or None")
        self.ratio = ratio
        self.rate_limit = rate_limit
        self._clock = clock
        self._bound = round(ratio * (1 << 64))
        self._untraced = 0.0
        self._window = 0
        self._count = 0
        self._lock = fork_safe_lock()

    def drop_reason(self, levelno: int, span_context: SpanContext) -> str | None:
        """None to keep the event, else why it is dropped (``sampled`` or ``rate_limited``)."""
        if levelno >= logging.WARNING:
            return None
        if self.ratio < 1.0:
            if span_context.is_valid:
                if span_context.trace_id & 0xFFFFFFFFFFFFFFFF >= self._bound:
                    return "sampled"
            else:
                with self._lock:
                    self._untraced += self.ratio
                    if self._untraced < 1.0:
                        return "sampled"
                    self._untraced -= 1.0
        if self.rate_limit is not None:
            second = int(self._clock())
            with self._lock:
                if second != self._window:
                    self._window, self._count = second, 0
                self._count += 1
                if self._count > self.rate_limit:
                    return "rate_limited"
        return None


class _Sample:
    """The sampler as the first structlog processor: a dropped event costs no processing."""

    __slots__ = ("sampler",)

    def __init__(self, sampler: _Sampler) -> None:
        self.sampler = sampler

    def __call__(self, _: Any, method: str, event: EventDict) -> EventDict:
        levelno = _METHOD_LEVELS.get(method, logging.INFO)
        reason = self.sampler.drop_reason(levelno, trace.get_current_span().get_span_context())
        if reason is not None:
            _count_dropped(reason)
            raise structlog.DropEvent
        return event


_METHOD_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "exception": logging.ERROR,
    "critical": logging.CRITICAL,
    "fatal": logging.CRITICAL,
}


# -- export -------------------------------------------------------------------------------


def _otlp_safe(value: Any) -> AttributeValue:
    """A value OTLP carries as is (scalar, homogeneous list), else a JSON string."""
    if isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)) and value:
        kinds = {type(v) for v in value}
        if len(kinds) == 1 and kinds <= {str, bool, int, float}:
            return list(value)
    try:
        return json.dumps(value, default=str, sort_keys=True)
    except Exception:
        return repr(value)


class _Handler(logging.Handler):
    """Samples, renders and exports each event exactly once."""

    def __init__(
        self,
        *,
        formatter: structlog.stdlib.ProcessorFormatter,
        stream: TextIO | None,
        sampler: _Sampler,
        logger_provider: _logs.LoggerProvider,
        export: bool,
    ) -> None:
        super().__init__()
        self.setFormatter(formatter)
        self.stream = stream
        self.sampler = sampler
        self.export = export
        self._provider = logger_provider

    def emit(self, record: logging.LogRecord) -> None:
        """Handle one record; a failure here is counted, never raised into the caller."""
        if getattr(_local, "busy", False):  # logging from inside our own export: drop it
            return
        _local.busy = True
        try:
            # structlog events were sampled before their processors ran (_Sample)
            if getattr(record, "_logger", None) is None:
                reason = self.sampler.drop_reason(
                    record.levelno, trace.get_current_span().get_span_context()
                )
                if reason is not None:
                    _count_dropped(reason)
                    return
            _local.event = None
            line = self.format(record)
            event: dict[str, Any] | None = _local.event
            if self.stream is not None:
                self.stream.write(line + "\n")
                self.stream.flush()
            if self.export and event is not None and not record.name.startswith(_NOT_EXPORTED):
                self._export(record, event)
        except Exception as exc:
            from ._runtime import report_error

            report_error("logging", exc)
        finally:
            _local.busy = False
            _local.event = None

    def _export(self, record: logging.LogRecord, event: dict[str, Any]) -> None:
        severity, text = _SEVERITY.get(record.levelno, (SeverityNumber.INFO, record.levelname))
        attributes: dict[str, AttributeValue] = {
            key: _otlp_safe(value)
            for key, value in event.items()
            if key not in _NOT_ATTRIBUTES and not key.startswith("_") and value is not None
        }
        attributes["code.file.path"] = record.pathname
        attributes["code.function.name"] = record.funcName
        attributes["code.line.number"] = record.lineno
        exc = event.get(_EXC)
        if exc is not None:
            attributes["exception.type"], attributes["exception.message"] = exc
            attributes["exception.stacktrace"] = str(event.get("exception", ""))
        self._provider.get_logger(record.name).emit(
            timestamp=int(record.created * 1e9),
            severity_number=severity,
            severity_text=text,
            body=str(event.get("event", "")),
            attributes=attributes,
        )


def _count_dropped(reason: str) -> None:
    try:
        from ._runtime import RT

        RT.instruments.logs_dropped.add(1, {semconv.LOGS_DROP_REASON: reason})
    except Exception:  # the counter is best effort; dropping must stay cheap and silent
        pass


# -- setup --------------------------------------------------------------------------------


_FIRST = ("timestamp", "level", "event", "logger")


def _json_line(_: Any, __: str, event: EventDict) -> str:
    """One JSON object per line; timestamp, level, event and logger first, for humans."""
    ordered = {key: event[key] for key in _FIRST if key in event}
    ordered.update(event)
    return json.dumps(ordered, default=str, ensure_ascii=False)


def _renderer(fmt: LogFormat, colors: bool) -> Processor:
    if fmt == "json":
        return _json_line
    return structlog.dev.ConsoleRenderer(colors=colors)


def _level(level: int | str) -> int:
    if isinstance(level, int):
        return level
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}; use DEBUG, INFO, WARNING, ERROR, CRITICAL")
    return numeric


def setup_logging(
    *,
    logger_provider: _logs.LoggerProvider,
    service_name: str,
    fmt: LogFormat | None = None,
    level: int | str = "INFO",
    redactor: Redactor,
    sample_ratio: float = 1.0,
    rate_limit: float | None = None,
    stream: TextIO | None = None,
) -> None:
    """Route structlog and stdlib logging through one correlated, redacted, exported path.

    ``fmt`` None picks ``console`` when the output is a terminal, else ``json``. ``stream``
    is where lines are rendered (default ``sys.stdout``); when it is not given and the
    application already put handlers on the root logger, those keep rendering and otel-llm
    only adds the OpenTelemetry export. Idempotent: a second call replaces the first, and
    :func:`teardown_logging` restores what was there before the first.
    """
    numeric_level = _level(level)
    sampler = _Sampler(sample_ratio, rate_limit)
    out = stream if stream is not None else sys.stdout
    tty = bool(getattr(out, "isatty", lambda: False)())
    chosen: LogFormat = fmt if fmt is not None else ("console" if tty else "json")
    if chosen not in ("json", "console"):
        raise ValueError(f"log format {fmt!r} is not one of: json, console")

    def add_service(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
        event.setdefault("service.name", service_name)
        return event

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_trace_context,
        add_service,
        _exception,
        _Redact(redactor),
    ]
    with _lock:
        global _installed, _saved
        root = logging.getLogger()
        if _saved is None:
            _saved = (root.level, structlog.get_config() if structlog.is_configured() else None)
        else:
            _remove_handler(restore=False)
        others = [h for h in root.handlers if not isinstance(h, _Handler)]
        # An OpenTelemetry logging handler already on the root logger (the SDK's, or
        # opentelemetry-instrumentation-logging's) exports every record: exporting again
        # would duplicate them, so this handler then only renders.
        otel_handlers = [h for h in others if type(h).__module__.startswith("opentelemetry")]
        app_renders = stream is None and len(others) > len(otel_handlers)
        formatter = structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                _Guarded(
                    [
                        structlog.stdlib.add_logger_name,
                        structlog.stdlib.add_log_level,
                        structlog.stdlib.ExtraAdder(),
                        _drop_record_ids,
                        *shared,
                    ]
                )
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                _capture,
                _no_output if app_renders else _renderer(chosen, colors=tty),
            ],
        )
        handler = _Handler(
            formatter=formatter,
            stream=None if app_renders else out,
            sampler=sampler,
            logger_provider=logger_provider,
            export=not otel_handlers,
        )
        handler.setLevel(numeric_level)
        root.addHandler(handler)
        # The root level decides what every handler sees: when the application renders
        # with its own handlers, its level stays (lowering it would change its output).
        if not app_renders and (root.level == logging.NOTSET or root.level > numeric_level):
            root.setLevel(numeric_level)
        _installed = handler
        factory = logging.getLogRecordFactory()
        if isinstance(factory, _RecordFactory):
            factory = factory.previous
        logging.setLogRecordFactory(_RecordFactory(factory, service_name))
        structlog.configure(
            processors=[
                structlog.stdlib.filter_by_level,
                _Sample(sampler),
                _Guarded(
                    [
                        structlog.stdlib.add_logger_name,
                        structlog.stdlib.add_log_level,
                        structlog.stdlib.PositionalArgumentsFormatter(),
                        structlog.processors.StackInfoRenderer(),
                        *shared,
                    ]
                ),
                structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
            ],
            context_class=dict,
            logger_factory=structlog.stdlib.LoggerFactory(),
            wrapper_class=structlog.stdlib.BoundLogger,
            # Loggers made before setup (module level) must pick up this configuration.
            cache_logger_on_first_use=False,
        )


def _remove_handler(*, restore: bool) -> None:
    global _installed, _saved
    root = logging.getLogger()
    if _installed is not None:
        root.removeHandler(_installed)
        _installed = None
    if restore and _saved is not None:
        level, config = _saved
        root.setLevel(level)
        structlog.reset_defaults()
        if config is not None:
            structlog.configure(**config)
        current = logging.getLogRecordFactory()
        if isinstance(current, _RecordFactory):  # someone else's factory on top stays
            logging.setLogRecordFactory(current.previous)
        _saved = None


def teardown_logging() -> None:
    """Undo :func:`setup_logging`: remove the handler, restore the root level and structlog."""
    with _lock:
        _remove_handler(restore=True)


def log_event(level: int, event: str, **fields: Any) -> None:
    """Log a notable engine event (fallback, truncation, aborted stream), correlated.

    Through structlog when otel-llm's logging is set up, else plain stdlib logging, so an
    application that never called ``configure()`` sees nothing new on its stdout.
    """
    try:
        if _installed is not None:
            structlog.stdlib.get_logger("otel_llm").log(level, event, **fields)
        else:
            logging.getLogger("otel_llm").log(level, "%s %s", event, fields)
    except Exception:  # logging must never break the caller
        pass


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    """A structlog logger whose events carry the active trace and span ids.

    Usable at import time, before ``configure()``: it picks up the configuration when it
    logs (until then structlog's defaults print plain lines to stdout).
    """
    return structlog.stdlib.get_logger(name)
