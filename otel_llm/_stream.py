"""``stream()``: a generation whose span stays open while chunks arrive.

One idempotent finaliser (``Operation.end``) covers every exit path. The iterator proxies
returned by ``wrap``/``awrap`` translate each way a consumer can leave a stream into it:
exhaustion (completed), an exception (its type), ``break``/``close()``/``aclose()``/
``GeneratorExit``/cancellation (``cancelled``) and garbage collection (``abandoned``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from types import TracebackType
from typing import Any, ClassVar, TypeVar

import wrapt
from opentelemetry.context import Context
from opentelemetry.metrics import Histogram
from opentelemetry.trace import Status, StatusCode

from . import semconv
from ._generation import Generation
from ._logging import log_event
from ._noop import NOOP
from ._operation import Attributes
from ._redact import safe_label
from ._runtime import RT, report_error

__all__ = ["Stream", "stream"]

T = TypeVar("T")
OnChunk = Callable[["Stream", Any], None]

# The per-chunk gap is recorded in a context without a span: an exemplar per chunk would
# point at the same trace hundreds of times (TTFT and duration carry the trace's exemplar),
# and skipping the exemplar reservoir saves a quarter of the SDK's cost per record.
_NO_SPAN = Context()


class Stream(Generation):
    """A streamed generation: call ``chunk()`` per chunk, or hand an iterator to ``wrap()``."""

    __slots__ = (
        "_active_attrs",
        "_chunks",
        "_exact_tokens",
        "_first_at",
        "_last_at",
        "_per_chunk",
        "_tokens",
    )

    _component: ClassVar[str] = "stream"

    def __init__(self, model: str, provider: str, operation: str = semconv.OP_CHAT, **kw: Any):
        super().__init__(model, provider, operation, **kw)
        self._attributes[semconv.GEN_AI_REQUEST_STREAM] = True
        self._chunks = 0
        self._tokens = 0
        self._exact_tokens = True
        self._first_at = 0.0
        self._last_at = 0.0
        self._per_chunk: Histogram | None = None
        self._active_attrs: Attributes = {
            semconv.GEN_AI_PROVIDER_NAME: provider,
            semconv.GEN_AI_REQUEST_MODEL: safe_label(model),
        }

    @property
    def chunks(self) -> int:
        """Chunks received so far."""
        return self._chunks

    def start(self) -> Stream:
        """Start the span and the time-to-first-chunk clock (idempotent)."""
        if self._ctx is not None:
            return self
        super().start()
        try:
            instruments = RT.instruments
            self._per_chunk = instruments.time_per_output_chunk
            instruments.stream_active.add(1, self._active_attrs, context=self._ctx)
        except Exception as exc:
            report_error(self._component, exc)
        return self

    def chunk(self, item: str | int | object = 1) -> None:
        """Record one chunk: text (or any object) counts one token, an int that many tokens.

        The first call records time to first chunk (measured from ``start()``); each later
        call records the gap since the previous chunk.
        """
        if self._ended:
            raise RuntimeError("chunk() called after the stream ended")
        if isinstance(item, int):
            if isinstance(item, bool) or item < 0:
                raise ValueError(f"chunk() takes text or a token count >= 0, got {item!r}")
            self._tokens += item
        else:
            self._tokens += 1
            self._exact_tokens = False
        if self._ctx is None:
            self.start()
        now = time.perf_counter()
        try:
            if self._chunks:
                per_chunk = self._per_chunk
                if per_chunk is not None:
                    per_chunk.record(now - self._last_at, self._metric_attrs, context=_NO_SPAN)
            else:
                self._first_chunk(now)
        except Exception as exc:
            report_error(self._component, exc)
        self._chunks += 1
        self._last_at = now

    def _first_chunk(self, now: float) -> None:
        self._first_at = now
        ttft = now - self._start_time
        RT.instruments.time_to_first_chunk.record(ttft, self._metric_attrs, context=self._ctx)
        self.span.set_attribute(semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, ttft)

    def abort(self, error_type: str = semconv.ERROR_CANCELLED) -> None:
        """End an unfinished stream as aborted (``cancelled``, ``abandoned``, ...)."""
        if self._ended:
            return
        self._error_type = error_type
        try:
            self.span.set_attribute(semconv.ERROR_TYPE, error_type)
            self.span.set_status(Status(StatusCode.ERROR, f"stream {error_type}"))
        except Exception as exc:
            report_error(self._component, exc)
        self.end()

    def _on_end(self, duration: float) -> None:
        span = self.span
        if self._error_type is not None:
            span.set_attribute(
                semconv.GEN_AI_RESPONSE_FINISH_REASONS, [semconv.FINISH_REASON_ERROR]
            )
        if self._output_tokens is None and self._exact_tokens and self._chunks:
            self._output_tokens = self._tokens
        span.set_attribute(semconv.STREAM_CHUNKS, self._chunks)
        tokens = self._output_tokens if self._output_tokens is not None else self._tokens
        elapsed = self._last_at - self._first_at
        instruments = RT.instruments
        if self._chunks > 1 and elapsed > 0 and tokens:
            rate = tokens / elapsed
            span.set_attribute(semconv.STREAM_TOKENS_PER_SECOND, rate)
            instruments.stream_tokens_per_second.record(rate, self._metric_attrs, context=self._ctx)
        if self._per_chunk is not None:
            instruments.stream_active.add(-1, self._active_attrs, context=self._ctx)
        outcome = self._error_type or "completed"
        if outcome != "completed":
            log_event(
                logging.WARNING,
                "stream aborted",
                model=self._model,
                provider=self._provider,
                error_type=outcome,
                chunks=self._chunks,
            )
        if outcome not in (semconv.ERROR_CANCELLED, semconv.ERROR_ABANDONED, "completed"):
            outcome = "error"
        instruments.stream_outcomes.add(
            1, {**self._active_attrs, semconv.STREAM_OUTCOME: outcome}, context=self._ctx
        )
        super()._on_end(duration)

    # -- iterator adapters -------------------------------------------------------------
    def wrap(self, iterable: Iterable[T], on_chunk: OnChunk | None = None) -> Iterator[T]:
        """Return a proxy of ``iterable`` that records each item and ends the span on exit.

        Attributes of the wrapped object stay reachable through the proxy (e.g. an SDK
        stream's ``response``). ``on_chunk(stream, item)`` replaces the default
        ``stream.chunk(item)``; its failures are swallowed.
        """
        self.start()
        return _SyncStreamProxy(iterable, self, on_chunk)

    def awrap(
        self, iterable: AsyncIterable[T], on_chunk: OnChunk | None = None
    ) -> AsyncIterator[T]:
        """The async counterpart of :meth:`wrap`."""
        self.start()
        return _AsyncStreamProxy(iterable, self, on_chunk)


class _ProxyLifecycle(wrapt.ObjectProxy):  # type: ignore[type-arg]
    """What the sync and async proxies share: per-item recording and the GC finaliser."""

    def __init__(self, wrapped: Any, stream: Stream, on_chunk: OnChunk | None) -> None:
        super().__init__(wrapped)
        self._self_stream = stream
        self._self_on_chunk = on_chunk

    def _self_item(self, item: Any) -> None:
        stream: Stream = self._self_stream
        try:
            if self._self_on_chunk is None:
                stream.chunk(item if isinstance(item, (str, int)) else 1)
            else:
                self._self_on_chunk(stream, item)
        except Exception as exc:
            report_error(stream._component, exc)

    def _self_exit(self, exc: BaseException | None) -> None:
        stream: Stream = self._self_stream
        if exc is not None:
            stream.end(exc)
        else:
            stream.abort(semconv.ERROR_CANCELLED)  # left before exhaustion: never a silent OK

    def __del__(self) -> None:
        try:
            stream: Stream = self._self_stream
        except AttributeError:  # construction failed
            return
        if not stream.ended:
            try:
                RT.instruments.streams_gc_finalized.add(1, stream._active_attrs)
            except Exception as exc:
                report_error(stream._component, exc)
            stream.abort(semconv.ERROR_ABANDONED)

    def __reduce_ex__(self, protocol: Any) -> Any:  # pragma: no cover - proxies are not pickled
        raise TypeError("otel-llm stream proxies cannot be pickled")


class _SyncStreamProxy(_ProxyLifecycle):
    def __init__(self, wrapped: Any, stream: Stream, on_chunk: OnChunk | None) -> None:
        if not hasattr(wrapped, "__next__"):
            wrapped = iter(wrapped)
        super().__init__(wrapped, stream, on_chunk)

    def __iter__(self) -> _SyncStreamProxy:
        return self

    def __next__(self) -> Any:
        try:
            item = next(self.__wrapped__)
        except StopIteration:
            self._self_stream.end()
            raise
        except BaseException as exc:
            self._self_stream.end(exc)
            raise
        self._self_item(item)
        return item

    def close(self) -> None:
        try:
            close = getattr(self.__wrapped__, "close", None)
            if close is not None:
                close()
        finally:
            self._self_exit(None)

    def __enter__(self) -> _SyncStreamProxy:
        enter = getattr(self.__wrapped__, "__enter__", None)
        if enter is not None:
            enter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any:
        try:
            exit_ = getattr(self.__wrapped__, "__exit__", None)
            result = exit_(exc_type, exc, tb) if exit_ is not None else None
        finally:
            self._self_exit(exc)
        return result


class _AsyncStreamProxy(_ProxyLifecycle):
    def __init__(self, wrapped: Any, stream: Stream, on_chunk: OnChunk | None) -> None:
        if not hasattr(wrapped, "__anext__"):
            wrapped = wrapped.__aiter__()
        super().__init__(wrapped, stream, on_chunk)

    def __aiter__(self) -> _AsyncStreamProxy:
        return self

    async def __anext__(self) -> Any:
        try:
            item = await self.__wrapped__.__anext__()
        except StopAsyncIteration:
            self._self_stream.end()
            raise
        except BaseException as exc:
            self._self_stream.end(exc)
            raise
        self._self_item(item)
        return item

    async def aclose(self) -> None:
        try:
            closer = getattr(self.__wrapped__, "aclose", None) or getattr(
                self.__wrapped__, "close", None
            )
            if closer is not None:
                result = closer()
                if hasattr(result, "__await__"):
                    await result
        finally:
            self._self_exit(None)

    close = aclose  # openai's AsyncStream names it close()

    async def __aenter__(self) -> _AsyncStreamProxy:
        enter = getattr(self.__wrapped__, "__aenter__", None)
        if enter is not None:
            await enter()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any:
        try:
            exit_ = getattr(self.__wrapped__, "__aexit__", None)
            result = await exit_(exc_type, exc, tb) if exit_ is not None else None
        finally:
            self._self_exit(exc)
        return result


def stream(
    model: str,
    provider: str,
    operation: str = semconv.OP_CHAT,
    *,
    server_address: str | None = None,
    server_port: int | None = None,
    in_process: bool = False,
    **request_params: Any,
) -> Stream:
    """Trace a streamed model call: a generation with ``gen_ai.request.stream=true``.

    Use ``with``/``async with`` and call ``chunk()`` per chunk, or return
    ``stream(...).wrap(iterator)`` / ``.awrap(async_iterator)`` to a consumer.
    """
    if not RT.enabled:
        return NOOP  # type: ignore[return-value]
    return Stream(
        model,
        provider,
        operation,
        server_address=server_address,
        server_port=server_port,
        in_process=in_process,
        **request_params,
    )
