"""openai instrumentation: chat, legacy completions, embeddings and the Responses API.

A thin adapter: each wrapped SDK method becomes a ``Generation`` (or, with ``stream=True``,
a ``Stream`` whose proxy replaces the SDK's stream object), so telemetry is identical to the
manual ``otel_llm.generation()`` / ``otel_llm.stream()`` API. What is wrapped, sync and async:

- ``chat.completions.create`` / ``.parse`` (and ``.stream()``, which calls ``create``),
- ``completions.create`` (legacy text completions),
- ``embeddings.create``,
- ``responses.create`` / ``.parse`` (and ``.stream()``, which calls ``create``),
- ``close()`` of the ``.stream()`` helper objects, which close the HTTP response directly:
  the wrapper closes our stream proxy too, so an early exit is ``cancelled``, not a GC.

Usage is read from the response or the final stream chunk; a stream without usage
(``stream_options={"include_usage": True}`` not set) records no token counts rather than
invented ones. Errors keep the SDK's exception class as ``error.type`` (``RateLimitError``,
``InternalServerError``, ``APITimeoutError``, ``APIConnectionError``, ...).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

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

__all__ = ["OpenAIInstrumentor"]

_log = logging.getLogger(__name__)
_COMPONENT = "instrumentation.openai"
PROVIDER = "openai"
"""``gen_ai.provider.name`` of every openai call."""


def _output_type(fmt: Any) -> str | None:
    if isinstance(fmt, type):  # a pydantic class given to .parse()
        return "json"
    kind = get(fmt, "type") if fmt is not None else None
    if kind in ("json_object", "json_schema"):
        return "json"
    return "text" if kind == "text" else None


def _parts(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[dict[str, Any]] = []
    for item in content if isinstance(content, (list, tuple)) else [content]:
        data = as_dict(item)
        kind = data.get("type")
        if kind in ("text", "input_text", "output_text"):
            parts.append({"type": "text", "content": data.get("text", "")})
        elif kind == "refusal":
            parts.append({"type": "text", "content": data.get("refusal", "")})
        else:
            parts.append({"type": str(kind or "unknown")})
    return parts


def _tool_call_parts(calls: Any) -> list[dict[str, Any]]:
    parts = []
    for call in calls or []:
        data = as_dict(call)
        function = as_dict(data.get("function"))
        parts.append(
            {
                "type": "tool_call",
                "id": data.get("id"),
                "name": function.get("name"),
                "arguments": function.get("arguments"),
            }
        )
    return parts


def _chat_messages(messages: Any) -> list[dict[str, Any]]:
    """Chat request messages in the semconv ``gen_ai.input.messages`` shape."""
    result = []
    for message in messages or []:
        data = as_dict(message)
        role = str(data.get("role") or "user")
        if role == "tool":
            parts: list[dict[str, Any]] = [
                {
                    "type": "tool_call_response",
                    "id": data.get("tool_call_id"),
                    "response": data.get("content"),
                }
            ]
        else:
            parts = _parts(data.get("content")) + _tool_call_parts(data.get("tool_calls"))
        result.append({"role": role, "parts": parts})
    return result


# -- one description per API ----------------------------------------------------------
Params = dict[str, Any]


@dataclass(frozen=True)
class _Api:
    """How one SDK method maps onto a generation."""

    operation: str
    params: Callable[[Mapping[str, Any]], Params]
    response: Callable[[Generation, Any], None]
    chunks: Callable[[Mapping[str, Any]], Callable[[Stream, Any], None]] | None = None
    inputs: Callable[[Mapping[str, Any]], Any] | None = None


def _listed(value: Any) -> Any:
    """A str or list parameter as given; any other type (the API rejects it) as None."""
    return value if isinstance(value, (str, list, tuple)) else None


def _sampling(kwargs: Mapping[str, Any], max_tokens: Any) -> Params:
    stop = _listed(given(kwargs.get("stop")))
    return {
        "max_tokens": max_tokens,
        "temperature": given(kwargs.get("temperature")),
        "top_p": given(kwargs.get("top_p")),
        "frequency_penalty": given(kwargs.get("frequency_penalty")),
        "presence_penalty": given(kwargs.get("presence_penalty")),
        "seed": given(kwargs.get("seed")),
        "stop_sequences": stop,
        "choice_count": given(kwargs.get("n")),
    }


def _chat_params(kwargs: Mapping[str, Any]) -> Params:
    max_tokens = given(kwargs.get("max_completion_tokens")) or given(kwargs.get("max_tokens"))
    params = _sampling(kwargs, max_tokens)
    params["output_type"] = _output_type(given(kwargs.get("response_format")))
    return params


def _completion_params(kwargs: Mapping[str, Any]) -> Params:
    return _sampling(kwargs, given(kwargs.get("max_tokens")))


def _embedding_params(kwargs: Mapping[str, Any]) -> Params:
    return {"encoding_formats": _listed(given(kwargs.get("encoding_format")))}


def _responses_params(kwargs: Mapping[str, Any]) -> Params:
    text = given(kwargs.get("text"))
    fmt = given(kwargs.get("text_format")) or (get(text, "format") if text else None)
    return {
        "max_tokens": given(kwargs.get("max_output_tokens")),
        "temperature": given(kwargs.get("temperature")),
        "top_p": given(kwargs.get("top_p")),
        "output_type": _output_type(fmt),
    }


class Usage(TypedDict, total=False):
    """Token counts in ``Generation.set_response`` keyword form."""

    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int
    reasoning_output_tokens: int


def _usage(usage: Any, input_key: str, output_key: str, details: tuple[str, str]) -> Usage:
    """Token counts of an SDK usage object (absent counts are left out, never invented)."""
    if usage is None:
        return {}
    counts: Usage = {}
    value = count(get(usage, input_key), _COMPONENT)
    if value is not None:
        counts["input_tokens"] = value
    value = count(get(usage, output_key), _COMPONENT)
    if value is not None:
        counts["output_tokens"] = value
    cached = count(get(get(usage, details[0]), "cached_tokens"), _COMPONENT)
    if cached:
        counts["cache_read_input_tokens"] = cached
    reasoning = count(get(get(usage, details[1]), "reasoning_tokens"), _COMPONENT)
    if reasoning:
        counts["reasoning_output_tokens"] = reasoning
    return counts


def _completion_usage(usage: Any) -> Usage:
    return _usage(
        usage,
        "prompt_tokens",
        "completion_tokens",
        ("prompt_tokens_details", "completion_tokens_details"),
    )


def _chat_response(gen: Generation, result: Any) -> None:
    choices = get(result, "choices") or []
    gen.set_response(
        model=ident(get(result, "model"), _COMPONENT),
        response_id=ident(get(result, "id"), _COMPONENT),
        finish_reasons=[str(get(c, "finish_reason") or "") for c in choices] or None,
        **_completion_usage(get(result, "usage")),
    )
    gen.set_tool_calls(
        (get(get(call, "function"), "name"), get(call, "id"))
        for c in choices
        for call in get(get(c, "message"), "tool_calls") or []
    )
    if RT.capture != "NO_CONTENT":
        gen.set_output_messages(
            [
                {
                    "role": "assistant",
                    "parts": _parts(get(get(c, "message"), "content"))
                    + _tool_call_parts(get(get(c, "message"), "tool_calls")),
                    "finish_reason": get(c, "finish_reason"),
                }
                for c in choices
            ]
        )


def _completion_response(gen: Generation, result: Any) -> None:
    choices = get(result, "choices") or []
    gen.set_response(
        model=ident(get(result, "model"), _COMPONENT),
        response_id=ident(get(result, "id"), _COMPONENT),
        finish_reasons=[str(get(c, "finish_reason") or "") for c in choices] or None,
        **_completion_usage(get(result, "usage")),
    )
    if RT.capture != "NO_CONTENT":
        gen.set_output_messages(
            [
                {
                    "role": "assistant",
                    "parts": _parts(get(c, "text")),
                    "finish_reason": get(c, "finish_reason"),
                }
                for c in choices
            ]
        )


def _embedding_response(gen: Generation, result: Any) -> None:
    usage = get(result, "usage")
    gen.set_response(
        model=ident(get(result, "model"), _COMPONENT),
        input_tokens=count(get(usage, "prompt_tokens"), _COMPONENT),
    )
    data = get(result, "data") or []
    vector = get(data[0], "embedding") if data else None
    if isinstance(vector, str):  # encoding_format="base64": packed little-endian float32
        vector = range(len(base64.b64decode(vector)) // 4)
    if isinstance(vector, (list, range)):
        gen.set_attribute(semconv.GEN_AI_EMBEDDINGS_DIMENSION_COUNT, len(vector))


_RESPONSE_STATUS = {"completed": "stop", "failed": "error", "cancelled": "cancelled"}
_INCOMPLETE_REASON = {"max_output_tokens": "length", "content_filter": "content_filter"}


def _response_finish(response: Any) -> str | None:
    status = get(response, "status")
    if status == "incomplete":
        reason = get(get(response, "incomplete_details"), "reason")
        return _INCOMPLETE_REASON.get(str(reason), str(reason or "incomplete"))
    if status == "completed":
        kinds = {get(item, "type") for item in get(response, "output") or []}
        return "tool_calls" if "function_call" in kinds else "stop"
    return _RESPONSE_STATUS.get(str(status)) if status else None


def _responses_response(gen: Generation, result: Any) -> None:
    finish = _response_finish(result)
    gen.set_response(
        model=ident(get(result, "model"), _COMPONENT),
        response_id=ident(get(result, "id"), _COMPONENT),
        finish_reasons=[finish] if finish else None,
        **_usage(
            get(result, "usage"),
            "input_tokens",
            "output_tokens",
            ("input_tokens_details", "output_tokens_details"),
        ),
    )
    gen.set_tool_calls(
        (get(item, "name"), get(item, "call_id"))
        for item in get(result, "output") or []
        if get(item, "type") == "function_call"
    )
    if RT.capture != "NO_CONTENT":
        parts: list[dict[str, Any]] = []
        for item in get(result, "output") or []:
            kind = get(item, "type")
            if kind == "message":
                parts.extend(_parts(get(item, "content")))
            elif kind == "function_call":
                parts.append(
                    {
                        "type": "tool_call",
                        "id": get(item, "call_id"),
                        "name": get(item, "name"),
                        "arguments": get(item, "arguments"),
                    }
                )
        gen.set_output_messages([{"role": "assistant", "parts": parts, "finish_reason": finish}])


def _responses_inputs(kwargs: Mapping[str, Any]) -> Any:
    messages: list[dict[str, Any]] = []
    instructions = given(kwargs.get("instructions"))
    if isinstance(instructions, str):
        messages.append({"role": "system", "parts": _parts(instructions)})
    user_input = given(kwargs.get("input"))
    if isinstance(user_input, str):
        messages.append({"role": "user", "parts": _parts(user_input)})
    elif user_input is not None:
        messages.extend(_chat_messages(user_input))
    return messages


def _completion_inputs(kwargs: Mapping[str, Any]) -> Any:
    prompt = given(kwargs.get("prompt"))
    prompts = [prompt] if isinstance(prompt, str) else prompt
    if not isinstance(prompts, list) or not all(isinstance(p, str) for p in prompts):
        return None  # token-id prompts carry no text
    return [{"role": "user", "parts": _parts(p)} for p in prompts]


# -- stream chunk handlers -------------------------------------------------------------
class _ChoiceChunks:
    """Per-stream state for chat and legacy completion chunks (one handler per call).

    A chunk with choices is an output chunk (time to first chunk, time per chunk); the
    usage-only final chunk is not. Finish reasons and text are collected per choice index.
    """

    def __init__(self, kwargs: Mapping[str, Any], chat: bool) -> None:
        self._chat = chat
        self._model = str(kwargs.get("model"))
        self._content = RT.capture != "NO_CONTENT"
        self._keep_text = _options["estimate_stream_usage"] or self._content
        self._expected = given(kwargs.get("n")) or 1
        self._finish: dict[int, str] = {}
        self._text: dict[int, list[str]] = {}
        self._tools: dict[int, dict[int, dict[str, Any]]] = {}
        self._identified = False
        self._captured = False
        self.finished = False

    def __call__(self, stream: Stream, chunk: Any) -> None:
        if not self._identified:
            self._identified = True
            stream.set_response(
                model=ident(get(chunk, "model"), _COMPONENT),
                response_id=ident(get(chunk, "id"), _COMPONENT),
            )
        choices = get(chunk, "choices") or []
        finished = False
        text = ""
        for choice in choices:
            index = get(choice, "index")
            if type(index) is not int:  # absent, or a proxy's "1": one slot, never unsortable
                index = 0
            if self._chat:
                delta = get(choice, "delta")
                piece = get(delta, "content")
                calls = get(delta, "tool_calls")
                if calls:
                    self._tool_deltas(index, calls)
            else:
                piece = get(choice, "text")
            if isinstance(piece, str):
                text += piece
                if self._keep_text:
                    self._text.setdefault(index, []).append(piece)
            reason = get(choice, "finish_reason")
            if reason:
                self._finish[index] = str(reason)
                finished = True
        if choices:
            stream.chunk(text)
        if finished:
            self.finished = True
            stream.set_response(finish_reasons=[self._finish[i] for i in sorted(self._finish)])
            if len(self._finish) >= self._expected:
                self._capture(stream)
        counts = _completion_usage(get(chunk, "usage"))
        if counts:
            stream.set_response(**counts)

    def at_end(self, stream: Stream) -> None:
        """Record the requested tool calls; opt-in (``estimate_stream_usage``): count the
        output tokens the API did not report."""
        stream.set_tool_calls(
            (call["name"], call["id"])
            for index in sorted(self._tools)
            for _, call in sorted(self._tools[index].items())
        )
        if not _options["estimate_stream_usage"] or not self._text:
            return
        if semconv.GEN_AI_USAGE_OUTPUT_TOKENS in stream.usage:
            return
        text = "".join("".join(parts) for parts in self._text.values())
        tokens = _count_tokens(self._model, text)
        if tokens is not None:
            stream.set_response(output_tokens=tokens)
            stream.set_attribute(semconv.TOKENIZER_ESTIMATED, True)

    def _tool_deltas(self, index: int, calls: Any) -> None:
        """Assemble streamed tool calls: id and name arrive once, arguments in pieces."""
        for call in calls or []:
            position = get(call, "index")
            slot = self._tools.setdefault(index, {}).setdefault(
                position if type(position) is int else 0,
                {"type": "tool_call", "id": None, "name": None},
            )
            if get(call, "id"):
                slot["id"] = get(call, "id")
            function = get(call, "function")
            if get(function, "name"):
                slot["name"] = get(function, "name")
            arguments = get(function, "arguments")
            if isinstance(arguments, str) and self._content:  # pieces, joined once at capture
                slot.setdefault("arguments", []).append(arguments)  # (+= was quadratic)

    def _capture(self, stream: Stream) -> None:
        if self._captured or RT.capture == "NO_CONTENT":
            return
        self._captured = True
        messages = []
        for i in sorted(self._finish):
            text = "".join(self._text.get(i, []))
            tools = [
                {**call, "arguments": "".join(call["arguments"])} if "arguments" in call else call
                for call in (self._tools[i][k] for k in sorted(self._tools.get(i, {})))
            ]
            parts = (_parts(text) if text else []) + tools
            messages.append({"role": "assistant", "parts": parts, "finish_reason": self._finish[i]})
        stream.set_output_messages(messages)


_options: dict[str, bool] = {"estimate_stream_usage": False}


def _count_tokens(model: str, text: str) -> int | None:
    """Tokens of ``text`` with the model's tiktoken encoding (o200k_base if unknown)."""
    try:
        import tiktoken
    except ImportError:
        return None
    try:
        encoding = tiktoken.encoding_for_model(model)
    except KeyError:
        encoding = tiktoken.get_encoding("o200k_base")
    return len(encoding.encode_ordinary(text))


class _ResponseEvents:
    """Per-stream state for Responses API events: deltas are chunks, the end has usage."""

    def __init__(self, kwargs: Mapping[str, Any]) -> None:
        self._identified = False
        self.finished = False

    def __call__(self, stream: Stream, event: Any) -> None:
        kind = str(get(event, "type") or "")
        if kind.endswith(".delta"):
            delta = get(event, "delta")
            stream.chunk(delta if isinstance(delta, str) else 1)
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            self.finished = True
            _responses_response(stream, get(event, "response"))
        elif kind == "response.created" and not self._identified:
            self._identified = True
            response = get(event, "response")
            stream.set_response(
                model=ident(get(response, "model"), _COMPONENT),
                response_id=ident(get(response, "id"), _COMPONENT),
            )
        elif kind == "error":
            stream.set_error(str(get(event, "code") or "error"), get(event, "message"))


CHAT = _Api(
    semconv.OP_CHAT,
    _chat_params,
    _chat_response,
    lambda kwargs: _ChoiceChunks(kwargs, chat=True),
    lambda kwargs: _chat_messages(given(kwargs.get("messages"))),
)
COMPLETIONS = _Api(
    semconv.OP_TEXT_COMPLETION,
    _completion_params,
    _completion_response,
    lambda kwargs: _ChoiceChunks(kwargs, chat=False),
    _completion_inputs,
)
EMBEDDINGS = _Api(semconv.OP_EMBEDDINGS, _embedding_params, _embedding_response)
RESPONSES = _Api(
    semconv.OP_CHAT, _responses_params, _responses_response, _ResponseEvents, _responses_inputs
)


# -- the wrappers ---------------------------------------------------------------------
def _begin(api: _Api, instance: Any, kwargs: Mapping[str, Any]) -> Generation | None:
    """Start the generation of one call, or None to call straight through."""
    model = kwargs.get("model")
    if not isinstance(model, str) or not model:
        return None  # the SDK rejects the call itself; nothing to describe
    try:
        host, port = server(instance)
        params = {k: v for k, v in api.params(kwargs).items() if v is not None}
        cls = CheckedStream if kwargs.get("stream") is True else Generation
        gen = cls(model, PROVIDER, api.operation, server_address=host, server_port=port, **params)
        gen.start()
        if api.inputs is not None and RT.capture != "NO_CONTENT":
            gen.set_input_messages(api.inputs(kwargs))
        return gen
    except BudgetExceeded:
        raise  # a hard budget refuses the call before the request is sent
    except Exception as exc:
        report_error(_COMPONENT, exc)
        return None


def _finish(api: _Api, gen: Generation, kwargs: Mapping[str, Any], result: Any) -> Any:
    """End a non-streamed call, or hand a stream to the proxy that ends it later."""
    if isinstance(gen, Stream):
        iterable = hasattr(result, "__next__") or hasattr(result, "__iter__")
        asynchronous = hasattr(result, "__anext__") or hasattr(result, "__aiter__")
        if api.chunks is not None and (iterable or asynchronous):
            try:
                on_chunk = api.chunks(kwargs)
                if isinstance(gen, CheckedStream):
                    gen.progress = on_chunk
                if asynchronous:
                    return gen.awrap(result, on_chunk)
                return gen.wrap(result, on_chunk)
            except Exception as exc:
                report_error(_COMPONENT, exc)
        # A raw/streaming-response object we cannot iterate for the caller: the span
        # covers the request up to the response headers.
        gen.end()
        return result
    try:
        api.response(gen, parsed(result))
    except Exception as exc:
        report_error(_COMPONENT, exc)
    gen.end()
    return result


def _sync_wrapper(api: _Api) -> Callable[..., Any]:
    def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if not RT.enabled:
            return wrapped(*args, **kwargs)
        gen = _begin(api, instance, kwargs)
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
        return _finish(api, gen, kwargs, result)

    return wrapper


def _async_wrapper(api: _Api) -> Callable[..., Any]:
    async def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if not RT.enabled:
            return await wrapped(*args, **kwargs)
        gen = _begin(api, instance, kwargs)
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
        return _finish(api, gen, kwargs, result)

    return wrapper


def _proxy_of(helper: Any) -> Any:
    """Our stream proxy under a ``.stream()`` helper object, if the helper has one."""
    raw = getattr(helper, "_raw_stream", None)
    return raw if hasattr(raw, "_self_stream") else None


def _helper_close(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    try:
        return wrapped(*args, **kwargs)
    finally:
        proxy = _proxy_of(instance)
        if proxy is not None:
            proxy.close()


async def _helper_aclose(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    try:
        return await wrapped(*args, **kwargs)
    finally:
        proxy = _proxy_of(instance)
        if proxy is not None:
            await proxy.aclose()


_TARGETS: tuple[Target, ...] = (
    ("openai.resources.chat.completions", "Completions.create", _sync_wrapper(CHAT)),
    ("openai.resources.chat.completions", "Completions.parse", _sync_wrapper(CHAT)),
    ("openai.resources.chat.completions", "AsyncCompletions.create", _async_wrapper(CHAT)),
    ("openai.resources.chat.completions", "AsyncCompletions.parse", _async_wrapper(CHAT)),
    ("openai.resources.completions", "Completions.create", _sync_wrapper(COMPLETIONS)),
    ("openai.resources.completions", "AsyncCompletions.create", _async_wrapper(COMPLETIONS)),
    ("openai.resources.embeddings", "Embeddings.create", _sync_wrapper(EMBEDDINGS)),
    ("openai.resources.embeddings", "AsyncEmbeddings.create", _async_wrapper(EMBEDDINGS)),
    ("openai.resources.responses", "Responses.create", _sync_wrapper(RESPONSES)),
    ("openai.resources.responses", "Responses.parse", _sync_wrapper(RESPONSES)),
    ("openai.resources.responses", "AsyncResponses.create", _async_wrapper(RESPONSES)),
    ("openai.resources.responses", "AsyncResponses.parse", _async_wrapper(RESPONSES)),
    ("openai.lib.streaming.chat", "ChatCompletionStream.close", _helper_close),
    ("openai.lib.streaming.chat", "AsyncChatCompletionStream.close", _helper_aclose),
    ("openai.lib.streaming.responses", "ResponseStream.close", _helper_close),
    ("openai.lib.streaming.responses", "AsyncResponseStream.close", _helper_aclose),
)
"""(module, "Class.method", wrapper) for every method this instrumentor wraps."""


_PATCHER = Patcher("openai", _TARGETS)


class OpenAIInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Trace openai chat, completions, embeddings and responses calls as GenAI generations.

    Nothing of openai is imported here: the methods are wrapped when the application
    imports the SDK modules that define them (at once if it already has).
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        """The tested openai versions: 1.66 (the first with the Responses API) to 3.x."""
        return ("openai >= 1.66, < 4",)

    def _instrument(self, **kwargs: Any) -> None:
        """Wrap the SDK. ``estimate_stream_usage=True`` opts in to counting the output
        tokens of chat/completion streams that report no usage with tiktoken; such spans
        carry ``otel_llm.tokenizer.estimated=true``."""
        _options["estimate_stream_usage"] = bool(kwargs.get("estimate_stream_usage", False))
        _PATCHER.install()

    def _uninstrument(self, **kwargs: Any) -> None:
        _PATCHER.remove()
