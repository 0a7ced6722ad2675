"""Differential harness for the hostile-input tests: one case, run without and with otel-llm.

``Differential.check(run)`` runs ``run()`` with the library uninstrumented, then
instrumented (the instrumentor's own ``instrument()`` / ``uninstrument()``), and asserts the
caller saw the same thing both times: an equal result (the type and ``repr`` of what was
returned, every chunk of a stream) or the same exception type with the same message. It
also checks that every telemetry error swallowed during the instrumented run was counted
(``otel_llm.instrumentation.errors`` equals the number of "swallowed" debug records) and
that no stream was left open. Each checked case is counted; the totals are printed at the
end of the run ("hostile-input cases").
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import strategies as st

from otel_llm import _runtime, semconv
from otel_llm._settings import CAPTURE_MODES
from otel_llm.testing import Capture

CASES: Counter[str] = Counter()
"""Differential cases checked in this run, per test (without parametrisation)."""
SWALLOWED: Counter[str] = Counter()
"""Telemetry errors otel-llm swallowed (and counted) in those cases, per test."""
KINDS: Counter[str] = Counter()
"""What was swallowed: component and exception, for the summary."""
FIGURES: list[str] = []
"""Measured figures (throughput, counts) tests report, printed at the end of the run."""

DELETE = object()
"""A mutation value meaning: remove the key."""


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``slow`` marker (the long-stream and 10 MB tests)."""
    config.addinivalue_line("markers", "slow: long-stream / 10 MB reliability tests")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the reported figures, and how many hostile-input cases were checked."""
    if FIGURES:
        terminalreporter.section("reliability figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
    if not CASES:
        return
    terminalreporter.section("hostile-input cases")
    terminalreporter.write_line("  cases  swallowed errors  test")
    for name, count in sorted(CASES.items()):
        terminalreporter.write_line(f"{count:7d}  {SWALLOWED[name]:16d}  {name}")
    terminalreporter.write_line(f"{sum(CASES.values()):7d}  {sum(SWALLOWED.values()):16d}  total")
    for kind, count in KINDS.most_common(30):
        terminalreporter.write_line(f"{count:7d}  swallowed: {kind}")


# -- outcomes ----------------------------------------------------------------------------
def snapshot(value: Any) -> Any:
    """A comparable picture of what the caller got: type name and repr.

    ``repr`` of the SDKs' pydantic models lists every field (also of models built from
    malformed payloads, which ``model_dump`` would warn about); for a raw response object
    the parsed body stands in.
    """
    return (type(value).__qualname__, repr(value))


def error(exc: BaseException) -> tuple[str, str, str]:
    """How an exception looks to the caller: its class, its message."""
    return ("raised", f"{type(exc).__module__}.{type(exc).__qualname__}", str(exc))


def drain(iterable: Any) -> list[Any]:
    """Every item of a sync stream, then how it ended (exhausted or an exception)."""
    items: list[Any] = []
    try:
        for item in iterable:
            items.append(snapshot(item))
    except Exception as exc:
        items.append(error(exc))
    return items


async def adrain(iterable: Any) -> list[Any]:
    """The async counterpart of :func:`drain`."""
    items: list[Any] = []
    try:
        async for item in iterable:
            items.append(snapshot(item))
    except Exception as exc:
        items.append(error(exc))
    return items


def outcome(call: Callable[[], Any]) -> Any:
    """``call()``'s snapshot, or its exception as :func:`error`."""
    try:
        return call()
    except Exception as exc:
        return error(exc)


# -- error accounting ---------------------------------------------------------------------
class _Swallowed(logging.Handler):
    """Counts otel-llm's "swallowed a telemetry error" debug records."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "swallowed" in record.getMessage():
            self.records.append(record)


@dataclass
class Differential:
    """Runs cases without and with an instrumentor; see the module docstring."""

    capture: Capture
    toggle: tuple[Callable[[], None], Callable[[], None]]
    name: str
    swallowed: _Swallowed = field(default_factory=_Swallowed)
    spans: int = 0
    """otel-llm spans the last instrumented run finished."""

    def check(self, run: Callable[[], Any], *, expect_no_errors: bool = False) -> Any:
        """Assert ``run()`` gives the caller the same outcome with and without otel-llm.

        Returns the instrumented outcome. ``expect_no_errors``: the input is well formed
        (odd but valid), so otel-llm must read it without a single swallowed error.
        """
        instrument, uninstrument = self.toggle
        uninstrument()
        reference = run()
        logger = logging.getLogger("otel_llm")
        level = logger.level
        logger.setLevel(logging.DEBUG)
        logger.addHandler(self.swallowed)
        self.swallowed.records.clear()
        before = self.counted()
        active = self.active_streams()
        spans_before = self.our_spans()
        instrument()
        try:
            observed = run()
        finally:
            uninstrument()
            logger.removeHandler(self.swallowed)
            logger.setLevel(level)
        CASES[self.name] += 1
        assert observed == reference, "the instrumented call differs from the plain one"
        self.spans = self.our_spans() - spans_before
        counted = self.counted() - before
        SWALLOWED[self.name] += int(counted)
        for record in self.swallowed.records:
            exc = record.exc_info[1] if record.exc_info else None
            where = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            KINDS[f"{where}: {type(exc).__name__}: {str(exc)[:90]}"] += 1
        swallowed = [r.getMessage() for r in self.swallowed.records]
        assert counted == len(swallowed), f"swallowed {swallowed}, counted {counted}"
        if expect_no_errors:
            details = [
                f"{r.getMessage()}: {r.exc_info[1]!r}" for r in self.swallowed.records if r.exc_info
            ]
            assert counted == 0, f"odd but valid input caused telemetry errors: {details}"
        assert self.active_streams() == active, "a stream was left open"
        return observed

    def our_spans(self) -> int:
        """Finished otel-llm spans so far (SDKs' own spans left out)."""
        return sum(1 for s in self.capture.spans() if s.instrumentation_scope.name == "otel_llm")

    def counted(self) -> float:
        """``otel_llm.instrumentation.errors`` so far."""
        return self.capture.metric_sum(semconv.METRIC_INSTRUMENTATION_ERRORS)

    def active_streams(self) -> float:
        """The ``otel_llm.stream.active`` up-down counter so far."""
        return self.capture.metric_sum(semconv.METRIC_STREAM_ACTIVE)


@pytest.fixture
def differential(request: pytest.FixtureRequest, otel_capture: Capture) -> Iterator[Any]:
    """A factory: ``differential(instrumentor)`` -> :class:`Differential` for this test."""
    made: list[Any] = []

    def make(instrumentor: Any, **options: Any) -> Differential:
        def instrument() -> None:
            instrumentor.instrument(**options)

        def uninstrument() -> None:
            if instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.uninstrument()

        module = request.node.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
        name = f"{module}::{request.node.originalname or request.node.name}"
        diff = Differential(otel_capture, (instrument, uninstrument), name)
        made.append(uninstrument)
        return diff

    yield make
    for uninstrument in made:
        uninstrument()


# -- payload mutation -------------------------------------------------------------------
WRONG = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(["\ud800", "\x00", "é" * 3, "9" * 30]),
    st.lists(st.one_of(st.integers(), st.text(max_size=4), st.none()), max_size=3),
    st.dictionaries(st.text(max_size=6), st.one_of(st.integers(), st.none()), max_size=3),
)
"""Values of unexpected types (and odd values of the expected ones) for any field."""

ODD_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "\n\n", "\u200b", "😀" * 5, "\x00", "[DONE]", "data: x"]),
)
"""Valid strings a field can hold that nobody tests with."""

FINISH = st.one_of(
    st.sampled_from(["stop", "length", "tool_calls", "content_filter", "function_call"]),
    st.sampled_from(["", "eos", "end_turn", "max_tokens", "UNKNOWN", "stop_sequence"]),
    st.text(max_size=20),
)
"""Known and unknown finish reasons."""

COUNT = st.one_of(st.integers(min_value=0, max_value=2**63 - 1), st.just(0))
"""Token counts within the API's integer range (big ones included)."""


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if prefix:
        yield prefix
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(obj, list):
        for index, value in enumerate(obj):
            yield from _paths(value, (*prefix, index))


def _set(obj: Any, path: tuple[Any, ...], value: Any) -> None:
    parent = obj
    for key in path[:-1]:
        parent = parent[key]
    if value is DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value


def hostile(data: st.DataObject, payload: Any, max_edits: int = 3) -> Any:
    """``payload`` with up to ``max_edits`` fields deleted or set to a value of any type."""
    result = copy.deepcopy(payload)
    for _ in range(data.draw(st.integers(0, max_edits), label="edits")):
        paths = list(_paths(result))
        if not paths:
            break
        path = data.draw(st.sampled_from(paths), label="path")
        _set(result, path, data.draw(st.one_of(st.just(DELETE), WRONG), label="value"))
    return result


def odd(data: st.DataObject, payload: Any, edits: dict[tuple[Any, ...], Any]) -> Any:
    """``payload`` with some of ``edits`` (path -> strategy of valid values or DELETE) applied."""
    result = copy.deepcopy(payload)
    chosen = data.draw(
        st.lists(st.sampled_from(sorted(edits, key=repr)), unique=True, max_size=4),
        label="odd fields",
    )
    for path in chosen:
        try:
            _set(result, path, data.draw(edits[path], label=repr(path)))
        except (KeyError, IndexError, TypeError):  # an earlier edit removed the parent
            continue
    return result


# -- SDK endpoints served by MockTransport ----------------------------------------------------
SSE = "text/event-stream; charset=utf-8"
JSON = "application/json"
ClientFactory = Callable[[bytes, int, str, bool], Any]
"""(body, status, content type, asynchronous) -> an SDK client answered with that body."""


@dataclass(frozen=True)
class Endpoint:
    """One way an application calls an SDK, the recorded payload it answers, its odd edits."""

    name: str
    client: ClientFactory
    call: Callable[[Any], Any]
    acall: Callable[[Any], Any]
    payload: Callable[[], Any]
    edits: dict[tuple[Any, ...], Any]
    streamed: bool = False

    def run(self, body: bytes, *, status: int = 200, content_type: str | None = None,
            asynchronous: bool = False) -> Callable[[], Any]:  # fmt: skip
        """A zero-argument case: serve ``body`` and call the endpoint like an application."""
        kind = content_type or (SSE if self.streamed else JSON)

        def case() -> Any:
            if asynchronous:

                async def go() -> Any:
                    client = self.client(body, status, kind, True)
                    try:
                        return await self.acall(client)
                    except Exception as exc:
                        return error(exc)
                    finally:
                        await client.close()

                return asyncio.run(go())
            client = self.client(body, status, kind, False)
            try:
                return self.call(client)
            except Exception as exc:
                return error(exc)
            finally:
                client.close()

        return case

    def __repr__(self) -> str:
        return self.name


def final(get: Callable[[], Any]) -> Any:
    """The snapshot of a stream helper's final object (``get_final_...``), or its error."""
    try:
        return snapshot(get())
    except Exception as exc:
        return error(exc)


async def afinal(get: Callable[[], Awaitable[Any]]) -> Any:
    """The async counterpart of :func:`final`."""
    try:
        return snapshot(await get())
    except Exception as exc:
        return error(exc)


def setup(data: st.DataObject, differential: Callable[..., Differential],
          instrumentor: Any) -> tuple[Differential, bool]:  # fmt: skip
    """The differential runner for ``instrumentor``, a drawn capture mode, sync or async."""
    _runtime.RT.capture = data.draw(st.sampled_from(CAPTURE_MODES), label="capture")
    return differential(instrumentor), data.draw(st.booleans(), label="async")


def events_of(data: st.DataObject, events: list[Any], mutate: Callable[[Any], Any]) -> list[Any]:
    """SSE ``(name, data)`` events with some dropped and some of the dicts mutated."""
    out = []
    for name, body in events:
        if data.draw(st.integers(0, 9), label="drop?") == 0:
            continue
        if isinstance(body, dict) and data.draw(st.integers(0, 2), label="mutate?") == 0:
            body = mutate(body)
        out.append((name, body))
    return out


def frame(events: list[tuple[str | None, Any]]) -> bytes:
    """An SSE body from ``(event name or None, data)`` pairs (non-strings become JSON)."""
    out = []
    for name, data in events:
        text = data if isinstance(data, str) else json.dumps(data)
        out.append((f"event: {name}\n" if name else "") + f"data: {text}\n\n")
    return "".join(out).encode()
