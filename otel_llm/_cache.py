"""``cache_lookup()``: a prompt/response cache lookup and its hit or miss."""

from __future__ import annotations

from typing import ClassVar

from . import semconv
from ._noop import NOOP
from ._operation import Operation
from ._runtime import RT

__all__ = ["CacheLookup", "cache_lookup"]


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
