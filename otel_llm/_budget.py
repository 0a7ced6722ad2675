"""Budgets: cap the money and tokens spent per period, per scope (tenant, user, feature).

A budget is active where the code runs inside ``with otel_llm.budget(...)`` (or ``async
with``), and everywhere once registered globally (``budget(...).register()``). Every
generation charges its cost and tokens to every active budget when it ends. A *soft* budget
that runs over logs a warning, adds a span event and counts ``otel_llm.budget.exceeded``; a
*hard* budget makes the next generation in its scope raise ``BudgetExceeded`` before the
request is sent.

Why a hard budget can overspend a little: a call's cost is known only when its response
arrives, so the check (at generation start) and the charge (at generation end) are separate.
Calls already in flight when the limit is crossed still finish and are charged: the overspend
is at most one in-flight call per concurrent worker (task or thread), never more.

State lives in this process (``InMemoryBudgetStore``); an app running many processes plugs a
shared store (Redis, a database) into ``set_budget_store()`` - see ``BudgetStore``.
"""

from __future__ import annotations

import contextvars
import logging
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from types import MappingProxyType, TracebackType
from typing import Any, Final, Literal, Protocol, get_args

from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Counter, MeterProvider, Observation
from opentelemetry.trace import Span

from . import __version__, semconv
from ._fork import fork_safe_lock
from ._runtime import report_error

__all__ = [
    "Budget",
    "BudgetExceeded",
    "BudgetScope",
    "BudgetStore",
    "BudgetUsage",
    "InMemoryBudgetStore",
    "budget",
    "budget_scope",
    "charge",
    "check_before_generation",
    "get_budget_store",
    "global_budgets",
    "set_budget_store",
]

_log = logging.getLogger("otel_llm.budget")

Period = Literal["hour", "day", "month"]
Mode = Literal["soft", "hard"]
_PERIODS: Final = get_args(Period)
_MODES: Final = get_args(Mode)
_ZERO: Final = Decimal(0)
_MAX_SEEN: Final = 10_000


class BudgetExceeded(Exception):
    """A hard budget is used up: the generation was refused before its request was sent."""

    def __init__(
        self, budget: str, limit: Literal["usd", "tokens"], usage: Decimal | int,
        maximum: Decimal | int, window: str, scope: str | None = None,
    ) -> None:  # fmt: skip
        self.budget = budget
        self.limit = limit
        self.usage = usage
        self.maximum = maximum
        self.window = window
        self.scope = scope
        unit = "USD" if limit == "usd" else "tokens"
        where = f" for {scope}" if scope else ""
        period = f" in window {window}" if window else ""
        super().__init__(
            f"budget {budget!r}{where} is used up: {usage} of {maximum} {unit}{period}"
        )


@dataclass(frozen=True, slots=True)
class BudgetUsage:
    """What a budget has used in one window (``window`` is "" for a budget without period)."""

    usd: Decimal
    tokens: int
    window: str


class BudgetStore(Protocol):
    """Where budget usage lives. Implement it over a shared database to budget many processes.

    ``key`` names one budget and scope value (e.g. ``"daily|tenant=acme"``), ``window`` the
    period it counts (``"2025-06-01"`` for a daily budget, ``""`` without a period). ``add``
    must be atomic and return the new totals; a usage whose stored window differs from
    ``window`` counts as zero (the period rolled over). Called on the generation's thread,
    so keep it fast; exceptions are swallowed and counted (the call proceeds).
    """

    def add(self, key: str, window: str, usd: Decimal, tokens: int) -> BudgetUsage:
        """Add usage to ``key`` in ``window`` and return the new totals."""
        ...

    def get(self, key: str, window: str) -> BudgetUsage:
        """Current totals of ``key`` in ``window`` (zero if none or an older window)."""
        ...


class InMemoryBudgetStore:
    """The default store: a dict under a lock, one entry per budget and scope value."""

    def __init__(self) -> None:
        self._data: dict[str, BudgetUsage] = {}
        self._lock = fork_safe_lock()

    def add(self, key: str, window: str, usd: Decimal, tokens: int) -> BudgetUsage:
        """Atomically add usage; a new window starts from zero."""
        with self._lock:
            old = self._data.get(key)
            if old is None or old.window != window:
                new = BudgetUsage(usd, tokens, window)
            else:
                new = BudgetUsage(old.usd + usd, old.tokens + tokens, window)
            self._data[key] = new
            return new

    def get(self, key: str, window: str) -> BudgetUsage:
        """Totals of ``key`` in ``window``."""
        old = self._data.get(key)
        if old is None or old.window != window:
            return BudgetUsage(_ZERO, 0, window)
        return old

    def clear(self) -> None:
        """Forget all usage."""
        with self._lock:
            self._data.clear()


_store: BudgetStore = InMemoryBudgetStore()


def set_budget_store(store: BudgetStore) -> None:
    """Keep budget usage in ``store`` from now on (budgets created earlier included)."""
    global _store
    _store = store


def get_budget_store() -> BudgetStore:
    """The store budgets use unless one was given to ``budget(store=...)``."""
    return _store


def window_of(period: Period | None, now: float) -> str:
    """The UTC calendar window that ``now`` (epoch seconds) falls in, as a sortable string."""
    if period is None:
        return ""
    moment = datetime.fromtimestamp(now, tz=timezone.utc)
    if period == "hour":
        return moment.strftime("%Y-%m-%dT%H")
    if period == "day":
        return moment.strftime("%Y-%m-%d")
    return moment.strftime("%Y-%m")


# -- scope values ------------------------------------------------------------------------
_NO_SCOPE: Final[Mapping[str, str]] = MappingProxyType({})
_SCOPE: Final[contextvars.ContextVar[Mapping[str, str]]] = contextvars.ContextVar(
    "otel_llm_budget_scope", default=_NO_SCOPE
)


class BudgetScope:
    """Sets scope values (``tenant="acme"``) for budgets with ``scope=...`` in a block."""

    __slots__ = ("_token", "_values")

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = {str(k): str(v) for k, v in values.items()}
        self._token: contextvars.Token[Mapping[str, str]] | None = None

    def __enter__(self) -> BudgetScope:
        self._token = _SCOPE.set({**_SCOPE.get(), **self._values})
        return self

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _SCOPE.reset(self._token)
            self._token = None

    async def __aenter__(self) -> BudgetScope:
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__()


def budget_scope(**values: str) -> BudgetScope:
    """Name who is spending for the budgets scoped by these keys, e.g. ``tenant=tenant_id``.

    Use it in request middleware: ``with otel_llm.budget_scope(tenant=req.tenant): ...``.
    Scope values appear in ``BudgetExceeded`` and span events, never on metrics.
    """
    return BudgetScope(values)


# -- budgets -----------------------------------------------------------------------------
_ACTIVE: Final[contextvars.ContextVar[tuple[Budget, ...]]] = contextvars.ContextVar(
    "otel_llm_budgets", default=()
)
_GLOBAL: tuple[Budget, ...] = ()
_global_lock = fork_safe_lock()
_ALL: weakref.WeakSet[Budget] = weakref.WeakSet()
_all_lock = fork_safe_lock()


def _to_decimal(value: float | Decimal | None, name: str) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValueError(f"{name} must be a non-negative number, got {value!r}") from None
    if not number.is_finite() or number < 0:
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    return number


class Budget:
    """A money and/or token limit over a period; see ``budget()``."""

    __slots__ = (
        "__weakref__",
        "_seen",
        "_store",
        "clock",
        "max_tokens",
        "max_usd",
        "mode",
        "name",
        "period",
        "scope",
    )

    def __init__(
        self,
        name: str,
        *,
        max_usd: float | Decimal | None = None,
        max_tokens: int | None = None,
        period: Period | None = None,
        scope: str | None = None,
        mode: Mode = "soft",
        store: BudgetStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"budget name must be a non-empty string, got {name!r}")
        self.name = name
        self.max_usd = _to_decimal(max_usd, "max_usd")
        if max_tokens is not None and (
            isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 0
        ):
            raise ValueError(f"max_tokens must be a non-negative int, got {max_tokens!r}")
        self.max_tokens = max_tokens
        if self.max_usd is None and max_tokens is None:
            raise ValueError(f"budget {name!r} needs max_usd, max_tokens or both")
        if period is not None and period not in _PERIODS:
            raise ValueError(f"period must be one of {', '.join(_PERIODS)} or None, got {period!r}")
        self.period: Period | None = period
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {', '.join(_MODES)}, got {mode!r}")
        self.mode: Mode = mode
        if scope is not None and (not isinstance(scope, str) or not scope):
            raise ValueError(f"scope must be a non-empty string or None, got {scope!r}")
        self.scope = scope
        self._store = store
        self.clock = clock
        # Latest totals this process saw per scope value: feeds the gauges without reading
        # a (possibly remote) store from the metrics thread.
        self._seen: dict[str | None, BudgetUsage] = {}
        _instruments()
        with _all_lock:
            _ALL.add(self)

    def __repr__(self) -> str:
        limits = []
        if self.max_usd is not None:
            limits.append(f"max_usd={self.max_usd}")
        if self.max_tokens is not None:
            limits.append(f"max_tokens={self.max_tokens}")
        return (
            f"Budget({self.name!r}, {', '.join(limits)}, period={self.period!r}, "
            f"scope={self.scope!r}, mode={self.mode!r})"
        )

    @property
    def store(self) -> BudgetStore:
        """The store holding this budget's usage."""
        return self._store if self._store is not None else _store

    # -- activation ------------------------------------------------------------------------
    def __enter__(self) -> Budget:
        _ACTIVE.set((*_ACTIVE.get(), self))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Remove the innermost activation of this budget in *this* context; no token is kept
        # on self, so one Budget can be entered by many tasks at once.
        active = list(_ACTIVE.get())
        for index in range(len(active) - 1, -1, -1):
            if active[index] is self:
                del active[index]
                break
        _ACTIVE.set(tuple(active))

    async def __aenter__(self) -> Budget:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def register(self) -> Budget:
        """Apply this budget to every generation in the process (not just inside ``with``)."""
        global _GLOBAL
        with _global_lock:
            if self not in _GLOBAL:
                _GLOBAL = (*_GLOBAL, self)
        return self

    def unregister(self) -> None:
        """Stop applying this budget globally."""
        global _GLOBAL
        with _global_lock:
            _GLOBAL = tuple(b for b in _GLOBAL if b is not self)

    # -- state -----------------------------------------------------------------------------
    def _scope_value(self) -> str | None:
        if self.scope is None:
            return None
        return _SCOPE.get().get(self.scope, "")

    def _key(self, scope_value: str | None) -> str:
        return self.name if scope_value is None else f"{self.name}|{self.scope}={scope_value}"

    def _scope_label(self, scope_value: str | None) -> str | None:
        return None if scope_value is None else f"{self.scope}={scope_value or '(unset)'}"

    def usage(self, **scope: str) -> BudgetUsage:
        """Usage in the current window, for the current scope value (or ``scope=value``)."""
        value = scope.get(self.scope, "") if (scope and self.scope) else self._scope_value()
        window = window_of(self.period, self.clock())
        return self.store.get(self._key(value), window)

    def remaining(self, **scope: str) -> tuple[Decimal | None, int | None]:
        """(USD, tokens) left in the current window; None for a limit the budget lacks."""
        used = self.usage(**scope)
        usd = None if self.max_usd is None else max(self.max_usd - used.usd, _ZERO)
        tokens = None if self.max_tokens is None else max(self.max_tokens - used.tokens, 0)
        return usd, tokens

    def _over(self, used: BudgetUsage, *, inclusive: bool) -> Literal["usd", "tokens"] | None:
        """Which limit ``used`` reached (``inclusive``: at the limit counts as used up)."""
        if self.max_usd is not None and (
            used.usd >= self.max_usd if inclusive else used.usd > self.max_usd
        ):
            return "usd"
        if self.max_tokens is not None and (
            used.tokens >= self.max_tokens if inclusive else used.tokens > self.max_tokens
        ):
            return "tokens"
        return None

    def _remember(self, scope_value: str | None, used: BudgetUsage) -> None:
        seen = self._seen
        if len(seen) >= _MAX_SEEN and scope_value not in seen:
            current = used.window
            for key in [k for k, v in list(seen.items()) if v.window != current]:
                seen.pop(key, None)
            if len(seen) >= _MAX_SEEN:
                return
        seen[scope_value] = used

    # -- enforcement -----------------------------------------------------------------------
    def check(self, span: Span | None = None) -> None:
        """Raise ``BudgetExceeded`` if this is a hard budget and its limit is used up."""
        if self.mode != "hard":
            return
        value = self._scope_value()
        window = window_of(self.period, self.clock())
        used = self.store.get(self._key(value), window)
        limit = self._over(used, inclusive=True)
        if limit is None:
            return
        self._remember(value, used)
        error = BudgetExceeded(
            self.name,
            limit,
            used.usd if limit == "usd" else used.tokens,
            (self.max_usd if limit == "usd" else self.max_tokens) or 0,
            window,
            self._scope_label(value),
        )
        self._signal("blocked", limit, used, value, span)
        raise error

    def charge(self, usd: Decimal | None, tokens: int, span: Span | None = None) -> BudgetUsage:
        """Add one call's usage; signal a soft or hard exceedance. Returns the new totals."""
        value = self._scope_value()
        window = window_of(self.period, self.clock())
        used = self.store.add(self._key(value), window, usd or _ZERO, tokens)
        self._remember(value, used)
        limit = self._over(used, inclusive=False)
        if limit is not None:
            before = BudgetUsage(used.usd - (usd or _ZERO), used.tokens - tokens, window)
            if self._over(before, inclusive=False) is None:
                _log.warning(
                    "otel-llm budget %r%s exceeded its %s limit: %s of %s in window %r (%s mode)",
                    self.name,
                    f" ({self._scope_label(value)})" if value is not None else "",
                    limit,
                    used.usd if limit == "usd" else used.tokens,
                    self.max_usd if limit == "usd" else self.max_tokens,
                    window,
                    self.mode,
                )
            self._signal("exceeded", limit, used, value, span)
        return used

    def _signal(
        self,
        outcome: Literal["exceeded", "blocked"],
        limit: Literal["usd", "tokens"],
        used: BudgetUsage,
        scope_value: str | None,
        span: Span | None,
    ) -> None:
        try:
            attrs = {
                semconv.BUDGET_NAME: self.name,
                semconv.BUDGET_MODE: self.mode,
                semconv.BUDGET_LIMIT: limit,
                semconv.BUDGET_OUTCOME: outcome,
            }
            _instruments().exceeded.add(1, attrs)
            target = span if span is not None else trace.get_current_span()
            if target.is_recording():
                event: dict[str, Any] = dict(attrs)
                if limit == "usd":
                    event[semconv.BUDGET_USAGE] = float(used.usd)
                    event[semconv.BUDGET_MAX] = float(self.max_usd or 0)
                else:
                    event[semconv.BUDGET_USAGE] = used.tokens
                    event[semconv.BUDGET_MAX] = self.max_tokens or 0
                label = self._scope_label(scope_value)
                if label is not None:
                    event[semconv.BUDGET_SCOPE] = label
                target.add_event(semconv.EVENT_BUDGET_EXCEEDED, event)
        except Exception as exc:
            report_error("budget", exc)

    # -- gauges ----------------------------------------------------------------------------
    def _gauge_values(self, now: float) -> tuple[Decimal, int, Decimal | None, int | None]:
        """(max usage USD, max usage tokens, min remaining USD, min remaining tokens) now."""
        window = window_of(self.period, now)
        current = [u for u in list(self._seen.values()) if u.window == window]
        usd = max((u.usd for u in current), default=_ZERO)
        tokens = max((u.tokens for u in current), default=0)
        rem_usd = None if self.max_usd is None else max(self.max_usd - usd, _ZERO)
        rem_tokens = None if self.max_tokens is None else max(self.max_tokens - tokens, 0)
        return usd, tokens, rem_usd, rem_tokens


def budget(
    name: str,
    *,
    max_usd: float | Decimal | None = None,
    max_tokens: int | None = None,
    period: Period | None = None,
    scope: str | None = None,
    mode: Mode = "soft",
    store: BudgetStore | None = None,
    clock: Callable[[], float] = time.time,
) -> Budget:
    """A budget of ``max_usd`` dollars and/or ``max_tokens`` tokens.

    ``period`` ("hour", "day", "month", UTC calendar windows) resets the usage at each new
    window; None never resets. ``scope`` keeps separate usage per value of that key set with
    ``budget_scope(key=value)`` (a tenant or user); calls without a value share one bucket.
    ``mode="soft"`` only reports overspend; ``"hard"`` refuses later generations with
    ``BudgetExceeded``. Use it as ``with``/``async with`` around the calls it covers, or call
    ``.register()`` to apply it everywhere. ``clock`` (epoch seconds) is injectable for tests.

    Usage is shared by all budgets with the same name, scope value and store, so a budget
    created per request with the same name keeps counting where the last one stopped.
    """
    return Budget(
        name,
        max_usd=max_usd,
        max_tokens=max_tokens,
        period=period,
        scope=scope,
        mode=mode,
        store=store,
        clock=clock,
    )


def global_budgets() -> tuple[Budget, ...]:
    """Budgets registered for the whole process."""
    return _GLOBAL


def _active() -> Iterator[Budget]:
    """Budgets applying here: the context's (outermost first), then the global ones, once each."""
    return iter(dict.fromkeys((*_ACTIVE.get(), *_GLOBAL)))


def check_before_generation(provider: str, model: str) -> None:
    """Raise ``BudgetExceeded`` if a hard budget in effect here is used up.

    Called at generation start, before the request is sent. Store failures are swallowed
    (the call proceeds); ``provider`` and ``model`` are kept for future per-model budgets.
    """
    if not _ACTIVE.get() and not _GLOBAL:
        return
    for item in _active():
        try:
            item.check()
        except BudgetExceeded:
            raise
        except Exception as exc:
            report_error("budget", exc)


def charge(cost_usd: Decimal | None, tokens: int, span: Span) -> None:
    """Add a finished call's cost (None: unpriced) and tokens to every budget in effect."""
    if not _ACTIVE.get() and not _GLOBAL:
        return
    for item in _active():
        try:
            if cost_usd is None and item.max_usd is not None:
                _log.debug("budget %r: call without a price counts only its tokens", item.name)
            item.charge(cost_usd, tokens, span)
        except Exception as exc:
            report_error("budget", exc)


# -- instruments ---------------------------------------------------------------------------
class _Instruments:
    """The budget counter and gauges of one meter provider."""

    def __init__(self, provider: MeterProvider) -> None:
        meter = provider.get_meter("otel_llm", __version__)
        self.provider = provider
        self.exceeded: Counter = meter.create_counter(
            semconv.METRIC_BUDGET_EXCEEDED,
            unit="{generation}",
            description="Generations that ran over a soft budget or were refused by a hard one.",
        )
        gauges: Iterable[tuple[str, str, str, Callable[[Budget, float], Any]]] = (
            (semconv.METRIC_BUDGET_USAGE_USD, semconv.UNIT_USD, "Spend in the current window.",
             lambda b, now: b._gauge_values(now)[0] if b.max_usd is not None else None),
            (semconv.METRIC_BUDGET_REMAINING_USD, semconv.UNIT_USD, "Spend left in the window.",
             lambda b, now: b._gauge_values(now)[2]),
            (semconv.METRIC_BUDGET_LIMIT_USD, semconv.UNIT_USD, "The budget's max_usd.",
             lambda b, now: b.max_usd),
            (semconv.METRIC_BUDGET_USAGE_TOKENS, semconv.UNIT_TOKENS,
             "Tokens used in the current window.",
             lambda b, now: b._gauge_values(now)[1] if b.max_tokens is not None else None),
            (semconv.METRIC_BUDGET_REMAINING_TOKENS, semconv.UNIT_TOKENS,
             "Tokens left in the window.", lambda b, now: b._gauge_values(now)[3]),
            (semconv.METRIC_BUDGET_LIMIT_TOKENS, semconv.UNIT_TOKENS, "The budget's max_tokens.",
             lambda b, now: b.max_tokens),
        )  # fmt: skip
        for name, unit, description, read in gauges:
            # Budgets sharing a name report the worst case: most used, least remaining.
            pick = min if ".remaining." in name else max
            meter.create_observable_gauge(
                name, callbacks=[_observer(read, pick)], unit=unit, description=description
            )


def _observer(
    read: Callable[[Budget, float], Any], pick: Callable[[float, float], float]
) -> Callable[[CallbackOptions], Iterable[Observation]]:
    """A gauge callback: one value per budget name, never per scope value."""

    def observe(options: CallbackOptions) -> Iterable[Observation]:
        values: dict[str, float] = {}
        try:
            with _all_lock:
                budgets = list(_ALL)
            for item in budgets:
                value = read(item, item.clock())
                if value is None:
                    continue
                number = float(value)
                old = values.get(item.name)
                values[item.name] = number if old is None else pick(old, number)
        except Exception as exc:
            report_error("budget", exc)
        return [Observation(v, {semconv.BUDGET_NAME: k}) for k, v in values.items()]

    return observe


_instr: _Instruments | None = None
_instr_lock = fork_safe_lock()


def _instruments() -> _Instruments:
    """Instruments of the current global meter provider (recreated if it changed)."""
    global _instr
    provider = metrics.get_meter_provider()
    current = _instr
    if current is not None and current.provider is provider:
        return current
    with _instr_lock:
        if _instr is None or _instr.provider is not provider:
            _instr = _Instruments(provider)
        return _instr
