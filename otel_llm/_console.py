"""Console trace view: each finished trace printed as an indented tree.

This is the first thing a new user sees (``OTEL_TRACES_EXPORTER=console``), so it is built
for reading, not for machines: one line per span with its duration and the few attributes
that matter for an LLM call (models, tokens, time to first chunk, truncation, fallbacks,
cache result, cost, errors), children in start order under their parent, and a header with
the trace id to look the trace up in Jaeger.

Spans reach an exporter one by one as they end, children before parents. The exporter
buffers them per trace and prints the trace when its local root ends (a span without a
parent, or with a remote parent). The buffer is bounded: past ``max_traces`` traces or
``max_spans`` spans the oldest trace is printed as incomplete and forgotten, so a root that
never ends cannot leak memory. Colour is used only on a terminal (or when forced), and the
tree falls back to ASCII glyphs when the stream cannot encode box-drawing characters.
"""

from __future__ import annotations

import os
import sys
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final, Literal, TextIO

from opentelemetry.sdk.resources import SERVICE_NAME
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import StatusCode, format_span_id, format_trace_id
from opentelemetry.util.types import AttributeValue

from . import semconv
from ._fork import fork_safe_lock
from ._runtime import report_error
from ._settings import env_choice

__all__ = ["ConsoleTreeSpanExporter"]

_COMPONENT: Final = "console"
_EXCEPTION_EVENT: Final = "exception"
_EXCEPTION_TYPE: Final = "exception.type"
_NAME_LIMIT: Final = 80
"""Span names longer than this are cut with an ellipsis."""
_VALUE_LIMIT: Final = 60
"""Attribute values (model names, reasons) longer than this are cut."""
_MESSAGE_LIMIT: Final = 160
"""Exception messages longer than this are cut (first line only)."""
_NAME_COLUMN: Final = 56
"""Durations line up after this many columns unless every name is shorter."""

ColorMode = Literal["auto", "always", "never"]
Style = Literal["", "bold", "dim", "red", "error", "green", "yellow", "cyan", "magenta"]

_ANSI: Final[Mapping[str, str]] = {
    "bold": "1",
    "dim": "2",
    "red": "31",
    "error": "1;31",
    "green": "32",
    "yellow": "33",
    "cyan": "36",
    "magenta": "35",
}


@dataclass(frozen=True)
class _Glyphs:
    """The characters a tree is drawn with; one set for Unicode, one for ASCII streams."""

    tee: str
    last: str
    pipe: str
    blank: str
    arrow: str
    sep: str
    micro: str
    cross: str
    fallback: str
    ellipsis: str
    approx: str
    encoding: str | None = None
    """The stream's encoding; text it cannot encode is backslash-escaped before layout."""


_UNICODE: Final = _Glyphs("├─ ", "└─ ", "│  ", "   ", "→", "·", "µ", "✗", "↪", "…", "~")
_ASCII: Final = _Glyphs("|- ", "`- ", "|  ", "   ", "->", "|", "u", "x", ">", "...", "~")
_UNICODE_PROBE: Final = "├─└│→·µ✗↪…"


@dataclass(frozen=True)
class _Batch:
    """Spans of one trace ready to print, with a note when the trace is not complete."""

    trace_id: int
    spans: list[ReadableSpan]
    note: str | None = None


@dataclass
class _Row:
    """One span line of the tree plus the event lines printed under it."""

    prefix: str
    name: str
    top: bool
    failed: bool
    duration: str
    facts: list[tuple[str, Style]]
    sub_prefix: str
    sub_lines: list[tuple[str, Style]]


class ConsoleTreeSpanExporter(SpanExporter):
    """Print every finished trace as an indented tree to a text stream (stderr by default).

    ``color``: ``True``/``False`` forces ANSI colour on or off; ``None`` follows the
    ``OTEL_LLM_CONSOLE_COLOR`` variable (``auto``, ``always``, ``never``), and in ``auto``
    colours only a terminal when ``NO_COLOR`` is unset. ``max_traces`` and ``max_spans``
    bound the spans held while waiting for root spans to end.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        color: bool | None = None,
        max_traces: int = 1000,
        max_spans: int = 10_000,
    ) -> None:
        if max_traces < 1:
            raise ValueError(f"max_traces must be at least 1, got {max_traces!r}")
        if max_spans < 1:
            raise ValueError(f"max_spans must be at least 1, got {max_spans!r}")
        self._stream = stream
        self._color = _resolve_color(color)
        self._max_traces = max_traces
        self._max_spans = max_spans
        self._lock = fork_safe_lock()
        self._write_lock = fork_safe_lock()
        # Finished spans per trace id, oldest trace first, waiting for the local root.
        self._traces: OrderedDict[int, list[ReadableSpan]] = OrderedDict()
        self._span_count = 0
        self._evicted_traces = 0
        self._dropped_spans = 0
        self._closed = False

    # -- counters ------------------------------------------------------------------------
    @property
    def buffered_spans(self) -> int:
        """Spans currently held while their trace's root is still open."""
        with self._lock:
            return self._span_count

    @property
    def evicted_traces(self) -> int:
        """Traces printed early (as incomplete) because the buffer was full."""
        with self._lock:
            return self._evicted_traces

    @property
    def dropped_spans(self) -> int:
        """Spans that could not be shown (no span context, or arriving after shutdown)."""
        with self._lock:
            return self._dropped_spans

    # -- SpanExporter ------------------------------------------------------------------
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Buffer ``spans``; print each trace whose local root is among them."""
        try:
            with self._lock:
                if self._closed:
                    self._dropped_spans += len(spans)
                    return SpanExportResult.FAILURE
                ready = self._ingest(spans)
            return SpanExportResult.SUCCESS if self._print(ready) else SpanExportResult.FAILURE
        except Exception as exc:
            report_error(_COMPONENT, exc)
            return SpanExportResult.FAILURE

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Print every buffered trace now, marked incomplete (its root has not ended)."""
        try:
            with self._lock:
                pending = self._drain("incomplete: root span not ended yet")
            return self._print(pending)
        except Exception as exc:
            report_error(_COMPONENT, exc)
            return False

    def shutdown(self) -> None:
        """Print what is still buffered and refuse further spans."""
        if self._closed:
            return
        self.force_flush()
        with self._lock:
            self._closed = True

    # -- buffering ---------------------------------------------------------------------
    def _ingest(self, spans: Iterable[ReadableSpan]) -> list[_Batch]:
        """Add spans to their traces; return traces to print (caller holds the lock)."""
        finished: list[int] = []
        for span in spans:
            ctx = span.context
            if ctx is None:
                self._dropped_spans += 1
                continue
            buffer = self._traces.get(ctx.trace_id)
            if buffer is None:
                buffer = self._traces[ctx.trace_id] = []
            buffer.append(span)
            self._span_count += 1
            if span.parent is None or span.parent.is_remote:
                finished.append(ctx.trace_id)
        # Print only after the whole batch is in, so a child that ended after its root in
        # the same batch still lands in the tree.
        ready = [self._pop(trace_id) for trace_id in dict.fromkeys(finished)]
        while self._traces and (
            len(self._traces) > self._max_traces or self._span_count > self._max_spans
        ):
            oldest = next(iter(self._traces))
            self._evicted_traces += 1
            ready.append(self._pop(oldest, "incomplete: buffer full, printed before its root"))
        return ready

    def _pop(self, trace_id: int, note: str | None = None) -> _Batch:
        spans = self._traces.pop(trace_id)
        self._span_count -= len(spans)
        return _Batch(trace_id, spans, note)

    def _drain(self, note: str) -> list[_Batch]:
        return [self._pop(trace_id, note) for trace_id in list(self._traces)]

    # -- output ------------------------------------------------------------------------
    @property
    def _target(self) -> TextIO:
        # Resolved at write time so a replaced sys.stderr (pytest, daemons) is honoured.
        return self._stream if self._stream is not None else sys.stderr

    def _print(self, batches: Sequence[_Batch]) -> bool:
        if not batches:
            return True
        stream = self._target
        encoding = getattr(stream, "encoding", None)
        glyphs = _UNICODE if _can_encode(encoding, _UNICODE_PROBE) else _ASCII
        if isinstance(encoding, str):
            glyphs = replace(glyphs, encoding=encoding)
        color = self._color if self._color is not None else _auto_color(stream)
        text = "".join(_render_trace(batch, glyphs, color) for batch in batches)
        if isinstance(encoding, str):
            # Whatever a span name contains, the write itself must not fail.
            text = text.encode(encoding, "backslashreplace").decode(encoding)
        try:
            with self._write_lock:
                stream.write(text)
                stream.flush()
        except Exception as exc:
            report_error(_COMPONENT, exc)
            return False
        return True


# -- colour and encoding -----------------------------------------------------------------
def _resolve_color(color: bool | None) -> bool | None:
    """The forced colour setting (argument, then environment), or None for auto."""
    if color is not None:
        return color
    mode: ColorMode = env_choice(  # type: ignore[assignment]
        semconv.ENV_LLM_CONSOLE_COLOR, ("auto", "always", "never"), "auto"
    )
    if mode == "always":
        return True
    if mode == "never":
        return False
    return None


def _auto_color(stream: TextIO) -> bool:
    # https://no-color.org: any non-empty NO_COLOR disables colour.
    if os.environ.get("NO_COLOR"):
        return False
    try:
        return stream.isatty()
    except Exception:
        return False


def _can_encode(encoding: object, probe: str) -> bool:
    if not isinstance(encoding, str):
        return True  # e.g. io.StringIO: no byte encoding in the way
    try:
        probe.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def _paint(text: str, style: Style, color: bool) -> str:
    if not color or not style or not text:
        return text
    return f"\x1b[{_ANSI[style]}m{text}\x1b[0m"


def _clean(value: object, limit: int, glyphs: _Glyphs) -> str:
    """Printable, single-line, bounded text: no control characters reach the terminal."""
    text = "".join(
        ch if ch.isprintable() else ("\\n" if ch == "\n" else f"\\x{ord(ch):02x}")
        for ch in str(value)
    )
    if glyphs.encoding is not None:
        # Escape here, not after layout, so column widths count what is really printed.
        text = text.encode(glyphs.encoding, "backslashreplace").decode(glyphs.encoding)
    if len(text) > limit:
        text = text[: limit - 1] + glyphs.ellipsis
    return text


# -- formatting values -------------------------------------------------------------------
def _format_duration(ns: int, glyphs: _Glyphs) -> str:
    """A duration with the unit a human would pick: 740µs, 12.3ms, 1.52s, 2m05s."""
    ns = max(ns, 0)
    if ns < 1_000_000:
        us = ns / 1_000
        return f"{us:.1f}{glyphs.micro}s" if us < 10 else f"{us:.0f}{glyphs.micro}s"
    if ns < 1_000_000_000:
        ms = ns / 1_000_000
        if ms < 10:
            return f"{ms:.2f}ms"
        return f"{ms:.1f}ms" if ms < 100 else f"{ms:.0f}ms"
    seconds = ns / 1_000_000_000
    if seconds < 60:
        return f"{seconds:.2f}s" if seconds < 10 else f"{seconds:.1f}s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s"


def _format_count(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"


def _format_cost(usd: float) -> str:
    if usd == 0:
        return "$0"
    if usd < 0.01:
        return f"${usd:.6f}".rstrip("0")
    return f"${usd:,.2f}" if usd >= 1 else f"${usd:.4f}"


def _number(attrs: Mapping[str, AttributeValue], key: str) -> int | float | None:
    value = attrs.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def _text(attrs: Mapping[str, AttributeValue], key: str, glyphs: _Glyphs) -> str | None:
    value = attrs.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, (list, tuple)):
        return ",".join(_clean(v, _VALUE_LIMIT, glyphs) for v in value) or None
    return _clean(value, _VALUE_LIMIT, glyphs)


# -- describing one span -----------------------------------------------------------------
def _span_failed(span: ReadableSpan) -> bool:
    return span.status.status_code is StatusCode.ERROR


def _facts(span: ReadableSpan, glyphs: _Glyphs) -> list[tuple[str, Style]]:
    """The compact key attributes of a span, most important first."""
    attrs: Mapping[str, AttributeValue] = span.attributes or {}
    facts: list[tuple[str, Style]] = []
    error_type = _text(attrs, semconv.ERROR_TYPE, glyphs)
    if _span_failed(span) or error_type:
        facts.append((f"{glyphs.cross} {error_type or 'ERROR'}", "error"))

    if span.parent is not None and span.parent.is_remote:
        facts.append((f"remote parent {format_span_id(span.parent.span_id)}", "dim"))

    operation = _text(attrs, semconv.GEN_AI_OPERATION_NAME, glyphs)
    if operation and not span.name.startswith(operation):
        facts.append((operation, ""))
    provider = _text(attrs, semconv.GEN_AI_PROVIDER_NAME, glyphs)
    requested = _text(attrs, semconv.GEN_AI_REQUEST_MODEL, glyphs)
    served = _text(attrs, semconv.GEN_AI_RESPONSE_MODEL, glyphs)
    if requested and served and served != requested:
        models = f"{requested} {glyphs.arrow} {served}"
    else:
        models = requested or served or ""
    if provider or models:
        facts.append((" ".join(part for part in (provider, models) if part), "cyan"))

    tokens = _token_fact(attrs)
    if tokens:
        facts.append((tokens, ""))
    ttfc = _number(attrs, semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK)
    if ttfc is not None:
        facts.append((f"first chunk {_format_duration(int(ttfc * 1e9), glyphs)}", ""))
    chunks = _number(attrs, semconv.STREAM_CHUNKS)
    if chunks is not None:
        facts.append((f"{_format_count(chunks)} chunks", ""))
    rate = _number(attrs, semconv.STREAM_TOKENS_PER_SECOND)
    if rate is not None:
        facts.append((f"{rate:,.1f} tok/s" if rate < 100 else f"{rate:,.0f} tok/s", ""))
    reasons = attrs.get(semconv.GEN_AI_RESPONSE_FINISH_REASONS)
    if isinstance(reasons, (list, tuple)) and any(r != "stop" for r in reasons):
        style: Style = "red" if semconv.FINISH_REASON_ERROR in reasons else "yellow"
        facts.append(
            (f"finish {_text(attrs, semconv.GEN_AI_RESPONSE_FINISH_REASONS, glyphs)}", style)
        )

    facts.extend(_tokenizer_facts(attrs, glyphs))
    facts.extend(_route_facts(attrs, glyphs))

    hit = attrs.get(semconv.CACHE_HIT)
    if isinstance(hit, bool):
        facts.append(("hit", "green") if hit else ("miss", "yellow"))
    cost = _number(attrs, semconv.COST_USD)
    if cost is not None:
        facts.append((_format_cost(cost), "magenta"))
    return facts


def _token_fact(attrs: Mapping[str, AttributeValue]) -> str | None:
    inp = _number(attrs, semconv.GEN_AI_USAGE_INPUT_TOKENS)
    out = _number(attrs, semconv.GEN_AI_USAGE_OUTPUT_TOKENS)
    if inp is None and out is None:
        return None
    parts: list[str] = []
    if inp is not None:
        cached = _number(attrs, semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS)
        extra = f" ({_format_count(cached)} cached)" if cached else ""
        parts.append(f"{_format_count(inp)} in{extra}")
    if out is not None:
        reasoning = _number(attrs, semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS)
        extra = f" ({_format_count(reasoning)} reasoning)" if reasoning else ""
        parts.append(f"{_format_count(out)} out{extra}")
    return " / ".join(parts) + " tokens"


def _tokenizer_facts(
    attrs: Mapping[str, AttributeValue], glyphs: _Glyphs
) -> list[tuple[str, Style]]:
    facts: list[tuple[str, Style]] = []
    name = _text(attrs, semconv.TOKENIZER_NAME, glyphs)
    if name:
        facts.append((name, "cyan"))
    tokens = _number(attrs, semconv.TOKENIZER_TOKENS)
    estimated = attrs.get(semconv.TOKENIZER_ESTIMATED) is True
    if tokens is not None:
        approx = glyphs.approx if estimated else ""
        facts.append((f"{approx}{_format_count(tokens)} tokens", ""))
    if estimated:
        facts.append(("estimated", "yellow"))
    chars = _number(attrs, semconv.TOKENIZER_INPUT_CHARS)
    if chars is not None:
        facts.append((f"{_format_count(chars)} chars", "dim"))
    chunks = _number(attrs, semconv.TOKENIZER_CHUNKS)
    if chunks is not None:
        facts.append((f"{_format_count(chunks)} chunks", ""))
    if attrs.get(semconv.TOKENIZER_TRUNCATED) is True:
        original = _number(attrs, semconv.TOKENIZER_ORIGINAL_TOKENS)
        kept = _number(attrs, semconv.TOKENIZER_TOKENS)
        if original is not None and kept is not None:
            detail = f" {_format_count(original)} {glyphs.arrow} {_format_count(kept)}"
        else:
            detail = ""
        facts.append((f"TRUNCATED{detail}", "yellow"))
    else:
        budget = _number(attrs, semconv.TOKENIZER_MAX_TOKENS)
        if budget is not None:
            facts.append((f"max {_format_count(budget)}", "dim"))
    return facts


def _route_facts(attrs: Mapping[str, AttributeValue], glyphs: _Glyphs) -> list[tuple[str, Style]]:
    facts: list[tuple[str, Style]] = []
    requested = _text(attrs, semconv.ROUTE_REQUESTED_MODEL, glyphs)
    if requested:
        facts.append((f"asked {requested}", "cyan"))
    selected = _text(attrs, semconv.ROUTE_SELECTED_MODEL, glyphs)
    if selected:
        reason = _text(attrs, semconv.ROUTE_REASON, glyphs)
        facts.append((f"selected {selected}" + (f" ({reason})" if reason else ""), "green"))
    attempts = _number(attrs, semconv.ROUTE_ATTEMPTS)
    if attempts is not None:
        facts.append((f"{_format_count(attempts)} attempt{'s' if attempts != 1 else ''}", ""))
    fallbacks = _number(attrs, semconv.ROUTE_FALLBACKS)
    if fallbacks:
        facts.append(
            (f"{_format_count(fallbacks)} fallback{'s' if fallbacks != 1 else ''}", "yellow")
        )
    return facts


def _event_lines(span: ReadableSpan, glyphs: _Glyphs) -> list[tuple[str, Style]]:
    """Sub-lines for the events worth seeing: fallbacks and exceptions."""
    lines: list[tuple[str, Style]] = []
    events: Sequence[Event] = span.events or ()
    saw_exception = False
    for event in events:
        attrs: Mapping[str, AttributeValue] = event.attributes or {}
        if event.name == semconv.EVENT_FALLBACK:
            source = _text(attrs, semconv.ROUTE_FALLBACK_FROM, glyphs) or "?"
            target = _text(attrs, semconv.ROUTE_FALLBACK_TO, glyphs) or "?"
            line = f"{glyphs.fallback} fallback {source} {glyphs.arrow} {target}"
            reason = _text(attrs, semconv.ROUTE_FALLBACK_REASON, glyphs)
            error = _text(attrs, semconv.ERROR_TYPE, glyphs)
            if reason:
                line += f": {reason}"
            if error:
                line += f" [{error}]"
            lines.append((line, "yellow"))
        elif event.name == _EXCEPTION_EVENT:
            saw_exception = True
            kind = _text(attrs, _EXCEPTION_TYPE, glyphs) or "exception"
            message = str(attrs.get(semconv.EXCEPTION_MESSAGE, "") or "")
            first = message.strip().splitlines()[0] if message.strip() else ""
            text = f"{kind}: {_clean(first, _MESSAGE_LIMIT, glyphs)}" if first else kind
            lines.append((f"{glyphs.cross} {text}", "red"))
    description = span.status.description
    if _span_failed(span) and description and not saw_exception:
        lines.append((f"{glyphs.cross} {_clean(description, _MESSAGE_LIMIT, glyphs)}", "red"))
    return lines


# -- the tree ----------------------------------------------------------------------------
def _start(span: ReadableSpan) -> tuple[int, int]:
    return (span.start_time or 0, span.end_time or 0)


def _duration_ns(span: ReadableSpan) -> int:
    if span.start_time is None or span.end_time is None:
        return 0
    return span.end_time - span.start_time


def _rows(spans: Sequence[ReadableSpan], glyphs: _Glyphs) -> list[_Row]:
    """Depth-first rows: roots (spans whose parent is not here) and their children by start."""
    by_id: dict[int, ReadableSpan] = {}
    for span in spans:
        if span.context is not None:
            by_id.setdefault(span.context.span_id, span)
    children: dict[int, list[ReadableSpan]] = {}
    roots: list[ReadableSpan] = []
    for span in spans:
        parent = span.parent
        own = span.context.span_id if span.context is not None else None
        if parent is not None and parent.span_id in by_id and parent.span_id != own:
            children.setdefault(parent.span_id, []).append(span)
        else:
            roots.append(span)
    for group in children.values():
        group.sort(key=_start)
    roots.sort(key=_start)

    top = {id(root) for root in roots}
    rows: list[_Row] = []
    seen: set[int] = set()
    # An explicit stack: deep traces must not hit the recursion limit.
    stack: list[tuple[ReadableSpan, str, str]] = [(root, "", "") for root in reversed(roots)]
    while stack:
        span, prefix, child_prefix = stack.pop()
        if id(span) in seen:
            continue
        seen.add(id(span))
        kids = children.get(span.context.span_id, []) if span.context is not None else []
        facts = _facts(span, glyphs)
        parent = span.parent
        if parent is not None and not parent.is_remote and id(span) in top:
            facts.append((f"parent {format_span_id(parent.span_id)} not in view", "dim"))
        rows.append(
            _Row(
                prefix=prefix,
                name=_clean(span.name, _NAME_LIMIT, glyphs),
                top=id(span) in top,
                failed=_span_failed(span),
                duration=_format_duration(_duration_ns(span), glyphs),
                facts=facts,
                sub_prefix=child_prefix + (glyphs.pipe if kids else glyphs.blank),
                sub_lines=_event_lines(span, glyphs),
            )
        )
        for index in range(len(kids) - 1, -1, -1):
            last = index == len(kids) - 1
            stack.append(
                (
                    kids[index],
                    child_prefix + (glyphs.last if last else glyphs.tee),
                    child_prefix + (glyphs.blank if last else glyphs.pipe),
                )
            )
    return rows


def _header(batch: _Batch, glyphs: _Glyphs, color: bool) -> str:
    spans = batch.spans
    services = list(
        dict.fromkeys(
            str(span.resource.attributes.get(SERVICE_NAME, "unknown_service"))
            for span in spans
            if span.resource is not None
        )
    )
    first = min((s.start_time for s in spans if s.start_time is not None), default=None)
    sep = f" {_paint(glyphs.sep, 'dim', color)} "
    parts = [
        f"{_paint('trace', 'dim', color)} {_paint(format_trace_id(batch.trace_id), 'bold', color)}"
    ]
    if services:
        parts.append(
            _paint(", ".join(_clean(s, _VALUE_LIMIT, glyphs) for s in services), "cyan", color)
        )
    parts.append(f"{len(spans)} span{'s' if len(spans) != 1 else ''}")
    if first is not None:
        stamp = datetime.fromtimestamp(first / 1e9).strftime("%H:%M:%S.%f")[:-3]
        parts.append(_paint(stamp, "dim", color))
    if batch.note:
        parts.append(_paint(batch.note, "yellow", color))
    return sep.join(parts) + "\n"


def _render_trace(batch: _Batch, glyphs: _Glyphs, color: bool) -> str:
    """The header, one aligned line per span and its event sub-lines, and a blank line."""
    rows = _rows(batch.spans, glyphs)
    width = min(max((len(r.prefix) + len(r.name) for r in rows), default=0), _NAME_COLUMN)
    dur_width = max((len(r.duration) for r in rows), default=0)
    sep = f" {_paint(glyphs.sep, 'dim', color)} "
    out = [_header(batch, glyphs, color)]
    for row in rows:
        pad = " " * max(width - len(row.prefix) - len(row.name), 0)
        name_style: Style = "error" if row.failed else ("bold" if row.top else "")
        line = (
            _paint(row.prefix, "dim", color)
            + _paint(row.name, name_style, color)
            + pad
            + "  "
            + row.duration.rjust(dur_width)
        )
        if row.facts:
            line += "  " + sep.join(_paint(text, style, color) for text, style in row.facts)
        out.append(line + "\n")
        for text, style in row.sub_lines:
            out.append(_paint(row.sub_prefix, "dim", color) + _paint(text, style, color) + "\n")
    out.append("\n")
    return "".join(out)
