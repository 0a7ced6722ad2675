"""litellm ``Router`` instrumentation: a route span per request, a generation per attempt.

``Router.completion`` / ``Router.acompletion`` become a ``route litellm`` span (requested
model group, candidate groups from the router's fallback configuration, served group).
Each attempt the router makes (``Router._completion`` / ``_acompletion``: retries and
fallback hops alike) is a child generation span opened around the ``litellm.completion``
/ ``litellm.acompletion`` call the attempt issues, so it carries the deployment's real
model, provider and endpoint; a failed attempt carries its ``error.type``. Moving from one
model group to another is a fallback event on the route span (from, to, reason,
``error.type``).

The instrumentor never imports litellm itself (its import costs seconds): the wrappers
are installed when the application imports ``litellm.router``. Plain
``litellm.completion`` calls outside a router are left alone.

When the openai instrumentor is active too, litellm's openai calls make a generation
inside the attempt's generation; the engine's duplicate suppression then records the
token and duration metrics once (by the inner span).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

import wrapt
from opentelemetry import context as otel_context
from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)
from opentelemetry.instrumentation.utils import unwrap

from .. import semconv
from .._generation import Generation
from .._route import Route
from .._runtime import RT, report_error
from .._stream import Stream
from ._sdk import attach, detach, ident

__all__ = ["ROUTE_NAME", "LiteLLMInstrumentor"]

_log = logging.getLogger(__name__)
_COMPONENT = "instrumentation.litellm"

ROUTE_NAME = "litellm"
"""``otel_llm.route.name`` of litellm Router spans (span name ``route litellm``)."""

SELECT_REQUESTED = "requested"
"""``otel_llm.route.reason`` when the requested model group served the request."""
SELECT_FALLBACK = "fallback"
"""``otel_llm.route.reason`` when a fallback model group served it."""

_PROVIDERS: Mapping[str, str] = {
    "azure": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "bedrock": "aws.bedrock",
    "vertex_ai": "gcp.vertex_ai",
    "vertex_ai_beta": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "mistral": "mistral_ai",
    "xai": "x_ai",
    "watsonx": "ibm.watsonx.ai",
}
"""litellm provider names whose ``gen_ai.provider.name`` differs (others are kept)."""

_REASONS: Mapping[str, str] = {
    "RateLimitError": "rate_limited",
    "Timeout": "timeout",
    "APITimeoutError": "timeout",
    "ContextWindowExceededError": "context_window_exceeded",
    "ContentPolicyViolationError": "content_policy",
    "APIConnectionError": "connection_error",
    "ServiceUnavailableError": "unavailable",
    "InternalServerError": "server_error",
    "AuthenticationError": "auth_error",
}
"""Fallback reasons by litellm exception class (the first match in the class's MRO)."""

_PARAMS: Mapping[str, str] = {
    "max_tokens": "max_tokens",
    "max_completion_tokens": "max_tokens",
    "temperature": "temperature",
    "top_p": "top_p",
    "frequency_penalty": "frequency_penalty",
    "presence_penalty": "presence_penalty",
    "seed": "seed",
    "stop": "stop_sequences",
    "n": "choice_count",
}
"""litellm.completion keyword -> ``generation()`` request parameter."""


class _RouteState:
    """What one routed request has seen so far (shared by its attempts)."""

    __slots__ = ("failed_error", "failed_group", "requested", "route", "served")

    def __init__(self, route: Route, requested: str) -> None:
        self.route = route
        self.requested = requested
        self.served: str | None = None
        self.failed_group: str | None = None
        self.failed_error: BaseException | None = None


class _Attempt:
    """One router attempt; its generation starts at the litellm call it makes."""

    __slots__ = ("started",)

    def __init__(self) -> None:
        self.started = False


_STATE: ContextVar[_RouteState | None] = ContextVar("otel_llm.litellm.route", default=None)
_ATTEMPT: ContextVar[_Attempt | None] = ContextVar("otel_llm.litellm.attempt", default=None)


def fallback_reason(error: BaseException) -> str:
    """A short reason for a fallback caused by ``error`` (``rate_limited``, ``timeout``, ...)."""
    for cls in type(error).__mro__:
        reason = _REASONS.get(cls.__name__)
        if reason is not None:
            return reason
    return "error"


def _candidates(router: Any, requested: str) -> list[str]:
    # The groups this request may end on: the requested one, then its configured
    # fallbacks (specific first, then the "*" defaults), in the router's order.
    found = [requested]
    entries = getattr(router, "fallbacks", None) or []
    for key in (requested, "*"):
        for entry in entries:
            if isinstance(entry, Mapping):
                for group in entry.get(key) or ():
                    if isinstance(group, str) and group and group not in found:
                        found.append(group)
    return found


def _model_arg(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> str | None:
    model = args[0] if args else kwargs.get("model")
    return model if isinstance(model, str) and model else None


# -- route: Router.completion / Router.acompletion -------------------------------------------
def _start_route(instance: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> _RouteState:
    requested = _model_arg(args, kwargs) or "unknown"
    route = Route(ROUTE_NAME, _candidates(instance, requested), requested)
    return _RouteState(route, requested)


def _select(state: _RouteState) -> None:
    served = state.served
    if served:
        reason = SELECT_REQUESTED if served == state.requested else SELECT_FALLBACK
        state.route.select(served, reason=reason)


def _route_wrapper(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    if not RT.enabled or _STATE.get() is not None:
        return wrapped(*args, **kwargs)
    try:
        state = _start_route(instance, args, kwargs)
    except Exception as exc:
        report_error(_COMPONENT, exc)
        return wrapped(*args, **kwargs)
    token = _STATE.set(state)
    try:
        with state.route:
            result = wrapped(*args, **kwargs)
            _select(state)
            return result
    finally:
        _STATE.reset(token)


async def _aroute_wrapper(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    if not RT.enabled or _STATE.get() is not None:
        return await wrapped(*args, **kwargs)
    try:
        state = _start_route(instance, args, kwargs)
    except Exception as exc:
        report_error(_COMPONENT, exc)
        return await wrapped(*args, **kwargs)
    token = _STATE.set(state)
    try:
        async with state.route:
            result = await wrapped(*args, **kwargs)
            _select(state)
            return result
    finally:
        _STATE.reset(token)


def _run_async_wrapper(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Carry the route into litellm's sync-over-async helper.

    A sync ``Router.completion`` runs its async machinery through ``run_async_function``,
    which uses a worker thread when an event loop is already running (a notebook, async
    code calling the sync API). The trace context and the route state do not cross that
    thread on their own, so the coroutine re-enters them.
    """
    state = _STATE.get()
    if state is None or not args or not callable(args[0]):
        return wrapped(*args, **kwargs)
    function = args[0]
    parent = otel_context.get_current()

    async def in_route(*inner_args: Any, **inner_kwargs: Any) -> Any:
        token = otel_context.attach(parent)
        state_token = _STATE.set(state)
        try:
            return await function(*inner_args, **inner_kwargs)
        finally:
            _STATE.reset(state_token)
            otel_context.detach(token)

    return wrapped(in_route, *args[1:], **kwargs)


# -- attempts: Router._completion / Router._acompletion --------------------------------------
def _attempt_begins(state: _RouteState, group: str | None) -> None:
    failed = state.failed_group
    if failed is not None and group and group != failed:
        error = state.failed_error
        reason = fallback_reason(error) if error is not None else "error"
        state.route.fallback(failed, group, reason=reason, error=error)


def _attempt_failed(state: _RouteState, group: str | None, error: BaseException) -> None:
    state.failed_group = group
    state.failed_error = error


def _attempt_wrapper(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    state = _STATE.get()
    if state is None or not RT.enabled:
        return wrapped(*args, **kwargs)
    group = _model_arg(args, kwargs)
    try:
        _attempt_begins(state, group)
    except Exception as exc:
        report_error(_COMPONENT, exc)
    token = _ATTEMPT.set(_Attempt())
    try:
        result = wrapped(*args, **kwargs)
    except Exception as exc:
        _attempt_failed(state, group, exc)
        raise
    finally:
        _ATTEMPT.reset(token)
    state.served = group
    return result


async def _aattempt_wrapper(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    state = _STATE.get()
    if state is None or not RT.enabled:
        return await wrapped(*args, **kwargs)
    group = _model_arg(args, kwargs)
    try:
        _attempt_begins(state, group)
    except Exception as exc:
        report_error(_COMPONENT, exc)
    token = _ATTEMPT.set(_Attempt())
    try:
        result = await wrapped(*args, **kwargs)
    except Exception as exc:
        _attempt_failed(state, group, exc)
        raise
    finally:
        _ATTEMPT.reset(token)
    state.served = group
    return result


# -- generations: litellm.completion / litellm.acompletion inside an attempt -----------------
def _new_generation(kwargs: Mapping[str, Any]) -> Generation:
    import litellm

    model = str(kwargs.get("model") or "unknown")
    api_base = kwargs.get("api_base") or kwargs.get("base_url")
    provider = kwargs.get("custom_llm_provider")
    try:
        model, provider, _key, resolved_base = litellm.get_llm_provider(
            model=model, custom_llm_provider=provider, api_base=api_base
        )
        api_base = api_base or resolved_base
    except Exception as exc:  # an unknown provider: keep what the caller passed
        _log.debug("otel-llm: litellm could not resolve the provider of %r: %s", model, exc)
    provider_name = _PROVIDERS.get(str(provider), str(provider or "litellm"))
    host: str | None = None
    port: int | None = None
    if isinstance(api_base, str) and api_base:
        parts = urlsplit(api_base)
        host, port = parts.hostname, parts.port
    params = {name: kwargs[key] for key, name in _PARAMS.items() if kwargs.get(key) is not None}
    cls = Stream if kwargs.get("stream") else Generation
    return cls(
        model, provider_name, semconv.OP_CHAT, server_address=host, server_port=port, **params
    )


def _start(gen: Generation, kwargs: Mapping[str, Any]) -> None:
    """Start the span, then record the prompt if content capture is on."""
    gen.start()
    if RT.capture != "NO_CONTENT":
        try:
            # litellm takes OpenAI-shaped messages: the openai adapter's converter applies
            from .openai import _chat_messages

            gen.set_input_messages(_chat_messages(kwargs.get("messages")))
        except Exception as exc:
            report_error(_COMPONENT, exc)


def _usage_numbers(usage: Any) -> dict[str, int | None]:
    def number(value: Any) -> int | None:
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    prompt_details = getattr(usage, "prompt_tokens_details", None)
    completion_details = getattr(usage, "completion_tokens_details", None)
    return {
        "input_tokens": number(getattr(usage, "prompt_tokens", None)),
        "output_tokens": number(getattr(usage, "completion_tokens", None)),
        "cache_read_input_tokens": number(getattr(prompt_details, "cached_tokens", None)),
        "reasoning_output_tokens": number(getattr(completion_details, "reasoning_tokens", None)),
    }


def _record_response(gen: Generation, response: Any) -> None:
    choices = getattr(response, "choices", None) or []
    usage = getattr(response, "usage", None)
    gen.set_response(
        model=ident(getattr(response, "model", None), _COMPONENT),
        response_id=ident(getattr(response, "id", None), _COMPONENT),
        finish_reasons=[str(c.finish_reason) for c in choices if getattr(c, "finish_reason", None)],
        **(_usage_numbers(usage) if usage is not None else {}),
    )
    if RT.capture == "NO_CONTENT":
        return
    outputs = []
    for choice in choices:
        message = getattr(choice, "message", None)
        content = getattr(message, "content", None)
        outputs.append(
            {
                "role": getattr(message, "role", None) or "assistant",
                "parts": [{"type": "text", "content": content}] if content else [],
                "finish_reason": getattr(choice, "finish_reason", None),
            }
        )
    gen.set_output_messages(outputs)


def _chunk_handler() -> Callable[[Stream, Any], None]:
    """A per-stream chunk callback; it keeps the streamed text when content is captured."""
    texts: list[str] = []
    capture = RT.capture != "NO_CONTENT"

    def on_chunk(stream: Stream, chunk: Any) -> None:
        finish = _on_chunk(stream, chunk, texts if capture else None)
        if finish and capture:
            parts = [{"type": "text", "content": "".join(texts)}]
            message = {"role": "assistant", "parts": parts, "finish_reason": finish[0]}
            stream.set_output_messages([message])

    return on_chunk


def _on_chunk(stream: Stream, chunk: Any, texts: list[str] | None) -> list[str]:
    """Feed one litellm ``ModelResponseStream`` chunk to the stream handle.

    Returns the chunk's finish reasons; appends its text to ``texts`` when given.
    """
    text = None
    finish: list[str] = []
    for choice in getattr(chunk, "choices", None) or ():
        delta = getattr(choice, "delta", None)
        content = getattr(delta, "content", None)
        if content or getattr(delta, "tool_calls", None):
            text = content or ""
        if getattr(choice, "finish_reason", None):
            finish.append(str(choice.finish_reason))
    if text is not None:
        stream.chunk(text)  # a chunk carrying output; usage (if sent) replaces the count
        if texts is not None:
            texts.append(text)
    usage = getattr(chunk, "usage", None)
    if finish or usage is not None:
        stream.set_response(
            model=ident(getattr(chunk, "model", None), _COMPONENT),
            response_id=ident(getattr(chunk, "id", None), _COMPONENT),
            finish_reasons=finish or None,
            **(_usage_numbers(usage) if usage is not None else {}),
        )
    return finish


def _claim_attempt() -> bool:
    attempt = _ATTEMPT.get()
    if attempt is None or attempt.started or not RT.enabled:
        return False
    attempt.started = True
    return True


def _generation_wrapper(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    if not _claim_attempt():
        return wrapped(*args, **kwargs)
    try:
        gen = _new_generation(kwargs)
    except Exception as exc:
        report_error(_COMPONENT, exc)
        return wrapped(*args, **kwargs)
    _start(gen, kwargs)
    if isinstance(gen, Stream):
        token = attach(gen)  # current while litellm sends: an SDK span inside nests
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            gen.end(exc)
            raise
        finally:
            detach(token)
        return gen.wrap(result, on_chunk=_chunk_handler())
    with gen:
        result = wrapped(*args, **kwargs)
        try:
            _record_response(gen, result)
        except Exception as exc:
            report_error(_COMPONENT, exc)
    return result


async def _ageneration_wrapper(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    if not _claim_attempt():
        return await wrapped(*args, **kwargs)
    try:
        gen = _new_generation(kwargs)
    except Exception as exc:
        report_error(_COMPONENT, exc)
        return await wrapped(*args, **kwargs)
    _start(gen, kwargs)
    if isinstance(gen, Stream):
        token = attach(gen)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            gen.end(exc)
            raise
        finally:
            detach(token)
        return gen.awrap(result, on_chunk=_chunk_handler())
    async with gen:
        result = await wrapped(*args, **kwargs)
        try:
            _record_response(gen, result)
        except Exception as exc:
            report_error(_COMPONENT, exc)
    return result


_TARGETS: tuple[tuple[str, str, Callable[..., Any]], ...] = (
    ("litellm.router", "Router.completion", _route_wrapper),
    ("litellm.router", "Router.acompletion", _aroute_wrapper),
    ("litellm.router", "Router._completion", _attempt_wrapper),
    ("litellm.router", "Router._acompletion", _aattempt_wrapper),
    ("litellm.router", "run_async_function", _run_async_wrapper),
    ("litellm", "completion", _generation_wrapper),
    ("litellm", "acompletion", _ageneration_wrapper),
)
"""(module, attribute path, wrapper) for every wrapped callable."""


class LiteLLMInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Trace litellm ``Router`` requests as routes with one generation per attempt."""

    _active = False
    _wrapped: list[tuple[Any, str]] = []  # noqa: RUF012 - BaseInstrumentor is a singleton

    def instrumentation_dependencies(self) -> Collection[str]:
        """The tested litellm versions."""
        return ("litellm >= 1.80, < 1.108",)

    def _instrument(self, **kwargs: Any) -> None:
        cls = type(self)
        cls._active = True
        # Wrap when the application imports litellm.router (at once if it already has).
        wrapt.register_post_import_hook(cls._on_import, "litellm.router")

    @classmethod
    def _on_import(cls, _module: Any) -> None:
        if not cls._active or cls._wrapped:
            return
        import importlib

        for module_name, path, wrapper in _TARGETS:
            try:
                module = importlib.import_module(module_name)
                owner: Any = module
                *parents, attribute = path.split(".")
                for parent in parents:
                    owner = getattr(owner, parent)
                if not callable(getattr(owner, attribute, None)):
                    raise AttributeError(path)
                wrapt.wrap_function_wrapper(module, path, wrapper)
                cls._wrapped.append((owner, attribute))
            except Exception as exc:
                _log.debug("otel-llm: litellm %s.%s not instrumented: %s", module_name, path, exc)

    def _uninstrument(self, **kwargs: Any) -> None:
        cls = type(self)
        cls._active = False
        for owner, attribute in cls._wrapped:
            unwrap(owner, attribute)
        cls._wrapped = []
