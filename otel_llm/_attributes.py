"""``attributes()``: request-scoped ids and labels on every span (and log) inside a block.

The values live in a ``ContextVar``, so they follow ``await`` and threads started with a
copied context. Ids (conversation, user, anything extra) go on spans and logs only; the
keys declared as metric dimensions (``configure(metric_dimensions=...)``, default
``feature``) are also added to the duration, token and cost metrics. With
``configure(baggage=True)`` the values also enter W3C baggage for downstream services.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from contextvars import ContextVar, Token
from types import MappingProxyType, TracebackType
from typing import Any

from opentelemetry import baggage
from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.util.types import AttributeValue

from . import semconv
from ._redact import safe_label

__all__ = [
    "DEFAULT_METRIC_DIMENSIONS",
    "AttributesSpanProcessor",
    "attributes",
    "configure",
    "current_attributes",
    "current_dimensions",
    "parse_dimensions",
]

_EMPTY: Mapping[str, AttributeValue] = MappingProxyType({})
_Active = tuple[Mapping[str, AttributeValue], Mapping[str, AttributeValue]]
# (every active value, the declared-dimension subset): the subset is picked once per block,
# so an operation start reads its metric labels with one ContextVar lookup.
_CURRENT: ContextVar[_Active] = ContextVar("otel_llm_attributes", default=(_EMPTY, _EMPTY))
MAX_VALUE_LENGTH = 256
MAX_DIMENSION_LENGTH = 64
"""Longest value of a metric dimension: a label, not an id or a sentence."""
MAX_DIMENSIONS = 5
"""Most keys ``metric_dimensions`` may declare: each one multiplies the series count."""
DEFAULT_METRIC_DIMENSIONS: tuple[str, ...] = ("feature",)

_ALIASES: Mapping[str, str] = {"feature": semconv.FEATURE}
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.]*")
# An id in any spelling (id, *_id, *.id, *-id, *Id, *_ids, userid, uuid, guid) or an e-mail.
_ID = re.compile(
    r"(?:^|[._-])(?:ids?|uuid|guid|e_?mail)$|[a-z0-9](?:Id|ID)s?$"
    r"|(?:user|session|request|conversation|trace|span|account|customer|tenant|org|device"
    r"|client|message|thread)ids?$"
)
# Attributes the metrics carry already: a dimension must not overwrite them.
_RESERVED_PREFIXES = ("gen_ai.", "server.", "error.", "otel.", "otel_llm.", "user.")
_dimensions: tuple[str, ...] = (semconv.FEATURE,)
_baggage = False


def _key(name: str) -> str:
    """The attribute key of a declared dimension (``feature`` is ``otel_llm.feature``)."""
    return _ALIASES.get(name, name)


def _dimension_error(name: object) -> str | None:
    """Why ``name`` cannot be a metric dimension, or None when it can."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        return f"{name!r} is not an attribute name (letters, digits, '_' and '.')"
    key = _key(name)
    if _ID.search(key) or _ID.search(key.lower()):
        return f"{name!r} is an id: ids are never metric attributes (one series per value)"
    if key != semconv.FEATURE and key.startswith(_RESERVED_PREFIXES):
        reserved = ", ".join(f"{prefix}*" for prefix in _RESERVED_PREFIXES)
        return f"{name!r} is reserved: {reserved} are not dimensions"
    return None


def parse_dimensions(names: Iterable[object]) -> tuple[tuple[str, ...], list[str]]:
    """The usable dimension names, in order and without repeats, and why others were refused."""
    usable: list[str] = []
    errors: list[str] = []
    for name in names:
        error = _dimension_error(name)
        if error is not None:
            errors.append(error)
        elif name not in usable:
            usable.append(str(name))
    if len(usable) > MAX_DIMENSIONS:
        errors.append(
            f"at most {MAX_DIMENSIONS} dimensions (each multiplies the series count); "
            f"{', '.join(usable[MAX_DIMENSIONS:])} dropped"
        )
        del usable[MAX_DIMENSIONS:]
    return tuple(usable), errors


def configure(*, dimensions: Iterable[str], baggage: bool) -> None:
    """Apply the resolved ``metric_dimensions`` and ``baggage`` settings of ``configure()``."""
    global _dimensions, _baggage
    _dimensions = tuple(dict.fromkeys(_key(name) for name in dimensions))
    _baggage = baggage


def _check(key: str, value: Any) -> AttributeValue:
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        if len(value) > MAX_VALUE_LENGTH:
            raise ValueError(f"{key} is longer than {MAX_VALUE_LENGTH} characters")
        return value
    raise ValueError(f"{key} must be a str, int, float or bool, got {type(value).__name__}")


def _label(value: AttributeValue) -> AttributeValue:
    return safe_label(value) if isinstance(value, str) else value


def _check_dimension(key: str, value: AttributeValue) -> None:
    if isinstance(value, float):
        raise ValueError(f"{key} is a metric dimension: a str, int or bool, not a float")
    if isinstance(value, str) and len(value) > MAX_DIMENSION_LENGTH:
        raise ValueError(
            f"{key} is a metric dimension: at most {MAX_DIMENSION_LENGTH} characters, "
            f"got {len(value)}"
        )


class attributes:
    """Put ``gen_ai.conversation.id``, ``user.id``, ``otel_llm.feature`` and extra
    attributes on every span started inside the block (``with`` or ``async with``)."""

    __slots__ = ("_baggage_token", "_token", "_values")

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
                if key in _dimensions:
                    _check_dimension(key, values[key])
        self._values = values
        self._token: Token[_Active] | None = None
        self._baggage_token: Token[Context] | None = None

    def __enter__(self) -> attributes:
        merged = {**_CURRENT.get()[0], **self._values}
        # dimension values become metric labels, which no exporter wrapper redacts
        dimensions = {key: _label(merged[key]) for key in _dimensions if key in merged}
        self._token = _CURRENT.set(
            (MappingProxyType(merged), MappingProxyType(dimensions) if dimensions else _EMPTY)
        )
        if _baggage and self._values:
            ctx = otel_context.get_current()
            for key, value in self._values.items():
                ctx = baggage.set_baggage(key, str(value), ctx)
            self._baggage_token = otel_context.attach(ctx)
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._baggage_token is not None:
            otel_context.detach(self._baggage_token)
            self._baggage_token = None
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
    return _CURRENT.get()[0]


def current_dimensions() -> Mapping[str, AttributeValue]:
    """The declared metric dimensions active in this context (once per operation start)."""
    return _CURRENT.get()[1]


class AttributesSpanProcessor(SpanProcessor):
    """Copies the active request attributes onto every span as it starts."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        values = _CURRENT.get()[0]
        if values:
            span.set_attributes(values)

    def on_end(self, span: ReadableSpan) -> None:
        return None

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
