"""The console trace view: tree layout, attributes, colour, encoding, buffering, threads."""

from __future__ import annotations

import io
import itertools
import logging
import re
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import NonRecordingSpan, SpanContext, Status, StatusCode, TraceFlags
from opentelemetry.util.types import AttributeValue

import otel_llm
from otel_llm import semconv as S
from otel_llm._console import ConsoleTreeSpanExporter
from otel_llm.testing import Capture

T0 = 1_700_000_000_000_000_000
"""Start of every hand-made trace (ns since the epoch)."""
US = 1_000
MS = 1_000_000
HEADER_TIME = re.compile(r" · \d\d:\d\d:\d\d\.\d{3}")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


class _SequentialIds(IdGenerator):
    """Predictable trace and span ids so the printed tree can be pinned exactly."""

    def __init__(self) -> None:
        self._traces = itertools.count(0x5EED0001)
        self._spans = itertools.count(0xA1)

    def generate_span_id(self) -> int:
        return next(self._spans)

    def generate_trace_id(self) -> int:
        return next(self._traces)


class _Pipeline:
    """A local SDK TracerProvider whose spans go to one console exporter."""

    def __init__(self, stream: io.TextIOBase | None = None, **kwargs: object) -> None:
        self.stream = stream if stream is not None else io.StringIO()
        self.exporter = ConsoleTreeSpanExporter(self.stream, **kwargs)  # type: ignore[arg-type]
        self.provider = TracerProvider(
            resource=Resource.create({"service.name": "chat-api"}),
            id_generator=_SequentialIds(),
            shutdown_on_exit=False,
        )
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("tests")

    def start(
        self,
        name: str,
        at_ns: int,
        parent: trace.Span | None = None,
        attributes: Mapping[str, AttributeValue] | None = None,
        context: Context | None = None,
    ) -> trace.Span:
        ctx = trace.set_span_in_context(parent) if parent is not None else context
        return self.tracer.start_span(
            name, context=ctx, start_time=T0 + at_ns, attributes=attributes
        )

    def text(self) -> str:
        assert isinstance(self.stream, io.StringIO)
        return HEADER_TIME.sub("", self.stream.getvalue())


@pytest.fixture
def pipe() -> Iterator[_Pipeline]:
    """A plain-text pipeline writing to a StringIO."""
    pipeline = _Pipeline(color=False)
    yield pipeline
    pipeline.provider.shutdown()


@pytest.fixture(autouse=True)
def _no_colour_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests start without colour variables from the developer's shell."""
    monkeypatch.delenv(S.ENV_LLM_CONSOLE_COLOR, raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)


def _end(span: trace.Span, at_ns: int) -> None:
    span.end(end_time=T0 + at_ns)


def _routed_trace(p: _Pipeline) -> None:
    """route -> cache lookup, tokenizer, failed attempt (with a nested count), streamed attempt."""
    route = p.start("route cost-router", 0, attributes={S.ROUTE_NAME: "cost-router"})
    cache = p.start("cache.lookup prompt-cache", 200 * US, route, {S.CACHE_NAME: "prompt-cache"})
    cache.set_attribute(S.CACHE_HIT, False)
    truncate = p.start(
        "tokenizer.truncate",
        1 * MS,
        route,
        {
            S.TOKENIZER_NAME: "cl100k_base",
            S.TOKENIZER_INPUT_CHARS: 9120,
            S.TOKENIZER_MAX_TOKENS: 512,
        },
    )
    truncate.set_attributes(
        {S.TOKENIZER_TOKENS: 512, S.TOKENIZER_TRUNCATED: True, S.TOKENIZER_ORIGINAL_TOKENS: 2048}
    )
    first = p.start(
        "chat gpt-4o",
        2 * MS,
        route,
        {S.GEN_AI_OPERATION_NAME: "chat", S.GEN_AI_PROVIDER_NAME: "openai",
         S.GEN_AI_REQUEST_MODEL: "gpt-4o"},
    )  # fmt: skip
    count = p.start("tokenizer.count", 3 * MS, first, {S.TOKENIZER_NAME: "o200k_base"})
    count.set_attribute(S.TOKENIZER_TOKENS, 1042)
    first.record_exception(RuntimeError("Rate limit reached\nretry after 20s"))
    first.set_attribute(S.ERROR_TYPE, "RateLimitError")
    first.set_status(Status(StatusCode.ERROR, "RuntimeError: Rate limit reached"))
    route.add_event(
        S.EVENT_FALLBACK,
        {S.ROUTE_FALLBACK_FROM: "gpt-4o", S.ROUTE_FALLBACK_TO: "gpt-4o-mini",
         S.ROUTE_FALLBACK_REASON: "rate_limited", S.ERROR_TYPE: "RateLimitError"},
    )  # fmt: skip
    stream = p.start(
        "chat gpt-4o-mini",
        403 * MS,
        route,
        {S.GEN_AI_OPERATION_NAME: "chat", S.GEN_AI_PROVIDER_NAME: "openai",
         S.GEN_AI_REQUEST_MODEL: "gpt-4o-mini", S.GEN_AI_REQUEST_STREAM: True},
    )  # fmt: skip
    stream.set_attributes(
        {S.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini-2024-07-18", S.GEN_AI_USAGE_INPUT_TOKENS: 1042,
         S.GEN_AI_USAGE_OUTPUT_TOKENS: 87, S.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 512,
         S.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: 0.181, S.STREAM_CHUNKS: 88,
         S.STREAM_TOKENS_PER_SECOND: 61.3, S.GEN_AI_RESPONSE_FINISH_REASONS: ["stop"],
         S.COST_USD: 0.000207}
    )  # fmt: skip
    route.set_attributes(
        {S.ROUTE_SELECTED_MODEL: "gpt-4o-mini", S.ROUTE_REASON: "fallback",
         S.ROUTE_ATTEMPTS: 2, S.ROUTE_FALLBACKS: 1}
    )  # fmt: skip
    # End order differs from start order on purpose: the tree must sort by start time.
    _end(stream, 1515 * MS)
    _end(truncate, 1 * MS + 740 * US)
    _end(count, 3 * MS + 12 * US)
    _end(first, 402 * MS)
    _end(cache, 231 * US)
    _end(route, 1520 * MS)


EXPECTED_ROUTED = """\
trace 0000000000000000000000005eed0001 · chat-api · 6 spans
route cost-router             1.52s  selected gpt-4o-mini (fallback) · 2 attempts · 1 fallback
│  ↪ fallback gpt-4o → gpt-4o-mini: rate_limited [RateLimitError]
├─ cache.lookup prompt-cache   31µs  miss
├─ tokenizer.truncate         740µs  cl100k_base · 512 tokens · 9,120 chars · TRUNCATED 2,048 → 512
├─ chat gpt-4o                400ms  ✗ RateLimitError · openai gpt-4o
│  │  ✗ RuntimeError: Rate limit reached
│  └─ tokenizer.count          12µs  o200k_base · 1,042 tokens
└─ chat gpt-4o-mini           1.11s  openai gpt-4o-mini → gpt-4o-mini-2024-07-18 · 1,042 in (512 cached) / 87 out tokens · first chunk 181ms · 88 chunks · 61.3 tok/s · $0.000207

"""  # noqa: E501


def test_nested_trace_prints_as_tree_in_start_order(pipe: _Pipeline) -> None:
    """A routed trace prints once, when its root ends, as a start-ordered tree with key facts."""
    _routed_trace(pipe)
    assert pipe.text() == EXPECTED_ROUTED
    assert pipe.exporter.buffered_spans == 0


def test_nothing_printed_before_the_root_ends(pipe: _Pipeline) -> None:
    """Finished children wait in the buffer until their local root ends."""
    root = pipe.start("agent", 0)
    _end(pipe.start("tokenizer.count", 1 * MS, root), 2 * MS)
    assert pipe.text() == ""
    assert pipe.exporter.buffered_spans == 1
    _end(root, 3 * MS)
    assert pipe.text().splitlines()[1:3] == [
        "agent               3.00ms",
        "└─ tokenizer.count  1.00ms",
    ]


def test_error_without_exception_event_shows_status_description(pipe: _Pipeline) -> None:
    """An ERROR status set without an exception shows error.type and the description."""
    span = pipe.start("chat m", 0, attributes={S.GEN_AI_REQUEST_MODEL: "m"})
    span.set_attribute(S.ERROR_TYPE, "429")
    span.set_status(Status(StatusCode.ERROR, "Too Many Requests"))
    _end(span, 5 * MS)
    assert pipe.text().splitlines()[1:] == [
        "chat m  5.00ms  ✗ 429 · m",
        "   ✗ Too Many Requests",
        "",
    ]


def test_aborted_stream_shows_finish_reason_error(pipe: _Pipeline) -> None:
    """A cancelled stream shows its error.type and the ``error`` finish reason."""
    span = pipe.start("chat m", 0)
    span.set_attributes(
        {S.ERROR_TYPE: S.ERROR_CANCELLED, S.GEN_AI_RESPONSE_FINISH_REASONS: ["error"],
         S.STREAM_CHUNKS: 3}
    )  # fmt: skip
    span.set_status(Status(StatusCode.ERROR))
    _end(span, 2 * MS)
    assert pipe.text().splitlines()[1] == "chat m  2.00ms  ✗ cancelled · 3 chunks · finish error"


def test_durations_pick_a_readable_unit(pipe: _Pipeline) -> None:
    """Durations print as µs, ms, s or minutes depending on size."""
    root = pipe.start("root", 0)
    for index, length in enumerate([740, 12_345 * US, 123_400 * US, 1_520 * MS, 125_000 * MS]):
        _end(pipe.start(f"s{index}", index, root), index + length)
    _end(root, 200_000 * MS)
    durations = [line.split()[-1] for line in pipe.text().splitlines()[1:-1]]
    assert durations == ["3m20s", "0.7µs", "12.3ms", "123ms", "1.52s", "2m05s"]


def test_plain_text_when_stream_is_not_a_tty() -> None:
    """Auto colour on a non-terminal stream writes no escape codes."""
    pipeline = _Pipeline()
    span = pipeline.start("chat m", 0)
    span.set_status(Status(StatusCode.ERROR, "boom"))
    _end(span, 1 * MS)
    assert "\x1b[" not in pipeline.stream.getvalue()  # type: ignore[attr-defined]
    assert "chat m" in pipeline.text()


class _Terminal(io.StringIO):
    """A StringIO that says it is a terminal, like stderr in an interactive shell."""

    def isatty(self) -> bool:
        return True


def _colour_output(
    monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str], **kwargs: object
) -> str:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    pipeline = _Pipeline(_Terminal(), **kwargs)
    span = pipeline.start("chat m", 0)
    span.set_attribute(S.ERROR_TYPE, "TimeoutError")
    span.set_status(Status(StatusCode.ERROR))
    _end(span, 1 * MS)
    return pipeline.stream.getvalue()  # type: ignore[attr-defined,no-any-return]


@pytest.mark.parametrize(
    ("env", "kwargs", "coloured"),
    [
        ({}, {}, True),
        ({"NO_COLOR": "1"}, {}, False),
        ({S.ENV_LLM_CONSOLE_COLOR: "never"}, {}, False),
        ({S.ENV_LLM_CONSOLE_COLOR: "always", "NO_COLOR": "1"}, {}, True),
        ({S.ENV_LLM_CONSOLE_COLOR: "always"}, {"color": False}, False),
    ],
)
def test_colour_on_a_terminal_follows_no_color_and_env(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], kwargs: dict[str, object], coloured: bool
) -> None:
    """On a TTY colour is on unless NO_COLOR or the env var says otherwise; color= wins."""
    text = _colour_output(monkeypatch, env, **kwargs)
    assert ("\x1b[1;31m✗ TimeoutError\x1b[0m" in text) is coloured
    assert ("\x1b[" in text) is coloured


def test_colour_when_forced_on_a_plain_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    """color=True and OTEL_LLM_CONSOLE_COLOR=always colour a non-TTY stream; text survives."""
    for by_argument in (True, False):
        if by_argument:
            pipeline = _Pipeline(color=True)
        else:
            monkeypatch.setenv(S.ENV_LLM_CONSOLE_COLOR, "ALWAYS")
            pipeline = _Pipeline()
        span = pipeline.start("cache.lookup c", 0, attributes={S.CACHE_HIT: True})
        _end(span, 1 * MS)
        raw = pipeline.stream.getvalue()  # type: ignore[attr-defined]
        assert "\x1b[32mhit\x1b[0m" in raw
        assert "\x1b[1mcache.lookup c\x1b[0m" in raw
        assert (
            HEADER_TIME.sub("", ANSI.sub("", raw)).splitlines()[1] == "cache.lookup c  1.00ms  hit"
        )


def test_bad_colour_variable_warns_once_and_uses_auto(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An unknown OTEL_LLM_CONSOLE_COLOR value warns with the allowed values; auto applies."""
    monkeypatch.setenv(S.ENV_LLM_CONSOLE_COLOR, "rainbow")
    with caplog.at_level(logging.WARNING, logger="otel_llm"):
        pipeline = _Pipeline()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert S.ENV_LLM_CONSOLE_COLOR in warnings[0]
    assert "auto|always|never" in warnings[0]
    _end(pipeline.start("x", 0), 1)
    assert "\x1b[" not in pipeline.stream.getvalue()  # type: ignore[attr-defined]


def test_ascii_fallback_when_the_stream_cannot_encode_box_drawing() -> None:
    """An ASCII stream gets ASCII tree glyphs; unencodable names are escaped, not fatal."""
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii", write_through=True)
    pipeline = _Pipeline(stream, color=False)
    root = pipeline.start("route r", 0, attributes={S.ROUTE_SELECTED_MODEL: "b"})
    root.add_event(S.EVENT_FALLBACK, {S.ROUTE_FALLBACK_FROM: "a", S.ROUTE_FALLBACK_TO: "b"})
    _end(pipeline.start("chat a", 1 * MS, root), 2 * MS)
    _end(pipeline.start("résumé ✓", 3 * MS, root), 3 * MS + 5 * US)
    _end(root, 4 * MS)
    lines = HEADER_TIME.sub("", raw.getvalue().decode("ascii").replace(" | ", " · ")).splitlines()
    assert lines[1:] == [
        "route r                 4.00ms  selected b",
        "|  > fallback a -> b",
        "|- chat a               1.00ms",
        "`- r\\xe9sum\\xe9 \\u2713   5.0us",
        "",
    ]


def test_control_characters_in_names_are_escaped(pipe: _Pipeline) -> None:
    """A span name cannot inject newlines or escape sequences into the terminal."""
    _end(pipe.start("evil\n\x1b[2Jname", 0), 1 * MS)
    assert pipe.text().splitlines()[1] == "evil\\n\\x1b[2Jname  1.00ms"


def test_buffer_cap_evicts_oldest_trace_as_incomplete() -> None:
    """Past max_traces the oldest waiting trace is printed as incomplete and counted."""
    pipeline = _Pipeline(color=False, max_traces=2)
    roots = [pipeline.start(f"root{i}", i * MS) for i in range(3)]
    for index, root in enumerate(roots):
        _end(pipeline.start(f"child{index}", index * MS + 1, root), index * MS + 2)
    exporter = pipeline.exporter
    assert exporter.evicted_traces == 1
    assert exporter.buffered_spans == 2
    lines = pipeline.text().splitlines()
    assert lines[0] == (
        "trace 0000000000000000000000005eed0001 · chat-api · 1 span · "
        "incomplete: buffer full, printed before its root"
    )
    assert lines[1].startswith("child0  ")
    assert "not in view" in lines[1]


def test_span_cap_bounds_a_root_that_never_ends() -> None:
    """A trace whose root never ends is printed and forgotten once it exceeds max_spans."""
    pipeline = _Pipeline(color=False, max_spans=50)
    root = pipeline.start("server", 0)
    for index in range(120):
        _end(pipeline.start("tokenizer.count", index * US, root), index * US + 1)
    assert pipeline.exporter.buffered_spans <= 50
    assert pipeline.exporter.evicted_traces == 2
    assert pipeline.text().count("incomplete: buffer full") == 2


def test_force_flush_prints_unfinished_trace_marked_incomplete(pipe: _Pipeline) -> None:
    """force_flush prints a trace whose root is still open; the root prints alone later."""
    root = pipe.start("agent", 0)
    _end(pipe.start("chat m", 1 * MS, root, {S.GEN_AI_REQUEST_MODEL: "m"}), 3 * MS)
    assert pipe.exporter.force_flush() is True
    first = pipe.text().splitlines()
    assert first[0].endswith("1 span · incomplete: root span not ended yet")
    assert (
        first[1] == f"chat m  2.00ms  m · parent {root.get_span_context().span_id:016x} not in view"
    )
    assert pipe.exporter.buffered_spans == 0
    _end(root, 4 * MS)
    assert pipe.text().splitlines()[3:5] == [
        "trace 0000000000000000000000005eed0001 · chat-api · 1 span",
        "agent  4.00ms",
    ]


def test_remote_parent_span_is_a_local_root(pipe: _Pipeline) -> None:
    """A span whose parent came over the wire ends its local trace and names the parent."""
    remote = SpanContext(
        trace_id=0xABC, span_id=0x1234, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED)
    )
    ctx = trace.set_span_in_context(NonRecordingSpan(remote))
    server = pipe.start("POST /chat", 0, context=ctx)
    _end(pipe.start("chat m", 1 * MS, server), 2 * MS)
    _end(server, 3 * MS)
    assert pipe.text().splitlines() == [
        "trace 00000000000000000000000000000abc · chat-api · 2 spans",
        "POST /chat  3.00ms  remote parent 0000000000001234",
        "└─ chat m   1.00ms",
        "",
    ]


def test_shutdown_flushes_then_refuses_spans(pipe: _Pipeline) -> None:
    """shutdown prints what is buffered; later exports fail and are counted, not printed."""
    root = pipe.start("agent", 0)
    _end(pipe.start("child", 1, root), 2)
    pipe.exporter.shutdown()
    pipe.exporter.shutdown()
    assert pipe.text().count("incomplete") == 1
    _end(root, 3)
    assert pipe.text().count("trace ") == 1
    assert pipe.exporter.dropped_spans == 1


def test_broken_stream_fails_the_export_without_raising() -> None:
    """A closed stream makes export report FAILURE instead of raising into the app."""
    stream = io.StringIO()
    exporter = ConsoleTreeSpanExporter(stream, color=False)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    stream.close()
    span = provider.get_tracer("t").start_span("x")
    span.end()
    assert isinstance(span, ReadableSpan)
    assert exporter.export([span]) is SpanExportResult.FAILURE


def test_invalid_limits_are_rejected() -> None:
    """Non-positive buffer limits raise a ValueError naming the argument."""
    with pytest.raises(ValueError, match="max_traces"):
        ConsoleTreeSpanExporter(io.StringIO(), max_traces=0)
    with pytest.raises(ValueError, match="max_spans"):
        ConsoleTreeSpanExporter(io.StringIO(), max_spans=0)


def test_concurrent_traces_print_whole_and_uninterleaved(pipe: _Pipeline) -> None:
    """Traces finished on many threads each print once, their lines kept together."""

    def work(worker: int) -> None:
        for item in range(25):
            root = pipe.tracer.start_span(f"job-{worker}-{item}")
            with trace.use_span(root, end_on_exit=True):
                for step in range(3):
                    pipe.tracer.start_span(f"step-{worker}-{item}-{step}").end()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    blocks = [b for b in pipe.text().split("\n\n") if b]
    assert len(blocks) == 8 * 25
    for block in blocks:
        lines = block.splitlines()
        job = lines[1].split()[0].removeprefix("job-")
        assert [line.split()[1] for line in lines[2:]] == [f"step-{job}-{s}" for s in range(3)]
    assert pipe.exporter.buffered_spans == 0


def test_default_stream_is_stderr_at_write_time(capsys: pytest.CaptureFixture[str]) -> None:
    """Without a stream the tree goes to whatever sys.stderr is when the trace ends."""
    exporter = ConsoleTreeSpanExporter(color=False)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    provider.get_tracer("t").start_span("hello").end()
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "\nhello  " in captured.err


def test_spans_from_the_public_api_render(otel_capture: Capture) -> None:
    """Spans recorded by otel_llm's own handles show their models, tokens and fallbacks."""
    with otel_llm.route("router", candidates=["a", "b"]) as r:
        with otel_llm.tokenize("count", tokenizer="cl100k_base", text="hello") as t:
            t.set_tokens(1)
        r.fallback("a", "b", reason="rate_limited")
        with otel_llm.generation(model="b", provider="openai", operation="chat") as g:
            g.set_response(model="b-1", input_tokens=3, output_tokens=2)
        r.select("b", reason="fallback")
    stream = io.StringIO()
    exporter = ConsoleTreeSpanExporter(stream, color=False)
    assert exporter.export(otel_capture.spans()) is SpanExportResult.SUCCESS
    lines = stream.getvalue().splitlines()
    assert " · otel-llm-tests · 3 spans · " in lines[0]
    assert lines[1].startswith("route router ")
    assert lines[1].endswith("selected b (fallback) · 1 attempt · 1 fallback")
    assert lines[2] == "│  ↪ fallback a → b: rate_limited"
    assert lines[3].startswith("├─ tokenizer.count ")
    assert "cl100k_base · 1 tokens" in lines[3]
    assert lines[4].startswith("└─ chat b ")
    assert lines[4].endswith("openai b → b-1 · 3 in / 2 out tokens")


def test_docs_example_matches_the_renderer(pipe: _Pipeline) -> None:
    """The tree shown in docs/console.md is what the exporter really prints."""
    _routed_trace(pipe)
    page = (Path(__file__).parents[2] / "docs" / "console.md").read_text(encoding="utf-8")
    example = page.split("```text\n", 1)[1].split("```", 1)[0]
    assert example.splitlines()[1:] == pipe.text().splitlines()[1:-1]


def test_child_ending_after_its_root_in_the_same_batch_stays_in_the_tree() -> None:
    """A batch holding a root and a child that ended after it prints one whole tree."""
    provider = TracerProvider(shutdown_on_exit=False, id_generator=_SequentialIds())
    tracer = provider.get_tracer("t")
    root = tracer.start_span("handler", start_time=T0)
    child = tracer.start_span(
        "chat m", context=trace.set_span_in_context(root), start_time=T0 + 1 * MS
    )
    root.end(end_time=T0 + 2 * MS)
    child.end(end_time=T0 + 5 * MS)  # e.g. a background stream finishing late
    stream = io.StringIO()
    exporter = ConsoleTreeSpanExporter(stream, color=False)
    assert isinstance(root, ReadableSpan)
    assert isinstance(child, ReadableSpan)
    assert exporter.export([root, child]) is SpanExportResult.SUCCESS
    assert HEADER_TIME.sub("", stream.getvalue()).splitlines()[1:3] == [
        "handler    2.00ms",
        "└─ chat m  4.00ms",
    ]
    assert exporter.buffered_spans == 0


def test_each_local_root_of_a_shared_trace_prints_its_own_tree(pipe: _Pipeline) -> None:
    """Two requests continuing one upstream trace print as two trees, one per local root."""
    remote = SpanContext(
        trace_id=0xABC, span_id=0x99, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED)
    )
    ctx = trace.set_span_in_context(NonRecordingSpan(remote))
    for index in range(2):
        server = pipe.start(f"POST /chat/{index}", index * 10 * MS, context=ctx)
        _end(pipe.start(f"chat m{index}", index * 10 * MS + 1, server), index * 10 * MS + 2)
        _end(server, index * 10 * MS + 3 * MS)
    blocks = [b.splitlines() for b in pipe.text().split("\n\n") if b]
    assert [len(b) for b in blocks] == [3, 3]
    assert [b[1].split()[1] for b in blocks] == ["/chat/0", "/chat/1"]
    assert [b[2].split()[2] for b in blocks] == ["m0", "m1"]
