"""tiktoken instrumentation: ``Encoding`` encode/decode calls become tokenizer telemetry.

Every wrapped call is a ``Tokenize`` handle with ``parent_required=True``: the tokenizer
metrics (duration, tokens, input characters) are always recorded, a ``tokenizer.encode`` /
``tokenizer.decode`` span only under an active span, so a hot tokenizer never floods a
trace backend with root spans.

The batch methods run the per-text method in a thread pool. They are recorded as ONE
operation: the library's own batch function runs with a ``self`` whose per-text methods
are the uninstrumented originals, so the items are not counted a second time.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Collection, Sequence, Sized
from typing import Any

import wrapt
from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)
from opentelemetry.instrumentation.utils import unwrap

from .._runtime import RT, report_error
from .._tokenize import Tokenize

__all__ = ["TiktokenInstrumentor"]

_log = logging.getLogger(__name__)
_COMPONENT = "instrumentation.tiktoken"
_MODULE = "tiktoken.core"

_SINGLE: dict[str, str] = {
    "encode": "encode",
    "encode_ordinary": "encode",
    "encode_to_numpy": "encode",
    "decode": "decode",
}
"""Per-text methods and the tokenizer operation they record."""
_BATCH: dict[str, str] = {
    "encode_batch": "encode",
    "encode_ordinary_batch": "encode",
    "decode_batch": "decode",
}
"""Batch methods and the tokenizer operation they record."""


def _text_wrapper(operation: str) -> Callable[..., Any]:
    encode = operation == "encode"

    def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if not RT.enabled:
            return wrapped(*args, **kwargs)
        try:
            arg: Any = args[0] if args else kwargs.get("text" if encode else "tokens")
            size = len(arg) if isinstance(arg, Sized) else None  # the library rejects the rest
            op = Tokenize(operation, instance.name, size if encode else None, None, True)
            if not encode and size is not None:
                op.set_tokens(size)
            op.start()
        except Exception as exc:
            report_error(_COMPONENT, exc)
            return wrapped(*args, **kwargs)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            op.end(exc)
            raise
        if encode:
            try:
                op.set_tokens(len(result))
            except Exception as exc:
                report_error(_COMPONENT, exc)
        op.end()
        return result

    return wrapper


def _plain_method(instance: Any, name: str) -> Callable[..., Any]:
    """``type(instance).name`` as defined (a subclass override kept), minus our wrapper."""
    for klass in type(instance).__mro__:
        raw = klass.__dict__.get(name)
        if raw is not None:
            if isinstance(raw, wrapt.FunctionWrapper):
                raw = raw.__wrapped__
            return functools.partial(raw, instance)
    raise AttributeError(name)


class _Uninstrumented(wrapt.ObjectProxy):  # type: ignore[type-arg]
    """An ``Encoding`` whose per-text methods are uninstrumented, for the batch methods."""

    def encode(self, *args: Any, **kwargs: Any) -> Any:
        return _plain_method(self.__wrapped__, "encode")(*args, **kwargs)

    def encode_ordinary(self, *args: Any, **kwargs: Any) -> Any:
        return _plain_method(self.__wrapped__, "encode_ordinary")(*args, **kwargs)

    def decode(self, *args: Any, **kwargs: Any) -> Any:
        return _plain_method(self.__wrapped__, "decode")(*args, **kwargs)


def _batch_wrapper(operation: str) -> Callable[..., Any]:
    encode = operation == "encode"

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not RT.enabled:
            return wrapped(*args, **kwargs)
        try:
            batch: Any = args[0] if args else kwargs["text" if encode else "batch"]
            # A one-shot iterable (a generator) is the library's to consume: not measured.
            total = (
                sum(len(item) if isinstance(item, Sized) else 0 for item in batch)
                if isinstance(batch, Sequence)
                else None
            )
            op = Tokenize(operation, instance.name, total if encode else None, None, True)
            if not encode and total is not None:
                op.set_tokens(total)
            func = wrapped.__func__
            target = _Uninstrumented(instance)
            op.start()
        except Exception as exc:
            report_error(_COMPONENT, exc)
            return wrapped(*args, **kwargs)
        try:
            result = func(target, *args, **kwargs)
        except BaseException as exc:
            op.end(exc)
            raise
        if encode:
            try:
                op.set_tokens(sum(len(ids) for ids in result))
            except Exception as exc:
                report_error(_COMPONENT, exc)
        op.end()
        return result

    return wrapper


class TiktokenInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Record tokenizer telemetry for ``tiktoken.Encoding`` encode and decode calls."""

    _wrapped: list[str] = []  # noqa: RUF012 - one instance (BaseInstrumentor is a singleton)

    def instrumentation_dependencies(self) -> Collection[str]:
        """The tested tiktoken versions."""
        return ("tiktoken >= 0.7, < 1",)

    def _instrument(self, **kwargs: Any) -> None:
        try:
            from tiktoken.core import Encoding
        except ImportError as exc:  # pragma: no cover - dependency check runs first
            _log.debug("otel-llm: tiktoken not importable, not instrumented: %s", exc)
            return
        wrapped: list[str] = []
        plan: list[tuple[str, Callable[..., Any]]] = [
            *((name, _text_wrapper(op)) for name, op in _SINGLE.items()),
            *((name, _batch_wrapper(op)) for name, op in _BATCH.items()),
        ]
        for name, wrapper in plan:
            if not callable(Encoding.__dict__.get(name)):
                _log.debug("otel-llm: tiktoken Encoding.%s missing; not instrumented", name)
                continue
            wrapt.wrap_function_wrapper(_MODULE, f"Encoding.{name}", wrapper)
            wrapped.append(name)
        type(self)._wrapped = wrapped

    def _uninstrument(self, **kwargs: Any) -> None:
        from tiktoken.core import Encoding

        for name in type(self)._wrapped:
            unwrap(Encoding, name)
        type(self)._wrapped = []
