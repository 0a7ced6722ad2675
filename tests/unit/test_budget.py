"""Budgets: soft and hard limits, concurrency bound, periods, scopes, gauges and stores."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace

import otel_llm
from otel_llm import BudgetUsage, InMemoryBudgetStore, set_budget_store
from otel_llm._budget import get_budget_store, global_budgets, window_of
from otel_llm.testing import Capture

# gpt-4o-mini: 1000 input x $0.15/1M + 1000 output x $0.60/1M
CALL_USD = Decimal("0.00075")


@pytest.fixture(autouse=True)
def _isolated_budgets() -> Iterator[None]:
    """Each test gets an empty in-memory store and leaves no global budget behind."""
    previous = get_budget_store()
    set_budget_store(InMemoryBudgetStore())
    yield
    for item in global_budgets():
        item.unregister()
    set_budget_store(previous)


class Clock:
    """A settable clock (epoch seconds) to drive period roll-over."""

    def __init__(self, iso: str) -> None:
        self.now = datetime.fromisoformat(iso).replace(tzinfo=timezone.utc).timestamp()

    def set(self, iso: str) -> None:
        """Jump to ``iso`` (UTC)."""
        self.now = datetime.fromisoformat(iso).replace(tzinfo=timezone.utc).timestamp()

    def __call__(self) -> float:
        return self.now


def call(tokens_in: int = 1000, tokens_out: int = 1000, model: str = "gpt-4o-mini") -> None:
    """One priced generation through the public API."""
    with otel_llm.generation(model=model, provider="openai") as g:
        g.set_response(input_tokens=tokens_in, output_tokens=tokens_out)


# -- soft and hard -----------------------------------------------------------------------------
def test_soft_budget_warns_once_adds_events_and_counts_every_overspending_call(
    otel_capture: Capture, caplog: pytest.LogCaptureFixture
) -> None:
    """Soft: calls proceed; one warning at the crossing; an event and a count per call over."""
    with caplog.at_level(logging.WARNING, logger="otel_llm.budget"):
        with otel_llm.budget("soft-usd", max_usd=0.001) as b:
            call()  # 0.00075: under
            call()  # 0.0015: crosses
            call()  # still over
    assert b.usage().usd == 3 * CALL_USD
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "'soft-usd'" in warnings[0] and "usd limit" in warnings[0]
    spans = otel_capture.spans("chat gpt-4o-mini")
    events = [[e for e in s.events if e.name == "otel_llm.budget.exceeded"] for s in spans]
    assert [len(e) for e in events] == [0, 1, 1]
    attrs = dict(events[1][0].attributes or {})
    assert attrs["otel_llm.budget.usage"] == pytest.approx(0.0015)
    assert attrs["otel_llm.budget.max"] == pytest.approx(0.001)
    assert attrs["otel_llm.budget.outcome"] == "exceeded"
    assert otel_capture.metric_sum(
        "otel_llm.budget.exceeded", **{"otel_llm.budget.name": "soft-usd",
                                       "otel_llm.budget.mode": "soft",
                                       "otel_llm.budget.outcome": "exceeded"}
    ) == 2  # fmt: skip


def test_hard_budget_refuses_the_next_generation_before_it_starts(otel_capture: Capture) -> None:
    """Hard: the call that crosses finishes; the next raises BudgetExceeded, no span, no body."""
    ran: list[int] = []
    tracer = trace.get_tracer("test")
    with (
        tracer.start_as_current_span("request"),
        otel_llm.budget("hard-tokens", max_tokens=1500, mode="hard"),
    ):
        call()  # 2000 tokens: allowed, crosses the limit
        with pytest.raises(otel_llm.BudgetExceeded) as caught:
            with otel_llm.generation(model="gpt-4o-mini", provider="openai"):
                ran.append(1)
    assert ran == []
    error = caught.value
    assert (error.budget, error.limit, error.usage, error.maximum) == ("hard-tokens", "tokens",
                                                                        2000, 1500)  # fmt: skip
    assert "used up: 2000 of 1500 tokens" in str(error)
    assert len(otel_capture.spans("chat gpt-4o-mini")) == 1
    request = otel_capture.span("request")
    blocked = [e for e in request.events if e.name == "otel_llm.budget.exceeded"]
    assert len(blocked) == 1 and (blocked[0].attributes or {})["otel_llm.budget.outcome"] == (
        "blocked"
    )
    assert otel_capture.metric_sum("otel_llm.budget.exceeded", otel_llm_budget_outcome="blocked")
    call()  # outside the budget's block nothing is enforced


def test_a_budget_is_used_up_at_exactly_its_limit() -> None:
    """Usage equal to max blocks the next call (nothing is left), but is not 'exceeded'."""
    with otel_llm.budget("exact", max_tokens=2000, mode="hard") as b:
        call()
        assert b.remaining() == (None, 0)
        with pytest.raises(otel_llm.BudgetExceeded):
            call()


def test_unpriced_calls_count_tokens_but_not_dollars(otel_capture: Capture) -> None:
    """An unknown model adds its tokens to token limits and nothing to the dollar usage."""
    with otel_llm.budget("mixed", max_usd=1, max_tokens=10_000) as b:
        call(model="house-model")
    assert b.usage().tokens == 2000
    assert b.usage().usd == 0


# -- concurrency ---------------------------------------------------------------------------------
async def test_hard_budget_under_200_concurrent_async_generations_overspends_at_most_one_call_per_worker(  # noqa: E501
    otel_capture: Capture,
) -> None:
    """Every call passed its check under the limit; spend <= limit + one call per worker."""
    limit = Decimal("0.03")  # 40 calls
    workers = 200
    usage_at_start: list[Decimal] = []

    async def worker(b: otel_llm.Budget) -> int:
        calls = 0
        while True:
            try:
                async with otel_llm.generation(model="gpt-4o-mini", provider="openai") as g:
                    usage_at_start.append(b.usage().usd)
                    await asyncio.sleep(0)
                    g.set_response(input_tokens=1000, output_tokens=1000)
            except otel_llm.BudgetExceeded:
                return calls
            calls += 1

    async with otel_llm.budget("shared-hard", max_usd=limit, mode="hard") as b:
        done = await asyncio.gather(*(worker(b) for _ in range(workers)))
    total = sum(done)
    spent = b.usage().usd
    assert spent == total * CALL_USD  # no lost update
    assert spent >= limit
    assert spent <= limit + workers * CALL_USD  # the documented bound
    assert all(u < limit for u in usage_at_start)  # nothing started once used up
    assert len(usage_at_start) == total


async def test_soft_budget_under_200_concurrent_async_generations_counts_every_call() -> None:
    """Soft budgets never refuse; concurrent charges add up exactly."""

    async def one() -> None:
        async with otel_llm.generation(model="gpt-4o-mini", provider="openai") as g:
            await asyncio.sleep(0)
            g.set_response(input_tokens=1000, output_tokens=1000)

    async with otel_llm.budget("shared-soft", max_usd="0.01") as b:  # type: ignore[arg-type]
        await asyncio.gather(*(one() for _ in range(200)))
    assert b.usage() == BudgetUsage(200 * CALL_USD, 400_000, "")


def test_threads_charge_a_global_budget_without_losing_updates() -> None:
    """8 threads x 250 calls against one registered budget add up exactly."""
    b = otel_llm.budget("threads", max_tokens=10**9).register()

    def run() -> None:
        for _ in range(250):
            call(10, 5)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert b.usage().tokens == 8 * 250 * 15
    assert b.usage().usd == 8 * 250 * (10 * Decimal("0.15") + 5 * Decimal("0.60")) / 10**6


# -- periods -----------------------------------------------------------------------------------
def test_daily_budget_rolls_over_at_utc_midnight_with_an_injected_clock() -> None:
    """A used-up daily budget refuses until the clock passes midnight UTC, then starts at 0."""
    clock = Clock("2025-06-01T23:59:30")
    with otel_llm.budget("daily", max_tokens=2000, period="day", mode="hard", clock=clock) as b:
        call()
        with pytest.raises(otel_llm.BudgetExceeded) as caught:
            call()
        assert caught.value.window == "2025-06-01"
        clock.set("2025-06-02T00:00:01")
        assert b.usage() == BudgetUsage(Decimal(0), 0, "2025-06-02")
        call()
        assert b.usage().tokens == 2000


@pytest.mark.parametrize(
    ("period", "iso", "window"),
    [
        ("hour", "2025-06-01T13:59:59", "2025-06-01T13"),
        ("day", "2025-12-31T23:59:59", "2025-12-31"),
        ("month", "2025-02-28T23:00:00", "2025-02"),
        (None, "2025-02-28T23:00:00", ""),
    ],
)
def test_windows_are_utc_calendar_periods(period: str | None, iso: str, window: str) -> None:
    """Hour, day and month windows are named by their UTC calendar period."""
    assert window_of(period, Clock(iso)()) == window  # type: ignore[arg-type]


def test_hourly_budget_keeps_counting_within_the_hour() -> None:
    """Usage from earlier in the same hour still counts; the next hour starts fresh."""
    clock = Clock("2025-06-01T10:00:00")
    b = otel_llm.budget("hourly", max_tokens=10**6, period="hour", clock=clock)
    with b:
        call()
        clock.set("2025-06-01T10:59:59")
        call()
        assert b.usage().tokens == 4000
        clock.set("2025-06-01T11:00:00")
        assert b.usage().tokens == 0


# -- scopes ------------------------------------------------------------------------------------
def test_scoped_global_budget_keeps_usage_per_tenant_and_never_labels_metrics_with_it(
    otel_capture: Capture,
) -> None:
    """Tenant a is blocked, tenant b and unscoped calls are not; metrics carry only the name."""
    otel_llm.budget("per-tenant", max_tokens=1000, scope="tenant", mode="hard").register()
    with otel_llm.budget_scope(tenant="tenant-a"):
        call()
        with pytest.raises(otel_llm.BudgetExceeded, match="for tenant=tenant-a"):
            call()
    with otel_llm.budget_scope(tenant="tenant-b"):
        call()
    call()  # no tenant set: its own shared bucket
    for name in ("otel_llm.budget.exceeded", "otel_llm.budget.usage.tokens"):
        for point in otel_capture.metric_points(name):
            assert "tenant-a" not in str(point.attributes) and "tenant" not in str(
                list(point.attributes)
            )
    span = otel_capture.spans("chat gpt-4o-mini")[0]
    event = next(e for e in span.events if e.name == "otel_llm.budget.exceeded")
    assert (event.attributes or {})["otel_llm.budget.scope"] == "tenant=tenant-a"


async def test_async_forms_and_nested_budgets_all_get_charged() -> None:
    """`async with` works for budgets and scopes; every enclosing budget is charged once."""
    outer = otel_llm.budget("outer", max_tokens=10**6, scope="user")
    inner = otel_llm.budget("inner", max_tokens=10**6)
    async with otel_llm.budget_scope(user="u1"), outer, inner, outer:
        call()
    call()  # after the blocks: charged to neither
    assert outer.usage(user="u1").tokens == 2000
    assert outer.usage(user="u2").tokens == 0
    assert inner.usage().tokens == 2000


# -- gauges ------------------------------------------------------------------------------------
def test_usage_remaining_and_limit_gauges_per_budget_name(otel_capture: Capture) -> None:
    """Gauges report the most-used scope value and the least remaining, by budget name."""
    b = otel_llm.budget("gauged", max_usd=1, max_tokens=10_000, scope="team")
    with b:
        with otel_llm.budget_scope(team="x"):
            call()
            call()
        with otel_llm.budget_scope(team="y"):
            call()

    def value(metric: str) -> float:
        points = otel_capture.metric_points(metric, **{"otel_llm.budget.name": "gauged"})
        assert points, metric
        return points[-1].value

    assert value("otel_llm.budget.usage.usd") == pytest.approx(0.0015)
    assert value("otel_llm.budget.remaining.usd") == pytest.approx(1 - 0.0015)
    assert value("otel_llm.budget.limit.usd") == 1
    assert value("otel_llm.budget.usage.tokens") == 4000
    assert value("otel_llm.budget.remaining.tokens") == 6000
    assert value("otel_llm.budget.limit.tokens") == 10_000


# -- stores ------------------------------------------------------------------------------------
class SqliteBudgetStore:
    """A shared store for many processes: one row per key, updated in one transaction."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with sqlite3.connect(path) as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS usage (key TEXT PRIMARY KEY, window TEXT, "
                "usd TEXT, tokens INTEGER)"
            )

    def add(self, key: str, window: str, usd: Decimal, tokens: int) -> BudgetUsage:
        """Add usage atomically (BEGIN IMMEDIATE serialises writers)."""
        db = sqlite3.connect(self.path, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")
            old = self._get(db, key, window)
            new = BudgetUsage(old.usd + usd, old.tokens + tokens, window)
            db.execute(
                "INSERT OR REPLACE INTO usage VALUES (?, ?, ?, ?)",
                (key, window, str(new.usd), new.tokens),
            )
            db.execute("COMMIT")
            return new
        finally:
            db.close()

    def get(self, key: str, window: str) -> BudgetUsage:
        """Totals of ``key`` in ``window``."""
        db = sqlite3.connect(self.path)
        try:
            return self._get(db, key, window)
        finally:
            db.close()

    @staticmethod
    def _get(db: sqlite3.Connection, key: str, window: str) -> BudgetUsage:
        row = db.execute("SELECT window, usd, tokens FROM usage WHERE key = ?", (key,)).fetchone()
        if row is None or row[0] != window:
            return BudgetUsage(Decimal(0), 0, window)
        return BudgetUsage(Decimal(row[1]), int(row[2]), window)


def test_a_shared_store_lets_two_processes_share_one_budget(tmp_path: Path) -> None:
    """Two budgets of the same name on one SQLite file see each other's usage."""
    path = tmp_path / "budgets.db"
    first = otel_llm.budget("fleet", max_tokens=3000, mode="hard", store=SqliteBudgetStore(path))
    second = otel_llm.budget("fleet", max_tokens=3000, mode="hard", store=SqliteBudgetStore(path))
    with first:
        call()
    with second:
        call()  # 2000 seen from the other "process": still allowed, now 4000
        with pytest.raises(otel_llm.BudgetExceeded):
            call()
    assert first.usage().tokens == 4000


class BrokenStore:
    """A store whose backend is down."""

    def add(self, key: str, window: str, usd: Decimal, tokens: int) -> BudgetUsage:
        """Fail like a lost connection."""
        raise ConnectionError("store unreachable")

    def get(self, key: str, window: str) -> BudgetUsage:
        """Fail like a lost connection."""
        raise ConnectionError("store unreachable")


def test_a_failing_store_never_breaks_the_call(otel_capture: Capture) -> None:
    """Store errors are swallowed and counted; the generation runs and ends normally."""
    with otel_llm.budget("down", max_tokens=1, mode="hard", store=BrokenStore()):
        call()
        call()
    assert len(otel_capture.spans("chat gpt-4o-mini")) == 2
    assert otel_capture.metric_sum("otel_llm.instrumentation.errors", otel_llm_component="budget")


# -- arguments ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "needs max_usd, max_tokens or both"),
        ({"max_usd": -1}, "max_usd must be a non-negative number"),
        ({"max_usd": "ten"}, "max_usd must be a non-negative number"),
        ({"max_tokens": True}, "max_tokens must be a non-negative int"),
        ({"max_tokens": 5, "period": "week"}, "period must be one of hour, day, month"),
        ({"max_tokens": 5, "mode": "strict"}, "mode must be one of soft, hard"),
        ({"max_tokens": 5, "scope": ""}, "scope must be a non-empty string"),
    ],
)
def test_bad_arguments_are_a_clear_value_error(kwargs: dict[str, object], message: str) -> None:
    """Invalid budget arguments fail at the call with the allowed values."""
    with pytest.raises(ValueError, match=message):
        otel_llm.budget("b", **kwargs)  # type: ignore[arg-type]


# -- streams -----------------------------------------------------------------------------------
def test_streams_are_priced_charged_and_refused_like_generations(otel_capture: Capture) -> None:
    """A stream's usage is priced and charged; a used-up hard budget refuses the next wrap."""
    sent: list[str] = []

    def tokens() -> Iterator[str]:
        sent.append("request")
        yield from ("a", "b")

    with otel_llm.budget("streams", max_tokens=1000, mode="hard") as b:
        s = otel_llm.stream(model="gpt-4o-mini", provider="openai")
        for item in s.wrap(tokens()):
            if item == "b":  # usage arrives with the last chunk, as SDK streams report it
                s.set_response(input_tokens=900, output_tokens=200)
        with pytest.raises(otel_llm.BudgetExceeded):
            otel_llm.stream(model="gpt-4o-mini", provider="openai").wrap(tokens())
    assert sent == ["request"]
    assert b.usage().tokens == 1100
    span = otel_capture.span("chat gpt-4o-mini")
    # 900 x $0.15 + 200 x $0.60, per 1M tokens
    assert (span.attributes or {})["otel_llm.cost.usd"] == pytest.approx(0.000255)


# -- instrumented clients ------------------------------------------------------------------------
def _openai_client(sent: list[str]) -> Any:
    """A real openai client whose socket is an httpx.MockTransport answering a chat call."""
    import httpx
    import openai

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        return httpx.Response(200, json={
            "id": "r1", "object": "chat.completion", "created": 0, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "hi"}}],
            "usage": {"prompt_tokens": 1000, "completion_tokens": 1000, "total_tokens": 2000},
        })  # fmt: skip

    return openai.OpenAI(
        api_key="sk-test", http_client=httpx.Client(transport=httpx.MockTransport(handler))
    )


def test_hard_budget_stops_an_instrumented_openai_call_before_the_request(
    otel_capture: Capture,
) -> None:
    """With the openai instrumentor on, a used-up hard budget raises and sends nothing."""
    from otel_llm.instrumentation.openai import OpenAIInstrumentor

    sent: list[str] = []
    client = _openai_client(sent)
    inst = OpenAIInstrumentor()
    inst.instrument()
    try:
        with otel_llm.budget("openai-hard", max_tokens=1000, mode="hard"):
            messages = [{"role": "user", "content": "x"}]
            client.chat.completions.create(model="gpt-4o-mini", messages=messages)
            with pytest.raises(otel_llm.BudgetExceeded):
                client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    finally:
        inst.uninstrument()
    assert sent == ["/v1/chat/completions"]
