"""``@traced``: a span around a function, coroutine, generator or async generator."""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from typing import Any, ClassVar, TypeVar, overload

from opentelemetry import context as otel_context
from opentelemetry.util.types import AttributeValue

from ._operation import Attributes, Operation
from ._runtime import RT

__all__ = ["traced"]

F = TypeVar("F", bound=Callable[..., Any])


class _Span(Operation):
    __slots__ = ("_attributes", "_name")
    _component: ClassVar[str] = "traced"

    def __init__(self, name: str, attributes: Attributes) -> None:
        super().__init__()
        self._name = name
        self._attributes = attributes

    def _span_name(self) -> str:
        return self._name

    def _start_attributes(self) -> Attributes:
        return self._attributes


def _generator(fn: Callable[..., Generator[Any, Any, Any]], name: str, attrs: Attributes) -> Any:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        if not RT.enabled:
            return (yield from fn(*args, **kwargs))
        op = _Span(name, attrs).start()
        ctx = op._ctx
        gen = fn(*args, **kwargs)
        sent: Any = None
        try:
            while True:
                token = otel_context.attach(ctx) if ctx is not None else None
                try:
                    item = gen.send(sent)
                except StopIteration as stop:
                    op.end()
                    return stop.value
                finally:
                    if token is not None:
                        otel_context.detach(token)
                sent = yield item
        except GeneratorExit:
            gen.close()
            op.end(GeneratorExit())
            raise
        except BaseException as exc:
            op.end(exc)
            raise

    return wrapper


def _async_generator(
    fn: Callable[..., AsyncGenerator[Any, Any]], name: str, attrs: Attributes
) -> Any:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        if not RT.enabled:
            async for item in fn(*args, **kwargs):
                yield item
            return
        op = _Span(name, attrs).start()
        ctx = op._ctx
        agen = fn(*args, **kwargs)
        sent: Any = None
        try:
            while True:
                token = otel_context.attach(ctx) if ctx is not None else None
                try:
                    item = await agen.asend(sent)
                except StopAsyncIteration:
                    op.end()
                    return
                finally:
                    if token is not None:
                        otel_context.detach(token)
                sent = yield item
        except GeneratorExit:
            await agen.aclose()
            op.end(GeneratorExit())
            raise
        except BaseException as exc:
            op.end(exc)
            raise

    return wrapper


def _decorate(fn: F, name: str | None, attributes: Mapping[str, AttributeValue] | None) -> F:
    span_name = name or fn.__qualname__
    attrs: Attributes = dict(attributes or {})
    if inspect.isasyncgenfunction(fn):
        return _async_generator(fn, span_name, attrs)  # type: ignore[no-any-return]
    if inspect.isgeneratorfunction(fn):
        return _generator(fn, span_name, attrs)  # type: ignore[no-any-return]
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            if not RT.enabled:
                return await fn(*args, **kwargs)
            with _Span(span_name, attrs):
                return await fn(*args, **kwargs)

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not RT.enabled:
            return fn(*args, **kwargs)
        with _Span(span_name, attrs):
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@overload
def traced(fn: F, /) -> F: ...
@overload
def traced(
    *, name: str | None = None, attributes: Mapping[str, AttributeValue] | None = None
) -> Callable[[F], F]: ...
def traced(
    fn: F | None = None,
    /,
    *,
    name: str | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> F | Callable[[F], F]:
    """Trace a function: ``@traced`` or ``@traced(name=..., attributes={...})``.

    Works on sync and async functions, generators and async generators; for generators the
    span covers the whole iteration, and closing one early records ``error.type=cancelled``.
    """
    if fn is not None:
        if not callable(fn):
            raise TypeError("@traced decorates a function; use @traced(name=...) for options")
        return _decorate(fn, name, attributes)

    def decorator(func: F) -> F:
        return _decorate(func, name, attributes)

    return decorator
