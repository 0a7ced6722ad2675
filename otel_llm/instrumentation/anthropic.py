"""anthropic instrumentation: Messages API create (sync/async, ``stream=True``) and ``stream()``.

A thin adapter onto ``Generation`` / ``Stream``, like the openai one. Anthropic-specific
facts it translates:

- Usage: Anthropic's ``input_tokens`` excludes prompt-cache reads and writes; the semconv
  ``gen_ai.usage.input_tokens`` includes them, so it is their sum, and the parts are
  ``gen_ai.usage.cache_read.input_tokens`` / ``gen_ai.usage.cache_creation.input_tokens``.
  In a stream, ``message_start`` carries the input side and ``message_delta`` the final
  (cumulative) output count.
- ``stop_reason`` (``end_turn``, ``max_tokens``, ``tool_use``, ...) is the finish reason.
- ``messages.stream()`` does not call ``create``: its manager's request is wrapped instead.

**The SDK's own tracing.** anthropic >= 2 emits its own CLIENT span per API call
(``anthropic.messages.create``) whenever a tracer provider is set. Next to ours that is a
second GenAI span with the same usage: trace-based cost tools would count it twice. So by
default, a client that makes an instrumented call has its SDK spans switched off (per
client, never through the environment), and ``uninstrument()`` switches them back on.
``AnthropicInstrumentor().instrument(sdk_spans="keep")`` keeps them, nested under ours.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Collection, Mapping
from typing import Any, Literal

from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)

from .. import semconv
from .._budget import BudgetExceeded
from .._generation import Generation
from .._runtime import RT, report_error
from .._stream import Stream
from ._sdk import (
    CheckedStream,
    Patcher,
    Target,
    as_dict,
    attach,
    count,
    detach,
    get,
    given,
    ident,
    parsed,
    server,
)

__all__ = ["AnthropicInstrumentor"]

_log = logging.getLogger(__name__)
_COMPONENT = "instrumentation.anthropic"
PROVIDER = "anthropic"
"""``gen_ai.provider.name`` of every anthropic call."""

SdkSpans = Literal["suppress", "keep"]

# client -> its tracer before we switched its own spans off (restored by uninstrument)
_silenced: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
_mode: dict[str, SdkSpans] = {"sdk_spans": "suppress"}


def _silence_sdk_spans(instance: Any) -> None:
    """Switch off the SDK's own span for this resource's client (see the module doc)."""
    if _mode["sdk_spans"] != "suppress":
        return
    client = getattr(instance, "_client", None)
    if client is None or client in _silenced or not hasattr(client, "_lazy_tracer"):
        return
    _silenced[client] = client._lazy_tracer
    client._lazy_tracer = None  # the SDK's "no spans" state (its tracer property caches it)


def _restore_sdk_spans() -> None:
    for client, previous in list(_silenced.items()):
        try:
            client._lazy_tracer = previous
        except Exception as exc:  # pragma: no cover - a client that refuses attributes
            report_error(_COMPONENT, exc)
    _silenced.clear()


# -- request and response -------------------------------------------------------------------
def _params(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    params = {
        "max_tokens": given(kwargs.get("max_tokens")),
        "temperature": given(kwargs.get("temperature")),
        "top_p": given(kwargs.get("top_p")),
        "top_k": given(kwargs.get("top_k")),
        "stop_sequences": given(kwargs.get("stop_sequences")),
    }
    if not isinstance(params["stop_sequences"], (str, list, tuple)):  # the API rejects others
        params["stop_sequences"] = None
    return {k: v for k, v in params.items() if v is not None}


def _parts(content: Any) -> list[dict[str, Any]]:
    """Anthropic content (a string or blocks) as semconv message parts."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[dict[str, Any]] = []
    for block in content if isinstance(content, (list, tuple)) else [content]:
        data = as_dict(block)
        kind = data.get("type")
        if kind == "text":
            parts.append({"type": "text", "content": data.get("text", "")})
        elif kind == "tool_use":
            parts.append(
                {
                    "type": "tool_call",
                    "id": data.get("id"),
                    "name": data.get("name"),
                    "arguments": data.get("input"),
                }
            )
        elif kind == "tool_result":
            parts.append(
                {
                    "type": "tool_call_response",
                    "id": data.get("tool_use_id"),
                    "response": data.get("content"),
                }
            )
        elif kind == "thinking":
            parts.append({"type": "reasoning", "content": data.get("thinking", "")})
        else:
            parts.append({"type": str(kind or "unknown")})
    return parts


def _inputs(kwargs: Mapping[str, Any]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    system = given(kwargs.get("system"))
    if system:
        messages.append({"role": "system", "parts": _parts(system)})
    for message in given(kwargs.get("messages")) or []:
        data = as_dict(message)
        messages.append(
            {"role": str(data.get("role") or "user"), "parts": _parts(data.get("content"))}
        )
    return messages


class _Usage:
    """Anthropic usage, merged across stream events, in semconv form."""

    __slots__ = ("cache_creation", "cache_read", "input", "output")

    def __init__(self) -> None:
        self.input: int | None = None
        self.output: int | None = None
        self.cache_read: int | None = None
        self.cache_creation: int | None = None

    def update(self, usage: Any) -> None:
        if usage is None:
            return
        for field, key in (
            ("input", "input_tokens"),
            ("output", "output_tokens"),
            ("cache_read", "cache_read_input_tokens"),
            ("cache_creation", "cache_creation_input_tokens"),
        ):
            value = count(get(usage, key), _COMPONENT)
            if value is not None:
                setattr(self, field, value)

    def apply(self, gen: Generation) -> None:
        total = None
        if self.input is not None:
            total = self.input + (self.cache_read or 0) + (self.cache_creation or 0)
        gen.set_response(
            input_tokens=total,
            output_tokens=self.output,
            cache_read_input_tokens=self.cache_read or None,
            cache_creation_input_tokens=self.cache_creation or None,
        )


def _response(gen: Generation, message: Any) -> None:
    reason = get(message, "stop_reason")
    gen.set_response(
        model=ident(get(message, "model"), _COMPONENT),
        response_id=ident(get(message, "id"), _COMPONENT),
        finish_reasons=[str(reason)] if reason else None,
    )
    usage = _Usage()
    usage.update(get(message, "usage"))
    usage.apply(gen)
    gen.set_tool_calls(
        (get(block, "name"), get(block, "id"))
        for block in get(message, "content") or []
        if get(block, "type") == "tool_use"
    )
    if RT.capture != "NO_CONTENT":
        gen.set_output_messages(
            [
                {
                    "role": str(get(message, "role") or "assistant"),
                    "parts": _parts(get(message, "content")),
                    "finish_reason": reason,
                }
            ]
        )


class _Events:
    """Per-stream state: ``content_block_delta`` events are chunks; usage is merged."""

    def __init__(self) -> None:
        self._usage = _Usage()
        self._text: list[str] = []
        self._reason: str | None = None
        self._tools: list[tuple[object, object]] = []
        self.finished = False

    def __call__(self, stream: Stream, event: Any) -> None:
        kind = get(event, "type")
        if kind == "content_block_delta":
            delta = get(event, "delta")
            text = get(delta, "text")
            if isinstance(text, str):
                stream.chunk(text)
                if RT.capture != "NO_CONTENT":
                    self._text.append(text)
            else:  # tool-call JSON, thinking, signatures: output, but not text
                stream.chunk(get(delta, "partial_json") or get(delta, "thinking") or 1)
        elif kind == "content_block_start":
            block = get(event, "content_block")
            if get(block, "type") == "tool_use":
                self._tools.append((get(block, "name"), get(block, "id")))
        elif kind == "message_start":
            message = get(event, "message")
            stream.set_response(
                model=ident(get(message, "model"), _COMPONENT),
                response_id=ident(get(message, "id"), _COMPONENT),
            )
            self._usage.update(get(message, "usage"))
            self._usage.apply(stream)
        elif kind == "message_delta":
            reason = get(get(event, "delta"), "stop_reason")
            if reason:
                self.finished = True
                self._reason = str(reason)
                stream.set_response(finish_reasons=[self._reason])
            self._usage.update(get(event, "usage"))
            self._usage.apply(stream)
        elif kind == "message_stop":
            self.finished = True
            stream.set_tool_calls(self._tools)
            if RT.capture == "NO_CONTENT":
                return
            stream.set_output_messages(
                [
                    {
                        "role": "assistant",
                        "parts": _parts("".join(self._text)),
                        "finish_reason": self._reason,
                    }
                ]
            )


# -- the wrappers -------------------------------------------------------------------------------
def _begin(instance: Any, kwargs: Mapping[str, Any], streamed: bool) -> Generation | None:
    model = kwargs.get("model")
    if not isinstance(model, str) or not model:
        return None  # the SDK rejects the call itself
    try:
        _silence_sdk_spans(instance)
        host, port = server(instance)
        cls = CheckedStream if streamed else Generation
        gen = cls(
            model,
            PROVIDER,
            semconv.OP_CHAT,
            server_address=host,
            server_port=port,
            **_params(kwargs),
        )
        gen.start()
        if RT.capture != "NO_CONTENT":
            gen.set_input_messages(_inputs(kwargs))
        return gen
    except BudgetExceeded:
        raise  # a hard budget refuses the call before the request is sent
    except Exception as exc:
        report_error(_COMPONENT, exc)
        return None


def _finish(gen: Generation, result: Any) -> Any:
    if isinstance(gen, Stream):
        try:
            events = _Events()
            if isinstance(gen, CheckedStream):
                gen.progress = events
            if hasattr(result, "__anext__") or hasattr(result, "__aiter__"):
                return gen.awrap(result, events)
            if hasattr(result, "__next__") or hasattr(result, "__iter__"):
                return gen.wrap(result, events)
        except Exception as exc:
            report_error(_COMPONENT, exc)
        gen.end()  # a raw response object: the span covers the request only
        return result
    try:
        _response(gen, parsed(result))
    except Exception as exc:
        report_error(_COMPONENT, exc)
    gen.end()
    return result


def _create(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    if not RT.enabled:
        return wrapped(*args, **kwargs)
    gen = _begin(instance, kwargs, kwargs.get("stream") is True)
    if gen is None:
        return wrapped(*args, **kwargs)
    token = attach(gen)
    try:
        result = wrapped(*args, **kwargs)
    except BaseException as exc:
        gen.end(exc)
        raise
    finally:
        detach(token)
    return _finish(gen, result)


async def _acreate(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    if not RT.enabled:
        return await wrapped(*args, **kwargs)
    gen = _begin(instance, kwargs, kwargs.get("stream") is True)
    if gen is None:
        return await wrapped(*args, **kwargs)
    token = attach(gen)
    try:
        result = await wrapped(*args, **kwargs)
    except BaseException as exc:
        gen.end(exc)
        raise
    finally:
        detach(token)
    return _finish(gen, result)


_SYNC_REQUEST = "_MessageStreamManager__api_request"
_ASYNC_REQUEST = "_AsyncMessageStreamManager__api_request"


def _stream(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """``messages.stream()``: instrument the request its manager sends on ``__enter__``."""
    manager = wrapped(*args, **kwargs)
    if not RT.enabled:
        return manager
    request = getattr(manager, _SYNC_REQUEST, None)
    if not callable(request):
        _log.debug("otel-llm: anthropic MessageStreamManager changed; stream() not traced")
        return manager

    def send() -> Any:
        gen = _begin(instance, kwargs, True)
        if gen is None:
            return request()
        token = attach(gen)
        try:
            raw = request()
        except BaseException as exc:
            gen.end(exc)
            raise
        finally:
            detach(token)
        return _finish(gen, raw)

    setattr(manager, _SYNC_REQUEST, send)
    return manager


def _astream(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Async ``messages.stream()``: its manager awaits a prepared request coroutine."""
    manager = wrapped(*args, **kwargs)
    if not RT.enabled:
        return manager
    request = getattr(manager, _ASYNC_REQUEST, None)
    if request is None or not hasattr(request, "__await__"):
        _log.debug("otel-llm: anthropic AsyncMessageStreamManager changed; stream() not traced")
        return manager

    async def send() -> Any:
        gen = _begin(instance, kwargs, True)
        if gen is None:
            return await request
        token = attach(gen)
        try:
            raw = await request
        except BaseException as exc:
            gen.end(exc)
            raise
        finally:
            detach(token)
        return _finish(gen, raw)

    setattr(manager, _ASYNC_REQUEST, send())
    return manager


_TARGETS: tuple[Target, ...] = (
    ("anthropic.resources.messages", "Messages.create", _create),
    ("anthropic.resources.messages", "Messages.parse", _create),
    ("anthropic.resources.messages", "Messages.stream", _stream),
    ("anthropic.resources.messages", "AsyncMessages.create", _acreate),
    ("anthropic.resources.messages", "AsyncMessages.parse", _acreate),
    ("anthropic.resources.messages", "AsyncMessages.stream", _astream),
)
"""(module, "Class.method", wrapper) for every method this instrumentor wraps."""


_PATCHER = Patcher("anthropic", _TARGETS)


class AnthropicInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Trace anthropic Messages API calls as GenAI generations (one span per call).

    Nothing of anthropic is imported here: the methods are wrapped when the application
    imports ``anthropic.resources.messages`` (at once if it already has).
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        """The tested anthropic versions (0.125, 1.17 and 2.12 were run)."""
        return ("anthropic >= 0.125, < 3",)

    def _instrument(self, **kwargs: Any) -> None:
        mode = kwargs.get("sdk_spans", "suppress")
        if mode not in ("suppress", "keep"):
            raise ValueError(f"sdk_spans must be 'suppress' or 'keep', got {mode!r}")
        _mode["sdk_spans"] = mode
        _PATCHER.install()

    def _uninstrument(self, **kwargs: Any) -> None:
        _PATCHER.remove()
        _restore_sdk_spans()
