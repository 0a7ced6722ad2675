"""Reading the objects of Stainless-generated SDKs (openai, anthropic) without importing them.

Both SDKs pass request parameters as keyword dicts with "not given" sentinels, return
pydantic models, and keep the endpoint on ``resource._client.base_url``. These helpers
read all of that defensively: a missing or renamed field gives ``None``, never an error.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any

import wrapt
from opentelemetry import context as otel_context
from opentelemetry.instrumentation.utils import unwrap

from .. import semconv
from .._generation import Generation
from .._runtime import report_error
from .._stream import Stream

__all__ = [
    "CheckedStream",
    "Patcher",
    "Target",
    "as_dict",
    "attach",
    "count",
    "detach",
    "get",
    "given",
    "ident",
    "parsed",
    "server",
]

_log = logging.getLogger(__name__)


def given(value: Any) -> Any:
    """``value``, or None for the SDKs' "not given" sentinels (``NOT_GIVEN``, ``omit``)."""
    if value is None or type(value).__name__ in ("NotGiven", "Omit"):
        return None
    return value


_OBJECT, _MAPPING, _OPAQUE = 0, 1, 2
_KIND: dict[type, int] = {
    kind: _OPAQUE for kind in (str, bytes, bytearray, int, float, bool, list, tuple, type(None))
}


def get(obj: Any, name: str) -> Any:
    """An attribute of an SDK model or a key of a dict (request params are dicts); None for
    builtin values, whose methods (``str.index``) are not fields.

    Runs several times per streamed chunk, so the ``Mapping`` ABC check (slow for the
    pydantic models it always rejects) is done once per type and remembered.
    """
    kind = type(obj)
    if kind is dict:
        return obj.get(name)
    found = _KIND.get(kind)
    if found is None:
        found = _MAPPING if isinstance(obj, Mapping) else _OBJECT
        if len(_KIND) < 256:  # SDK model classes: a few dozen
            _KIND[kind] = found
    if found == _OBJECT:
        return getattr(obj, name, None)
    return obj.get(name) if found == _MAPPING else None


def count(value: Any, component: str) -> int | None:
    """A reported token count: a non-negative int, or None if absent. Anything else (a
    bool, a negative or non-int value the SDK passed through unvalidated) is None too, and
    counted as an error of ``component``, so the rest of the response is still recorded."""
    if type(value) is int and value >= 0:
        return value
    if value is not None:
        report_error(component, ValueError(f"unreadable token count ({type(value).__name__})"))
    return None


def ident(value: Any, component: str) -> str | None:
    """A reported name or id (model, response id): a str, or None if absent. Anything else
    is None too, counted as an error of ``component``, so the rest is still recorded."""
    if value is None or type(value) is str:
        return value
    report_error(component, ValueError(f"unreadable model or id ({type(value).__name__})"))
    return None


def as_dict(obj: Any) -> dict[str, Any]:
    """A request param or SDK model as a plain dict ({} if it is neither)."""
    if isinstance(obj, Mapping):
        return dict(obj)
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        try:
            result = dump(exclude_unset=True)
            return result if isinstance(result, dict) else {}
        except Exception:
            return {}
    return {}


def server(instance: Any) -> tuple[str | None, int | None]:
    """``server.address`` / ``server.port`` from a resource's client base URL."""
    try:
        url = instance._client.base_url
        host = str(url.host) or None
        port = url.port or (443 if url.scheme == "https" else 80)
        return host, int(port)
    except Exception:
        return None, None


def parsed(result: Any) -> Any:
    """The model object of a sync ``with_raw_response`` result, else ``result`` itself.

    ``parse()`` caches its result, so the caller's own ``parse()`` gets the same object. A
    ``with_streaming_response`` result (its body not read yet) is left alone.
    """
    kind = type(result).__name__
    if kind == "LegacyAPIResponse":
        return result.parse()
    if kind == "APIResponse":
        request = getattr(getattr(result, "http_response", None), "request", None)
        mode = request.headers.get("x-stainless-raw-response") if request is not None else None
        if mode is not None and mode != "stream":  # "true" (openai) or "raw" (anthropic 2)
            return result.parse()
    return result


def attach(gen: Generation) -> object | None:
    """Make the generation current while the SDK sends the request (HTTP spans nest)."""
    ctx = gen._ctx
    return otel_context.attach(ctx) if ctx is not None else None


def detach(token: object | None) -> None:
    """Undo :func:`attach`."""
    if token is not None:
        otel_context.detach(token)  # type: ignore[arg-type]


Target = tuple[str, str, Callable[..., Any]]
"""(module, "Class.method", wrapt wrapper)."""


class Patcher:
    """Wraps SDK methods when their module is imported, and unwraps them on request.

    Importing an SDK costs seconds, so an instrumentor must not import one that the
    application never uses: a post-import hook wraps the methods of a module when (and if)
    the application imports it, at once if it already has. A missing class or method (a
    different SDK version) is skipped with one debug message.
    """

    def __init__(self, library: str, targets: tuple[Target, ...]) -> None:
        self._library = library
        self._targets = targets
        self._active = False
        self.wrapped: list[tuple[Any, str]] = []

    def install(self) -> None:
        """Wrap every target now or when its module is imported."""
        self._active = True
        for module in dict.fromkeys(module for module, _, _ in self._targets):
            wrapt.register_post_import_hook(functools.partial(self._on_import, module), module)

    def _on_import(self, module_name: str, module: Any) -> None:
        if not self._active:
            return  # hooks cannot be unregistered; an uninstrumented patcher ignores them
        for target_module, path, wrapper in self._targets:
            if target_module != module_name:
                continue
            class_name, _, method = path.partition(".")
            owner = getattr(module, class_name, None)
            if owner is None or not callable(getattr(owner, method, None)):
                _log.debug("otel-llm: %s %s.%s missing; not instrumented", self._library,
                           module_name, path)  # fmt: skip
                continue
            if (owner, method) in self.wrapped:
                continue
            try:
                wrapt.wrap_function_wrapper(owner, method, wrapper)
            except Exception as exc:  # never break the application's import
                report_error(f"instrumentation.{self._library}", exc)
                continue
            self.wrapped.append((owner, method))

    def remove(self) -> None:
        """Unwrap everything this patcher wrapped."""
        self._active = False
        for owner, method in self.wrapped:
            unwrap(owner, method)
        self.wrapped = []


class CheckedStream(Stream):
    """A provider stream that must end with a finish reason.

    OpenAI- and Anthropic-style streams always announce how they finished (a
    ``finish_reason``, ``response.completed``, ``message_delta.stop_reason``). A body that
    simply stops before that was cut off (a proxy timeout, a dropped connection the HTTP
    client did not notice): the SDK ends iteration quietly, so without this check the span
    would be a silent OK. ``progress`` is the chunk handler; it sets ``finished``, and its
    optional ``at_end(stream)`` runs just before the span ends.
    """

    __slots__ = ("progress",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.progress: Any = None

    def _on_end(self, duration: float) -> None:
        progress = self.progress
        if progress is not None:
            at_end = getattr(progress, "at_end", None)
            if at_end is not None:
                try:
                    at_end(self)
                except Exception as exc:
                    report_error("instrumentation", exc)
            if self._error_type is None and not progress.finished:
                self.set_error(
                    semconv.ERROR_INCOMPLETE_STREAM, "stream ended without a finish reason"
                )
        super()._on_end(duration)
