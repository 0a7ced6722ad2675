"""``attributes()``: request-scoped ids and labels on every span (and log) inside a block.

The values live in a ``ContextVar``, so they follow ``await`` and threads started with a
copied context. Ids (conversation, user, anything extra) go on spans and logs only; the
``feature`` label is the one value also added to the duration, token and cost metrics.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar, Token
from types import MappingProxyType, TracebackType
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.util.types import AttributeValue

from . import semconv

__all__ = ["AttributesSpanProcessor", "attributes", "current_attributes", "current_feature"]

_EMPTY: Mapping[str, AttributeValue] = MappingProxyType({})
_CURRENT: ContextVar[Mapping[str, AttributeValue]] = ContextVar(
    "otel_llm_attributes", default=_EMPTY
)
MAX_VALUE_LENGTH = 256


def _check(key: str, value: Any) -> AttributeValue:
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        if len(value) > MAX_VALUE_LENGTH:
            raise ValueError(f"{key} is longer than {MAX_VALUE_LENGTH} characters")
        return value
    raise ValueError(f"{key} must be a str, int, float or bool, got {type(value).__name__}")


class attributes:
    """Put ``gen_ai.conversation.id``, ``user.id``, ``otel_llm.feature`` and extra
    attributes on every span started inside the block (``with`` or ``async with``)."""

    __slots__ = ("_token", "_values")

    def __init__(
        self,
        conversation_id: str | None = None,
        user_id: str | None = None,
        feature: str | None = None,
        **extra: AttributeValue,
    ) -> None:
        values: dict[str, AttributeValue] = {}
        for key, value in (
            (semconv.GEN_AI_CONVERSATION_ID, conversation_id),
            (semconv.USER_ID, user_id),
            (semconv.FEATURE, feature),
            *extra.items(),
        ):
            if value is not None:
                values[key] = _check(key, value)
        self._values = values
        self._token: Token[Mapping[str, AttributeValue]] | None = None

    def __enter__(self) -> attributes:
        self._token = _CURRENT.set(MappingProxyType({**_CURRENT.get(), **self._values}))
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._token is not None:
            _CURRENT.reset(self._token)
            self._token = None

    async def __aenter__(self) -> attributes:
        return self.__enter__()

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(et, e, tb)


def current_attributes() -> Mapping[str, AttributeValue]:
    """The request attributes active in this context."""
    return _CURRENT.get()


def current_feature() -> AttributeValue | None:
    """The ``feature`` label active in this context (the one allowed on metrics)."""
    return _CURRENT.get().get(semconv.FEATURE)


class AttributesSpanProcessor(SpanProcessor):
    """Copies the active request attributes onto every span as it starts."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        values = _CURRENT.get()
        if values:
            span.set_attributes(values)

    def on_end(self, span: ReadableSpan) -> None:
        return None

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
