"""The handle every API returns when the SDK is disabled: accepts everything, records nothing."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from opentelemetry import trace

__all__ = ["NOOP"]


class _Noop:
    """Stands in for every otel-llm handle; each method is a near-free no-op."""

    __slots__ = ()
    span = trace.INVALID_SPAN
    ended = False

    def __enter__(self) -> _Noop:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    async def __aenter__(self) -> _Noop:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def start(self) -> _Noop:
        return self

    def wrap(self, iterable: Any, on_chunk: Any = None) -> Any:
        return iterable

    awrap = wrap

    def _ignore(self, *args: Any, **kwargs: Any) -> None:
        return None

    end = set_response = set_error = set_attribute = set_attributes = chunk = abort = _ignore
    set_input_messages = set_output_messages = set_tool_calls = _ignore
    set_tokens = set_truncated = set_chunks = set_estimated = _ignore
    select = fallback = hit = miss = set_arguments = set_result = _ignore
    evicted = unregister = _ignore

    def __call__(self, fn: Any) -> Any:
        return fn


NOOP = _Noop()
