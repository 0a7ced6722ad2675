"""Redaction: secrets never leave the process, in logs, spans or metric labels.

A :class:`Redactor` replaces secret-shaped text (vendor API keys and tokens, bearer and
basic credentials, JWTs, PEM private keys, passwords in URLs, ``password=...`` pairs, plus
user patterns) and whole values of secret-named fields with ``[REDACTED]``. Logs are
redacted inside the logging pipeline, before they are rendered or exported. Spans and SDK
log records are read-only once finished, so :func:`wrap_span_exporter` and
:func:`wrap_log_exporter` hand redacted copies to the real exporter on the export path;
records without secrets pass through untouched. Metric labels a caller fills (model names,
dimensions) go through :func:`safe_label` when they are made.
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
    "safe_label",
    "wrap_log_exporter",
    "wrap_span_exporter",
]

REDACTED = "[REDACTED]"
"""What a secret is replaced with."""

# Secrets recognised by their own shape: a vendor prefix and a body of the documented
# alphabet and length (vendor documentation, and the prefixes secret scanners look for).
# They are compiled into one pattern, tried only where a token starts (no letter, digit,
# ``_`` or ``-`` before it), so a match cannot begin inside another token: one start per
# token, and linear time on any input.
_TOKENS: tuple[str, ...] = (
    # OpenAI sk-, sk-proj-, sk-svcacct-, sk-admin-; Anthropic sk-ant-api03-/sk-ant-admin01-;
    # OpenRouter sk-or-v1-; DeepSeek sk-<32 hex>. A capital or digit in the body keeps
    # hyphenated words ("sk-learn-compatible-estimators") readable.
    r"sk-(?=[a-z_\-]*[A-Z0-9])[A-Za-z0-9_\-]{20,}",
    # Stripe secret, restricted and publishable keys; webhook signing secrets
    r"(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}",
    r"whsec_[A-Za-z0-9]{24,}",
    # AWS access key ids: a 4-letter type prefix and 16 base32 characters (20 in all)
    r"(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA)[A-Z2-7]{16}(?![A-Za-z0-9])",
    # Google API keys: AIza + 35 (39 in all); OAuth access tokens ya29.; OAuth client
    # secrets GOCSPX-
    r"AIza[0-9A-Za-z_\-]{35}",
    r"ya29\.[0-9A-Za-z_\-]{20,}",
    r"GOCSPX-[0-9A-Za-z_\-]{24,}",
    # GitHub: ghp_/gho_/ghu_/ghs_/ghr_ + 36 alphanumerics; fine-grained github_pat_
    r"gh[pousr]_[A-Za-z0-9]{36,}",
    r"github_pat_[A-Za-z0-9_]{40,}",
    # GitLab personal/deploy/runner/trigger/CI tokens: glpat- + 20 and longer (routable
    # tokens carry dot-separated parts)
    r"gl(?:pat|dt|rt|ptt|cbt|oas|imt|soat|ft|agent)-(?=[a-z_\-]*[A-Z0-9])[A-Za-z0-9_\-]{20,}"
    r"(?:\.[A-Za-z0-9_\-]+){0,3}",
    # Slack bot/user/app/config tokens
    r"xox[abposre]-[A-Za-z0-9\-]{10,}",
    r"xapp-\d-[A-Za-z0-9\-]{10,}",
    # SendGrid: SG. + 22 + . + 43 (69 in all)
    r"SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}",
    # Mailgun: key- + 32 hex (legacy), and <32 hex>-<8 hex>-<8 hex>
    r"key-[0-9a-f]{32}",
    r"[0-9a-f]{32}-[0-9a-f]{8}-[0-9a-f]{8}(?![A-Za-z0-9])",
    # Twilio API key sids: SK + 32 hex
    r"SK[0-9a-f]{32}(?![A-Za-z0-9])",
    # Hugging Face hf_ (34 letters) and api_org_; Groq gsk_ (52); Replicate r8_ (37);
    # Perplexity pplx- (48); xAI xai- (80); LangSmith lsv2_pt_/lsv2_sk_; Pinecone pcsk_
    r"hf_[A-Za-z0-9]{30,}",
    r"api_org_[A-Za-z0-9]{30,}",
    r"gsk_[A-Za-z0-9]{48,}",
    r"r8_[A-Za-z0-9]{30,}",
    r"pplx-[A-Za-z0-9]{40,}",
    r"xai-[A-Za-z0-9]{60,}",
    r"lsv2_(?:pt|sk)_[0-9a-f]{32}_[0-9a-f]{10}",
    r"pcsk_[A-Za-z0-9_]{40,}",
    # npm npm_ + 36; PyPI pypi- + a base64url macaroon; Docker Hub dckr_pat_ + 27
    r"npm_[A-Za-z0-9]{36,}",
    r"pypi-[A-Za-z0-9_\-]{50,}",
    r"dckr_pat_[A-Za-z0-9_\-]{20,}",
    # Databricks dapi + 32 hex; Shopify shpat_/shpss_/shpca_/shppa_ + 32 hex
    r"dapi[0-9a-f]{32}(?:-\d)?",
    r"shp(?:at|ss|ca|pa)_[0-9a-fA-F]{32}",
    # New Relic user/insights/browser keys (NRAK-, NRII-, NRJS- + 27) and license keys
    # (40 characters ending NRAL); Sentry auth tokens sntrys_/sntryu_
    r"NR(?:AK|II|JS)-[A-Z0-9]{27}",
    r"[A-Za-z0-9]{36}NRAL(?![A-Za-z0-9])",
    r"sntry[su]_[A-Za-z0-9_\-]{30,}(?:[+/=]+[A-Za-z0-9_\-]*){0,16}",
    # Linear lin_api_ + 40; Notion secret_ + 43 and ntn_; Postman PMAK-; Atlassian ATATT;
    # Square sq0atp-/sq0csp- and EAAA; Heroku HRKU-; age secret keys
    r"lin_api_[A-Za-z0-9]{40}",
    r"secret_[A-Za-z0-9]{43}",
    r"ntn_[A-Za-z0-9]{40,}",
    r"PMAK-[0-9a-f]{24}-[0-9a-f]{34}",
    r"ATATT3[A-Za-z0-9_\-]{60,}(?:=[A-Za-z0-9]{0,16})?",
    r"sq0(?:atp|csp)-[0-9A-Za-z_\-]{22,}",
    r"EAAA[A-Za-z0-9_\-]{60,}",
    r"HRKU-[A-Za-z0-9_\-]{30,}",
    r"AGE-SECRET-KEY-1[0-9A-Z]{58}",
    # Discord bot tokens: base64 user id . 6 . 27+
    r"[MNO][A-Za-z0-9]{23,25}\.[A-Za-z0-9_\-]{6}\.[A-Za-z0-9_\-]{27,}",
    # JSON Web Tokens (and JWEs): base64url JSON header, then 2 to 4 more parts
    r"eyJ[A-Za-z0-9_\-]{4,}(?:\.[A-Za-z0-9_\-]{2,}){2,4}",
)

# What may come right before a secret: not a character of a longer word, except the
# letter of an escape (a newline in captured JSON content is "\\n", right before the key).
_ESCAPED = r"(?<=\\[ntr])"
_START = r"(?:(?<![A-Za-z0-9_\-])|" + _ESCAPED + ")"
_TOKEN = re.compile(_START + "(?:" + "|".join(_TOKENS) + ")")

# Tokens live in runs of these characters, 16 or more long. Prose has few such runs (ids,
# URLs, base64), so the token pattern only runs there. The runs are found in C: the text,
# as ASCII bytes (one byte per character, anything else a "?"), is mapped to "a" (run
# character) or " " (other), and long runs are substring searches for 16 "a"s. A regex scan
# for them would cost more than all the rest of the redaction of a plain prompt.
_RUN_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.+/="
_RUN_MASK = bytes(ord("a") if byte in _RUN_CHARS else ord(" ") for byte in range(256))
_LONG_RUN = b"a" * 16

# Line breaks between the lines of a PEM block: real, escaped (once or more: JSON in JSON)
# or flattened to spaces. A base64 line is 16 characters or more (they are 64), except
# the last one before the END line or where the text stops (a cut-off key): words of the
# prose after a cut-off key are not taken for its lines.
_PEM_BREAK = r"(?:\r?\n|(?:\\+r)?\\+n|[ \t])"
_PEM_BREAKS = _PEM_BREAK + "*"

# An optional quote before a separator, escaped too: JSON inside a JSON string (a captured
# prompt that quotes a config file) has \" where plain JSON has ".
_QUOTE = r"(?:\\*[\"'])?"

# Secrets recognised by their context: (triggers, pattern, replacement), applied in order.
# A rule runs only on text whose lower-case form contains one of its triggers: substring
# tests are far cheaper than regex scans, and most strings trigger nothing. Patterns start
# with a literal or a character set where they can, which the regex engine skips to.
# Replacements keep the non-secret part (header name, auth scheme, URL user, webhook host)
# so a redacted line still says what it was. Every quantifier is bounded or stops at a
# character the next element cannot start with: no backtracking blow-up on hostile input.
_CONTEXT: tuple[tuple[tuple[str, ...], str, str], ...] = (
    # PEM private keys (RSA, EC, DSA, OPENSSH, PKCS#8, ENCRYPTED, PGP blocks), lines split
    # by newlines, escaped newlines (JSON) or spaces. The body is what a key block holds
    # (header lines, then base64 lines), so a key cut short (no END line: a truncated
    # attribute) is redacted as far as it goes, and the text after it is left alone.
    (
        ("private key",),
        r"-----BEGIN [A-Z0-9 ]{0,24}PRIVATE KEY(?: BLOCK)?-----"
        + _PEM_BREAKS
        + r"(?:[A-Za-z][A-Za-z\-]{0,30}: [^\r\n\\]*"
        + _PEM_BREAKS
        + r")*"
        + r"(?:[A-Za-z0-9+/=]{16,}+(?:"
        + _PEM_BREAK
        + r"++|(?=[\"']|\Z))|[A-Za-z0-9+/=]++(?:"
        + _PEM_BREAKS
        + r"(?=-----END)|(?=[\"']|\Z)))*"
        + r"(?:-----END [A-Z0-9 ]{0,24}PRIVATE KEY(?: BLOCK)?-----)?",
        REDACTED,
    ),
    # Authorization / Proxy-Authorization header values, with or without a scheme
    (
        ("authorization",),
        r"(?i)(?:\b|"
        + _ESCAPED
        + r")((?:proxy-)?authorization"
        + _QUOTE
        + r"\s*[:=]\s*"
        + _QUOTE
        + r"(?:[a-z]+\s+)?)"
        r"(?![a-z]+\s+\[REDACTED\])[^\s\"'\\,;&\[]+",
        r"\1" + REDACTED,
    ),
    # Bearer/Basic credentials anywhere else. A credential has a digit or symbol, or a
    # capital after its first letter, so prose ("bearer bonds", "Basic Authentication")
    # stays readable.
    (
        ("bearer", "basic"),
        r"([Bb](?:(?<![A-Za-z0-9_][Bb])|(?<=\\[ntr][Bb]))(?:earer|EARER|asic|ASIC))([ \t]+)"
        r"(?=[A-Za-z0-9._~+/=\-]*[0-9._~+/=\-]|[A-Za-z0-9._~+/=\-]+[A-Z])"
        r"[A-Za-z0-9._~+/=\-]{8,}",
        r"\1\2" + REDACTED,
    ),
    # Webhook URLs whose path is the credential (Slack, Discord): the host stays
    (
        ("hooks.slack.com",),
        r"(hooks\.slack\.com/(?:services|workflows|triggers)/)[A-Za-z0-9_\-/]+",
        r"\1" + REDACTED,
    ),
    (
        ("discord",),
        r"(discord(?:app)?\.com/api/webhooks/)[A-Za-z0-9_\-/]+",
        r"\1" + REDACTED,
    ),
    # user:password@ in URLs (the user name stays; redis://:password@ has none)
    (("://",), r"(://[^:/@\s]*):[^@/\s\\[]+@", r"\1:" + REDACTED + "@"),
    # a key as the whole user part: https://<token>@host, Sentry DSNs (<32 hex>@host)
    (
        ("://",),
        r"://(?=[A-Za-z_\-]*[0-9])[A-Za-z0-9_\-]{16,}@",
        "://" + REDACTED + "@",
    ),
    # Telegram bot tokens: <bot id>:AA + 33 (the id stays)
    ((":aa",), r"(?<![0-9])([0-9]{8,10}):AA[A-Za-z0-9_\-]{33}", r"\1:" + REDACTED),
)

# key=value, key: value and "key": "value" with a secret-sounding key, in any case and as
# the last part of a longer name (client_secret, AWS_SECRET_ACCESS_KEY, x-api-key,
# X-Amz-Signature, accessToken). "_" in a key stands for "_", "-" or nothing.
_PAIR_KEYS = (
    "password", "passwd", "passphrase", "pwd", "secret", "secret_access_key", "credentials",
    "api_key", "access_key", "private_key", "account_key", "app_key", "application_key",
    "license_key", "master_key", "signing_key", "encryption_key", "subscription_key",
    "shared_access_key", "token", "access_token", "refresh_token", "id_token", "auth_token",
    "session_token", "security_token", "api_token", "bearer_token", "session_id", "sig",
    "signature",
)  # fmt: skip
# "sig" only as a query parameter or JSON key: as a substring it is in "design" and "assign".
_PAIR_TRIGGERS = (
    "pass", "pwd", "secret", "key", "token", "session", "sig=", 'sig"', "signature", "credentials",
)  # fmt: skip


def _reversed_key(key: str) -> str:
    return r"[_\-]?".join(re.escape(part[::-1]) for part in reversed(key.split("_")))


# Pairs are found in the reversed, lower-cased ASCII bytes of the text (one byte per
# character, so positions carry over): there a pair starts at its separator, which the
# regex engine skips to directly, instead of trying every key at every position. The key
# may not continue to the left ("monkey=" is no api key).
_PAIR_REVERSED = re.compile(
    rb"[=:]\s*(?:[\"']\\*)?(?:"
    + "|".join(_reversed_key(k) for k in sorted(_PAIR_KEYS, key=len, reverse=True)).encode()
    + rb")(?:(?![a-z0-9])|(?=[ntr]\\))"
)
# The value after the separator: up to a delimiter of the syntaxes it comes in (query
# strings, JSON, connection strings, headers). None starts with "[", so one already
# redacted is left alone.
_PAIR_VALUE = re.compile(r"\s*(?:\\*[\"'])?([^\s\"'\\,;&}[\]]+)")

# Every trigger. Plain substring tests: linear and fast in C even on long prompts, where
# a regex alternation would cost a Python-level step per character.
_TRIGGERS = tuple(sorted({t for ts, _, _ in _CONTEXT for t in ts} | set(_PAIR_TRIGGERS)))
_CONTEXT_RULES = tuple((frozenset(t), re.compile(p), r) for t, p, r in _CONTEXT)


def _splice(value: str, spans: list[tuple[int, int]]) -> str:
    """``value`` with each (start, end) span replaced by ``[REDACTED]``; overlaps merge."""
    parts: list[str] = []
    end = 0
    for start, stop in sorted(spans):
        if start >= end:
            parts += (value[end:start], REDACTED)
            end = stop
        elif stop > end:
            end = stop
    parts.append(value[end:])
    return "".join(parts)


def _token_spans(value: str) -> list[tuple[int, int]]:
    """Where shaped tokens are, looking only inside long runs of token characters."""
    masked = value.encode("ascii", "replace").translate(_RUN_MASK)
    spans: list[tuple[int, int]] = []
    start = masked.find(_LONG_RUN)
    while start != -1:
        end = masked.find(b" ", start)
        if end == -1:
            end = len(masked)
        spans.extend(match.span() for match in _TOKEN.finditer(value, start, end))
        start = masked.find(_LONG_RUN, end)
    return spans


def _pair_spans(value: str) -> list[tuple[int, int]]:
    """Where values of secret-named keys are.

    Separators are visited left to right, and one inside a value already found is skipped
    ("password=password=..." is one value): each character is scanned for a value once.
    """
    last = len(value) - 1
    reversed_bytes = value.encode("ascii", "replace").lower()[::-1]
    separators = [last - m.start() for m in _PAIR_REVERSED.finditer(reversed_bytes)]
    spans: list[tuple[int, int]] = []
    end = -1
    for separator in reversed(separators):
        if separator < end:
            continue
        found = _PAIR_VALUE.match(value, separator + 1)
        if found is not None:
            spans.append(found.span(1))
            end = found.end()
    return spans


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

    __slots__ = ("_custom", "_field_memo", "_fields")

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
            for triggers, pattern, replacement in _CONTEXT_RULES:
                if not found.isdisjoint(triggers):
                    value = pattern.sub(replacement, value)
        spans = _token_spans(value)
        if spans:
            value = _splice(value, spans)
        if found and not found.isdisjoint(_PAIR_TRIGGERS):
            spans = _pair_spans(value)
            if spans:
                value = _splice(value, spans)
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


_LABEL_REDACTOR = Redactor()
_LABELS: dict[str, str] = {}


def safe_label(value: str) -> str:
    """``value`` redacted with the built-in rules, for a metric attribute.

    Metrics have no exporter wrapper (a Prometheus scrape reads them in place), so
    user-given strings that become metric labels (model names) are redacted when the label
    is made. Labels are few and repeat: results are cached.
    """
    known = _LABELS.get(value)
    if known is None:
        known = _LABEL_REDACTOR.text(value)
        if len(_LABELS) < 4096:
            _LABELS[value] = known
    return known


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
