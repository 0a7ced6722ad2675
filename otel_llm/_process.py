"""Opt-in process health: CPU, memory and thread metrics of this process.

Recorded by the official ``opentelemetry-instrumentation-system-metrics`` package (the
``process`` extra) with only its ``process.*`` semconv metrics switched on: the
system-wide ones describe the host, which the Collector's host metrics receiver or
node_exporter already report once per machine, not once per worker.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from opentelemetry.metrics import MeterProvider

from . import semconv

__all__ = ["PROCESS_METRICS", "check_available", "start_process_metrics"]

_log = logging.getLogger("otel_llm")

PROCESS_METRICS: Mapping[str, list[str] | None] = {
    "process.cpu.time": ["user", "system"],
    "process.cpu.utilization": None,
    "process.memory.usage": None,
    "process.memory.virtual": None,
    "process.thread.count": None,
    "process.open_file_descriptor.count": None,
    "process.context_switches": ["involuntary", "voluntary"],
}
"""The instrumentor's metrics otel-llm enables (its configuration keys)."""

_MISSING = (
    "process metrics need opentelemetry-instrumentation-system-metrics and psutil: "
    "pip install 'otel-llm[process]'"
)


def check_available(explicit: bool) -> bool:
    """Whether the instrumentation can be imported. Missing: an ``ImportError`` when the
    caller asked with ``process_metrics=True``, one warning when the variable did."""
    try:
        import opentelemetry.instrumentation.system_metrics  # noqa: F401 (imports psutil)
    except ImportError as exc:
        if explicit:
            raise ImportError(_MISSING) from exc
        _log.warning("%s=true but %s. Process metrics are off.", semconv.ENV_LLM_PROCESS_METRICS,
                     _MISSING)  # fmt: skip
        return False
    return True


def start_process_metrics(meter_provider: MeterProvider) -> None:
    """Record the ``process.*`` metrics through ``meter_provider`` (once per process)."""
    from opentelemetry.instrumentation.system_metrics import SystemMetricsInstrumentor

    instrumentor = SystemMetricsInstrumentor(config=dict(PROCESS_METRICS))
    if instrumentor.is_instrumented_by_opentelemetry:
        _log.debug("system metrics already instrumented; their configuration is kept")
        return
    instrumentor.instrument(meter_provider=meter_provider)
