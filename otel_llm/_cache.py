"""Caches: ``cache_lookup()`` traces one lookup; ``register_cache()`` reports size and evictions."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import ClassVar

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, ObservableGauge, Observation

from . import __version__, semconv
from ._fork import fork_safe_lock
from ._noop import NOOP
from ._operation import Operation
from ._runtime import RT, SCOPE, report_error

__all__ = ["CacheLookup", "CacheMetrics", "cache_lookup", "register_cache"]


class CacheLookup(Operation):
    """Handle of one cache lookup: call ``hit()`` or ``miss()``."""

    __slots__ = ("_hit", "_name", "_reason")

    _component: ClassVar[str] = "cache"

    def __init__(self, name: str) -> None:
        super().__init__()
        if not isinstance(name, str) or not name:
            raise ValueError(f"cache name must be a non-empty string, got {name!r}")
        self._name = name
        self._hit: bool | None = None
        self._reason: str | None = None

    def _span_name(self) -> str:
        return f"{semconv.SPAN_CACHE_PREFIX} {self._name}"

    def _start_attributes(self) -> dict[str, str]:  # type: ignore[override]
        return {semconv.CACHE_NAME: self._name}

    def hit(self) -> None:
        """The lookup found an entry."""
        self._hit = True

    def miss(self, reason: str | None = None) -> None:
        """The lookup found nothing; ``reason`` says why (``expired``, ``evicted``, ...)."""
        self._hit = False
        self._reason = reason

    def _on_end(self, duration: float) -> None:
        if self._hit is None:  # neither hit() nor miss(): nothing to count
            return
        self.span.set_attribute(semconv.CACHE_HIT, self._hit)
        attrs = {
            semconv.CACHE_NAME: self._name,
            semconv.CACHE_RESULT: "hit" if self._hit else "miss",
        }
        if self._reason:
            attrs[semconv.CACHE_MISS_REASON] = self._reason
            self.span.set_attribute(semconv.CACHE_MISS_REASON, self._reason)
        RT.instruments.cache_lookups.add(1, attrs, context=self._ctx)


def cache_lookup(name: str) -> CacheLookup:
    """Trace a cache lookup (``cache.lookup {name}``) and count hits and misses."""
    if not RT.enabled:
        return NOOP  # type: ignore[return-value]
    return CacheLookup(name)


class CacheMetrics:
    """A registered cache: its size is observed at each metric collection; call
    ``evicted()`` when it drops entries and ``unregister()`` when it goes away."""

    __slots__ = ("_attributes", "_name", "_size")

    def __init__(self, name: str, size: Callable[[], int] | None) -> None:
        self._name = name
        self._size = size
        self._attributes = {semconv.CACHE_NAME: name}

    @property
    def name(self) -> str:
        """The cache name, the ``otel_llm.cache.name`` of its metrics."""
        return self._name

    def evicted(self, count: int = 1) -> None:
        """Count ``count`` entries the cache evicted (capacity, expiry, invalidation)."""
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"count must be a non-negative int, got {count!r}")
        try:
            RT.instruments.cache_evictions.add(count, self._attributes)
        except Exception as exc:
            report_error("cache", exc)

    def unregister(self) -> None:
        """Stop reporting the size (a later registration under the name is left alone)."""
        with _lock:
            if _registry.get(self._name) is self:
                del _registry[self._name]

    def _observe(self) -> Observation | None:
        if self._size is None:
            return None
        value = self._size()
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise TypeError(f"size of cache {self._name!r} returned {value!r}, not an int >= 0")
        return Observation(value, self._attributes)


_registry: dict[str, CacheMetrics] = {}
_lock = fork_safe_lock()
_gauge: ObservableGauge | None = None


def _observe_sizes(options: CallbackOptions) -> Iterable[Observation]:
    with _lock:
        caches = list(_registry.values())
    observations = []
    for cache in caches:
        try:
            observation = cache._observe()
        except Exception as exc:  # a broken size function never breaks the collection
            report_error("cache", exc)
            continue
        if observation is not None:
            observations.append(observation)
    return observations


def register_cache(name: str, size: Callable[[], int] | None = None) -> CacheMetrics:
    """Report a cache's size (``otel_llm.cache.size``, from ``size()`` at each collection)
    and its evictions (``otel_llm.cache.evictions``, via ``evicted()``) under ``name``.

    Registering a name again replaces the earlier registration.
    """
    global _gauge
    if not isinstance(name, str) or not name:
        raise ValueError(f"cache name must be a non-empty string, got {name!r}")
    if size is not None and not callable(size):
        raise ValueError(f"size must be a callable returning the entry count, got {size!r}")
    if not RT.enabled:
        return NOOP  # type: ignore[return-value]
    handle = CacheMetrics(name, size)
    with _lock:
        _registry[name] = handle
        if _gauge is None:  # once per process: the global meter provider proxies to the SDK
            _gauge = metrics.get_meter(SCOPE, __version__).create_observable_gauge(
                semconv.METRIC_CACHE_SIZE,
                callbacks=[_observe_sizes],
                unit=semconv.UNIT_ENTRIES,
                description="Entries in a registered cache.",
            )
    return handle
