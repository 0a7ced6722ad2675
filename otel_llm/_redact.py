"""Redaction: secrets never leave the process, in logs, span attributes or span events.

A :class:`Redactor` replaces secret-shaped text (API keys, bearer tokens, JWTs, passwords
in URLs, ``password=...`` pairs, plus user patterns) and whole values of secret-named
fields with ``[REDACTED]``. Logs are redacted inside the logging pipeline, before they are
rendered or exported. Spans and SDK log records are read-only once finished, so
:func:`wrap_span_exporter` and :func:`wrap_log_exporter` hand redacted copies to the real
exporter on the export path; records without secrets pass through untouched.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opentelemetry._logs import LogRecord
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Link, Status
from opentelemetry.util.types import Attributes

__all__ = [
    "DEFAULT_FIELDS",
    "REDACTED",
    "Redactor",
    "pattern_error",
    "wrap_log_exporter",
    "wrap_span_exporter",
]

REDACTED = "[REDACTED]"
"""What a secret is replaced with."""

_SECRET_KEY = (
    r"(?:password|passwd|pwd|secret|api[_\-]?key|apikey|access[_\-]?key|private[_\-]?key"
    r"|session[_\-]?id|token)"
)

# (triggers, pattern, replacement), applied in order. A rule runs only on text whose lower-case
# form contains one of its triggers: substring tests are far cheaper than regex scans, and
# most strings (prompts, model names, ids) trigger nothing. Replacements keep the non-secret
# prefix (header name, auth scheme, the URL's user) so a redacted line still says what it was.
_BUILTIN: tuple[tuple[tuple[str, ...], str, str], ...] = (
    # PEM private keys
    (
        ("private key-----",),
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----",
        REDACTED,
    ),
    # Authorization / Proxy-Authorization header values, with or without a scheme
    (
        ("authorization",),
        r"(?i)\b((?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?(?:[a-z]+\s+)?)"
        r"(?![a-z]+\s+\[REDACTED\])[^\s\"',;\[]+",
        r"\1" + REDACTED,
    ),
    # Bearer/Basic credentials anywhere else. A credential has a digit or symbol, or a
    # capital after its first letter, so prose ("bearer bonds", "Basic Authentication")
    # stays readable.
    (
        ("bearer", "basic"),
        r"\b([Bb]earer|BEARER|[Bb]asic|BASIC)(\s+)"
        r"(?=[A-Za-z0-9._~+/=\-]*[0-9._~+/=\-]|[A-Za-z0-9._~+/=\-]+[A-Z])"
        r"[A-Za-z0-9._~+/=\-]{8,}",
        r"\1\2" + REDACTED,
    ),
    # JSON Web Tokens (header.payload.signature, base64url)
    (("eyj",), r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}", REDACTED),
    # OpenAI (sk-, sk-proj-, sk-svcacct-, sk-admin-) and Anthropic (sk-ant-api03-...) keys
    (("sk-",), r"\bsk-(?:ant-|proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{16,}", REDACTED),
    # Stripe-style live/test keys
    (("_live_", "_test_"), r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}", REDACTED),
    # AWS access key ids
    (
        ("akia", "asia", "abia", "acca", "aida", "aroa"),
        r"\b(?:AKIA|ASIA|ABIA|ACCA|AIDA|AROA)[0-9A-Z]{16}\b",
        REDACTED,
    ),
    # Google API keys
    (("aiza",), r"\bAIza[0-9A-Za-z_\-]{35}\b", REDACTED),
    # GitHub tokens
    (
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,})",
        REDACTED,
    ),
    # Slack tokens
    (("xox",), r"\bxox[abposr]-[A-Za-z0-9-]{10,}", REDACTED),
    # Hugging Face tokens
    (("hf_",), r"\bhf_[A-Za-z0-9]{30,}", REDACTED),
    # user:password@ in URLs (the user name stays)
    (
        ("://",),
        r"(?i)\b([a-z][a-z0-9+.\-]*://[^:/@\s]+):[^@/\s]+@",
        r"\1:" + REDACTED + "@",
    ),
)

# key=value, key: value and "key": "value" with a secret-sounding key (any prefix:
# client_secret, aws_secret_access_key, x-api-key, auth_token). Runs last, and only on text
# with a separator and a trigger.
_PAIR_TRIGGERS = ("pass", "pwd", "secret", "key", "token", "session")
_PAIR = re.compile(
    r"(?i)(" + _SECRET_KEY + r"[\"']?\s*[=:]\s*[\"']?)(?!\[REDACTED\])[^\s\"',;&}\]]+"
)

# Every trigger. Plain substring tests: linear and fast in C even on long prompts, where
# a regex alternation would cost a Python-level step per character.
_TRIGGERS = tuple(sorted({t for ts, _, _ in _BUILTIN for t in ts} | set(_PAIR_TRIGGERS)))

DEFAULT_FIELDS: frozenset[str] = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "secret",
        "client_secret",
        "api_key",
        "apikey",
        "x_api_key",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "auth_token",
        "authorization",
        "proxy_authorization",
        "cookie",
        "set_cookie",
        "private_key",
        "aws_secret_access_key",
        "session_id",
    }
)
"""Field names whose whole value is redacted (compared case-insensitively, ``-`` = ``_``).

A dotted attribute name matches on its last part too: ``http.request.header.authorization``
is a secret field because ``authorization`` is.
"""


def pattern_error(pattern: str) -> str | None:
    """Why ``pattern`` cannot be a redaction pattern, or None when it can.

    For validating configuration (an environment variable) before building a
    :class:`Redactor`, which raises ``ValueError`` with the same reason.
    """
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        return f"invalid redaction pattern {pattern!r}: {exc}"
    if compiled.match(""):
        return f"redaction pattern {pattern!r} matches the empty string"
    return None


def _norm(name: str) -> str:
    return name.lower().replace("-", "_")


class Redactor:
    """Replaces secrets in text, and values of secret-named fields, with ``[REDACTED]``.

    Immutable and thread-safe: the patterns are compiled once, in ``__init__``.
    ``patterns`` are extra regular expressions (strings or compiled); every match is
    replaced. ``fields`` are extra field names whose values are replaced whole.
    """

    __slots__ = ("_custom", "_field_memo", "_fields", "_rules")

    def __init__(
        self, patterns: Sequence[str | re.Pattern[str]] = (), fields: Iterable[str] = ()
    ) -> None:
        custom: list[re.Pattern[str]] = []
        for pattern in patterns:
            if isinstance(pattern, str):
                problem = pattern_error(pattern)
                if problem is not None:
                    raise ValueError(problem)
                custom.append(re.compile(pattern))
            elif pattern.match(""):
                raise ValueError(f"redaction pattern {pattern.pattern!r} matches the empty string")
            else:
                custom.append(pattern)
        self._rules = tuple((t, re.compile(p), r) for t, p, r in _BUILTIN)
        self._custom = tuple(custom)
        self._fields = frozenset(_norm(f) for f in (*DEFAULT_FIELDS, *fields))
        self._field_memo: dict[str, bool] = {}  # a cache only; the rules never change

    def is_secret_field(self, name: str) -> bool:
        """True when values of a field called ``name`` are redacted whole."""
        known = self._field_memo.get(name)
        if known is None:
            norm = _norm(name)
            known = norm in self._fields or norm.rpartition(".")[2] in self._fields
            if len(self._field_memo) < 4096:
                self._field_memo[name] = known
        return known

    def text(self, value: str) -> str:
        """``value`` with every secret-shaped substring replaced."""
        lower = value.lower()
        found = {trigger for trigger in _TRIGGERS if trigger in lower}  # usually empty
        if found:
            for triggers, pattern, replacement in self._rules:
                if not found.isdisjoint(triggers):
                    value = pattern.sub(replacement, value)
            if ("=" in value or ":" in value) and not found.isdisjoint(_PAIR_TRIGGERS):
                value = _PAIR.sub(r"\1" + REDACTED, value)
        for custom in self._custom:
            value = custom.sub(REDACTED, value)
        return value

    def value(self, value: Any, key: str | None = None) -> Any:
        """Redact a log field or attribute value: strings, sequences and mappings, recursively.

        ``key`` is the field's name: a secret-named field loses its whole value. Other
        types (numbers, booleans, objects) are returned as they are.
        """
        if key is not None and value is not None and value != "" and self.is_secret_field(key):
            return REDACTED
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, (int, float)):  # bool too: the common case, nothing to do
            return value
        if isinstance(value, Mapping):
            return {k: self.value(v, str(k)) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.value(v) for v in value)
        return value

    def attributes(self, attributes: Attributes) -> dict[str, Any] | None:
        """A redacted copy of span/event/log attributes, or None when nothing changed."""
        if not attributes:
            return None
        changed = False
        result: dict[str, Any] = {}
        for key, original in attributes.items():
            redacted = self.value(original, key)
            changed = changed or redacted != original
            result[key] = redacted
        return result if changed else None


def _bounded(original: Attributes, redacted: dict[str, Any]) -> BoundedAttributes:
    """Redacted attributes that still report how many the SDK dropped for limits."""
    copy = BoundedAttributes(maxlen=None, attributes=redacted, immutable=True)
    copy.dropped = original.dropped if isinstance(original, BoundedAttributes) else 0
    return copy


class _RedactingSpanExporter(SpanExporter):
    """Exports redacted copies of spans that carry secrets; others pass through as they are."""

    def __init__(self, exporter: SpanExporter, redactor: Redactor) -> None:
        self._exporter = exporter
        self._redactor = redactor

    def _redact(self, span: ReadableSpan) -> ReadableSpan:
        r = self._redactor
        attributes = r.attributes(span.attributes)
        changed = attributes is not None
        events: list[Event] = []
        for event in span.events:
            event_attributes = r.attributes(event.attributes)
            if event_attributes is not None:
                changed = True
                events.append(
                    Event(event.name, _bounded(event.attributes, event_attributes), event.timestamp)
                )
            else:
                events.append(event)
        links: list[Link] = []
        for link in span.links:
            link_attributes = r.attributes(link.attributes)
            if link_attributes is not None:
                changed = True
                links.append(Link(link.context, _bounded(link.attributes, link_attributes)))
            else:
                links.append(link)
        description = span.status.description
        safe_description = r.text(description) if description else description
        name = r.text(span.name)
        if not changed and safe_description == description and name == span.name:
            return span
        return ReadableSpan(
            name=name,
            context=span.context,
            parent=span.parent,
            resource=span.resource,
            attributes=(
                _bounded(span.attributes, attributes) if attributes is not None else span.attributes
            ),
            events=events,
            links=links,
            kind=span.kind,
            status=Status(span.status.status_code, safe_description),
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Redact, then hand the batch to the wrapped exporter."""
        return self._exporter.export([self._redact(span) for span in spans])

    def shutdown(self) -> None:
        """Shut the wrapped exporter down."""
        self._exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush the wrapped exporter."""
        return self._exporter.force_flush(timeout_millis)


class _RedactingLogExporter(LogRecordExporter):
    """Exports redacted copies of log records that carry secrets (body or attributes).

    Records from otel-llm's own logging are already redacted; this covers anything else
    that reaches the LoggerProvider (the SDK's LoggingHandler, other libraries, events).
    """

    def __init__(self, exporter: LogRecordExporter, redactor: Redactor) -> None:
        self._exporter = exporter
        self._redactor = redactor

    def _redact(self, readable: ReadableLogRecord) -> ReadableLogRecord:
        record = readable.log_record
        attributes = self._redactor.attributes(record.attributes)
        body = self._redactor.value(record.body)
        if attributes is None and body == record.body:
            return readable
        copy = LogRecord(
            timestamp=record.timestamp,
            observed_timestamp=record.observed_timestamp,
            context=record.context,
            severity_text=record.severity_text,
            severity_number=record.severity_number,
            body=body,
            attributes=(
                _bounded(record.attributes, attributes)
                if attributes is not None
                else record.attributes
            ),
            event_name=record.event_name,
        )
        # The context may be absent (records built with explicit ids): keep the ids as given.
        copy.trace_id, copy.span_id, copy.trace_flags = (
            record.trace_id,
            record.span_id,
            record.trace_flags,
        )
        return dataclasses.replace(readable, log_record=copy)

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        """Redact, then hand the batch to the wrapped exporter."""
        return self._exporter.export([self._redact(record) for record in batch])

    def shutdown(self) -> None:
        """Shut the wrapped exporter down."""
        self._exporter.shutdown()  # type: ignore[no-untyped-call]

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush the wrapped exporter."""
        return self._exporter.force_flush(timeout_millis)


def wrap_span_exporter(exporter: SpanExporter, redactor: Redactor) -> SpanExporter:
    """Wrap ``exporter`` so every span it receives has its secrets redacted first.

    Covers span names, attributes, event attributes (``exception.message`` and
    ``exception.stacktrace`` included), link attributes and the status description.
    """
    return _RedactingSpanExporter(exporter, redactor)


def wrap_log_exporter(exporter: LogRecordExporter, redactor: Redactor) -> LogRecordExporter:
    """Wrap ``exporter`` so every log record it receives has its secrets redacted first."""
    return _RedactingLogExporter(exporter, redactor)
