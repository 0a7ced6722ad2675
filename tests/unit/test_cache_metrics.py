"""register_cache(): a cache's size (observable gauge) and evictions (counter)."""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Iterator

import pytest

import otel_llm
from otel_llm.testing import Capture
from tests.helpers import run_python


class LRU:
    """A small real LRU cache that reports its size and evictions the way users would."""

    def __init__(self, capacity: int, name: str) -> None:
        self.capacity = capacity
        self.data: OrderedDict[str, str] = OrderedDict()
        self.metrics = otel_llm.register_cache(name, size=lambda: len(self.data))

    def put(self, key: str, value: str) -> None:
        self.data[key] = value
        self.data.move_to_end(key)
        while len(self.data) > self.capacity:
            self.data.popitem(last=False)
            self.metrics.evicted()


@pytest.fixture
def lru() -> Iterator[LRU]:
    """A registered LRU of capacity 3, unregistered after the test."""
    cache = LRU(3, "lru")
    yield cache
    cache.metrics.unregister()


def _size(capture: Capture, name: str) -> float | None:
    points = capture.metric_points("otel_llm.cache.size", otel_llm_cache_name=name)
    return points[-1].value if points else None


def test_size_and_evictions_of_a_real_lru(otel_capture: Capture, lru: LRU) -> None:
    """Five inserts into a 3-entry LRU: size 3 and two evictions, by cache name."""
    for i in range(5):
        lru.put(f"k{i}", "v")
    assert _size(otel_capture, "lru") == 3
    assert otel_capture.metric_sum("otel_llm.cache.evictions", otel_llm_cache_name="lru") == 2
    lru.put("k9", "v")
    lru.data.clear()
    lru.metrics.evicted(3)
    assert _size(otel_capture, "lru") == 0, "the size is read at each collection"
    assert otel_capture.metric_sum("otel_llm.cache.evictions", otel_llm_cache_name="lru") == 6


def test_functools_lru_cache_size(otel_capture: Capture) -> None:
    """A functools.lru_cache reports its current size through cache_info()."""

    @functools.lru_cache(maxsize=2)
    def square(x: int) -> int:
        return x * x

    handle = otel_llm.register_cache("squares", size=lambda: square.cache_info().currsize)
    try:
        for x in (1, 2, 3, 1):
            square(x)
        assert _size(otel_capture, "squares") == 2
    finally:
        handle.unregister()


def test_a_broken_size_function_is_counted_not_raised(otel_capture: Capture, lru: LRU) -> None:
    """A size() that raises or returns a non-count is skipped and counted; others still report."""
    lru.put("a", "1")
    broken = otel_llm.register_cache("broken", size=lambda: 1 // 0)
    wrong = otel_llm.register_cache("wrong", size=lambda: "many")  # type: ignore[arg-type,return-value]
    try:
        assert _size(otel_capture, "lru") == 1
        assert _size(otel_capture, "broken") is None
        assert _size(otel_capture, "wrong") is None
        errors = otel_capture.metric_sum(
            "otel_llm.instrumentation.errors", otel_llm_component="cache"
        )
        assert errors >= 2 and errors % 2 == 0, "one error per broken cache and collection"
    finally:
        broken.unregister()
        wrong.unregister()


def test_unregister_and_replace(otel_capture: Capture) -> None:
    """Registering a name again replaces it; the old handle's unregister leaves the new one."""
    first = otel_llm.register_cache("swap", size=lambda: 1)
    second = otel_llm.register_cache("swap", size=lambda: 2)
    first.unregister()
    assert _size(otel_capture, "swap") == 2
    second.unregister()
    otel_capture.clear()
    assert _size(otel_capture, "swap") is None
    no_size = otel_llm.register_cache("evictions-only")
    no_size.evicted(4)
    assert _size(otel_capture, "evictions-only") is None
    assert (
        otel_capture.metric_sum("otel_llm.cache.evictions", otel_llm_cache_name=no_size.name) == 4
    )
    no_size.unregister()


def test_bad_input_is_a_value_error() -> None:
    """An empty name, a size that is not callable or a negative count fail at the call."""
    with pytest.raises(ValueError, match="non-empty string"):
        otel_llm.register_cache("")
    with pytest.raises(ValueError, match="size must be a callable"):
        otel_llm.register_cache("c", size=3)  # type: ignore[arg-type]
    handle = otel_llm.register_cache("c")
    try:
        with pytest.raises(ValueError, match="non-negative int"):
            handle.evicted(-1)
    finally:
        handle.unregister()


def test_disabled_sdk_returns_a_noop_handle() -> None:
    """With OTEL_SDK_DISABLED=true, register_cache() works and records nothing."""
    proc = run_python(
        """
        import otel_llm
        handle = otel_llm.register_cache("c", size=lambda: 1)
        handle.evicted(2)
        handle.unregister()
        print(type(handle).__name__)
        """,
        env={"OTEL_SDK_DISABLED": "true"},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "_Noop"
