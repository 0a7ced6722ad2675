"""``opentelemetry-instrument`` integration: otel-llm's distro and configurator.

``opentelemetry-instrument python app.py`` (and ``otel-llm run -- python app.py``, which
selects these two by name) runs, before the application:

1. the distro's ``configure()``: sensible defaults for variables the user left unset;
2. the configurator: tracer, meter and logger providers built by ``otel_llm.configure()``
   from the ``OTEL_*`` variables, exactly as a call in code would build them;
3. every ``opentelemetry_instrumentor`` entry point through the distro's
   ``load_instrumentor``: otel-llm's own go through ``otel_llm.instrumentation.instrument``
   (installed libraries only, tested versions only, never an exception at startup).

Entry-point name of both: ``otel_llm``. When ``opentelemetry-distro`` is installed too,
set ``OTEL_PYTHON_DISTRO=otel_llm`` and ``OTEL_PYTHON_CONFIGURATOR=otel_llm``.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]
from opentelemetry.sdk._configuration import _BaseConfigurator

from . import instrumentation
from .semconv import ENV_LLM_INSTRUMENT

__all__ = ["DEFAULTS", "OtelLlmConfigurator", "OtelLlmDistro"]

_log = logging.getLogger("otel_llm")

DEFAULTS: dict[str, str] = {
    "OTEL_TRACES_EXPORTER": "otlp",
    "OTEL_METRICS_EXPORTER": "otlp",
    "OTEL_LOGS_EXPORTER": "otlp",
    # Other GenAI instrumentations in the process (contrib ones for providers otel-llm does
    # not cover) then emit the same, current gen_ai.* names as otel-llm.
    "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
}
"""Variables the distro sets when (and only when) the user left them unset."""


def _ours(entry_point: Any) -> bool:
    return str(getattr(entry_point, "value", "")).startswith("otel_llm.")


def _selected() -> set[str] | None:
    """Libraries ``OTEL_LLM_INSTRUMENT`` selects (None = all; empty = none)."""
    raw = os.environ.get(ENV_LLM_INSTRUMENT, "all").strip().lower()
    if raw in ("", "all", "true", "1"):
        return None
    if raw in ("none", "false", "0"):
        return set()
    return {part.strip() for part in raw.split(",") if part.strip()}


class OtelLlmDistro(BaseDistro):  # type: ignore[misc]
    """The otel-llm distro: OTLP defaults and duplicate-free instrumentor loading."""

    def _configure(self, **kwargs: Any) -> None:
        for name, value in DEFAULTS.items():
            os.environ.setdefault(name, value)
        selected = _selected()
        web = instrumentation.WEB if selected is None else instrumentation.WEB & selected
        if any(instrumentation.available(name) for name in web):
            # Before any instrumentor reads it: stable HTTP names for the web spans.
            from ._web import opt_in_http_semconv

            opt_in_http_semconv()

    def load_instrumentor(self, entry_point: Any, **kwargs: Any) -> None:
        """Load one instrumentor entry point.

        otel-llm's own instrumentors go through the registry (``OTEL_LLM_INSTRUMENT`` and
        ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` honoured, uninstalled or untested
        libraries skipped). Another package's instrumentor for a library otel-llm already
        instruments is skipped, so each call gets one GenAI span, not two; exclude ours
        with ``OTEL_LLM_INSTRUMENT`` to use the other one instead.
        """
        name = str(entry_point.name)
        selected = _selected()
        chosen = name in instrumentation.INSTRUMENTORS and (selected is None or name in selected)
        if _ours(entry_point):
            if chosen:
                instrumentation.instrument([name])
            else:
                _log.debug(
                    "otel-llm: %s not instrumented: excluded by %s", name, ENV_LLM_INSTRUMENT
                )
            return
        if chosen and instrumentation.available(name):
            _log.debug(
                "otel-llm: skipping %s's instrumentor %s: otel-llm instruments %s",
                getattr(getattr(entry_point, "dist", None), "name", "another package"),
                entry_point.value,
                name,
            )
            return
        super().load_instrumentor(entry_point, **kwargs)


class OtelLlmConfigurator(_BaseConfigurator):
    """Build the SDK providers with ``otel_llm.configure()`` (instrumentors load separately)."""

    def _configure(self, **kwargs: Any) -> None:
        from ._configure import configure

        # The opentelemetry_instrumentor entry points instrument libraries right after this.
        configure(instrument=False)
