"""Auto-instrumentation registry: which libraries otel-llm instruments, and switches for all.

Each supported library has one ``BaseInstrumentor`` subclass in its own module, named here
as ``"module:Class"`` so that nothing is imported until it is needed: an application that
never installs ``litellm`` never pays for importing our litellm adapter.

``instrument()`` is what ``otel_llm.configure()``, ``otel-llm run`` and the
``opentelemetry-instrument`` distro use. It instruments the installed libraries only,
honours ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` (names, or ``*`` for all), is idempotent
and never raises because a library is missing, too old or too new: that library is skipped
with one debug message.

Web frameworks (FastAPI, Starlette, Flask) are in the same registry: their HTTP server spans
come from the official OpenTelemetry contrib ASGI/FastAPI/WSGI instrumentations (the
``web`` extra), so every LLM span of a request nests under its server span.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
from collections.abc import Iterable
from typing import Any, Final

from .._runtime import report_error

__all__ = [
    "INSTRUMENTORS",
    "available",
    "disabled_libraries",
    "instrument",
    "instrumentor",
    "uninstrument",
]

_log = logging.getLogger(__name__)

INSTRUMENTORS: Final[dict[str, str]] = {
    "openai": "otel_llm.instrumentation.openai:OpenAIInstrumentor",
    "anthropic": "otel_llm.instrumentation.anthropic:AnthropicInstrumentor",
    "tiktoken": "otel_llm.instrumentation.tiktoken:TiktokenInstrumentor",
    "transformers": "otel_llm.instrumentation.transformers:TransformersInstrumentor",
    "litellm": "otel_llm.instrumentation.litellm:LiteLLMInstrumentor",
    # Web frameworks: HTTP server spans that every LLM span nests under (otel-llm[web]).
    "fastapi": "otel_llm.instrumentation.fastapi:FastAPIInstrumentor",
    "starlette": "otel_llm.instrumentation.starlette:StarletteInstrumentor",
    "flask": "otel_llm.instrumentation.flask:FlaskInstrumentor",
}
"""Library name (also its import name and entry-point name) -> ``"module:Class"``."""

WEB: Final = frozenset({"fastapi", "starlette", "flask"})
"""The web frameworks in the registry: they need ``otel-llm[web]`` besides the framework."""

_NEEDS: Final[dict[str, str]] = {
    "fastapi": "opentelemetry.instrumentation.fastapi",
    "starlette": "opentelemetry.instrumentation.asgi",
    "flask": "opentelemetry.instrumentation.wsgi",
}
"""Contrib package (import name) an instrumentor needs besides its library."""

ENV_DISABLED: Final = "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"
"""The standard OTel variable listing instrumentations not to load (``*`` = all)."""


def disabled_libraries() -> frozenset[str]:
    """Names listed in ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` (``*`` means every one)."""
    raw = os.environ.get(ENV_DISABLED, "")
    names = frozenset(part.strip() for part in raw.split(",") if part.strip())
    return frozenset(INSTRUMENTORS) if "*" in names else names


def instrumentor(library: str) -> Any:
    """The (singleton) instrumentor object of ``library``; imports its adapter module."""
    try:
        target = INSTRUMENTORS[library]
    except KeyError:
        raise ValueError(
            f"unknown library {library!r}; supported: {', '.join(INSTRUMENTORS)}"
        ) from None
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)()


def _installed(library: str) -> bool:
    try:
        return all(
            importlib.util.find_spec(name) is not None
            for name in (library, _NEEDS.get(library, library))
        )
    except (ImportError, ValueError):  # a broken or half-installed package
        return False


def available(library: str) -> bool:
    """True when ``library`` is installed in a version otel-llm's instrumentor supports."""
    if library not in INSTRUMENTORS or not _installed(library):
        return False
    try:
        return bool(instrumentor(library)._check_dependency_conflicts() is None)
    except Exception as exc:
        report_error(f"instrumentation.{library}", exc)
        return False


def instrument(libraries: Iterable[str] | None = None) -> list[str]:
    """Instrument the installed supported libraries (or just ``libraries``).

    Returns the names that are instrumented afterwards, in registry order; calling it
    again changes nothing and returns the same names. Unknown names raise ``ValueError``;
    a library that is not installed, is disabled by ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS``
    or has an untested version is skipped with a debug message.
    """
    if libraries is None:
        wanted = list(INSTRUMENTORS)
    else:
        wanted = [str(name) for name in libraries]
        unknown = sorted(set(wanted) - set(INSTRUMENTORS))
        if unknown:
            raise ValueError(f"cannot instrument {unknown}; supported: {', '.join(INSTRUMENTORS)}")
    disabled = disabled_libraries()
    if any(n in WEB and n not in disabled and _installed(n) for n in wanted):
        # Before the first instrumentor reads it: stable HTTP names for the web spans.
        from .._web import opt_in_http_semconv

        opt_in_http_semconv()
    done: list[str] = []
    for name in INSTRUMENTORS:
        if name not in wanted:
            continue
        if name in disabled:
            _log.debug("otel-llm: %s not instrumented: listed in %s", name, ENV_DISABLED)
            continue
        if not _installed(name):
            _log.debug("otel-llm: %s not instrumented: not installed", name)
            continue
        try:
            inst = instrumentor(name)
            if not inst.is_instrumented_by_opentelemetry:
                conflict = inst._check_dependency_conflicts()
                if conflict is not None:
                    _log.debug("otel-llm: %s not instrumented: %s", name, conflict)
                    continue
                inst.instrument(skip_dep_check=True)
        except Exception as exc:  # never break the application's startup
            report_error(f"instrumentation.{name}", exc)
            continue
        if inst.is_instrumented_by_opentelemetry:
            done.append(name)
    return done


def uninstrument(libraries: Iterable[str] | None = None) -> None:
    """Remove otel-llm's instrumentation (of every library, or just ``libraries``).

    Only adapters that were imported can have instrumented anything, so this never
    imports a library (or our adapter for it) just to find nothing to undo.
    """
    import sys

    for name in INSTRUMENTORS if libraries is None else list(libraries):
        module_name = INSTRUMENTORS.get(name, "").partition(":")[0]
        if not module_name or module_name not in sys.modules:
            continue
        try:
            inst = instrumentor(name)
            if inst.is_instrumented_by_opentelemetry:
                inst.uninstrument()
        except Exception as exc:
            report_error(f"instrumentation.{name}", exc)
