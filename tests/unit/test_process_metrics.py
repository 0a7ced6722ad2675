"""Opt-in process CPU/memory metrics through opentelemetry-instrumentation-system-metrics."""

from __future__ import annotations

import json

import pytest

from otel_llm._process import PROCESS_METRICS
from tests.helpers import run_python, script

COLLECT = """
import json
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
reader = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
"""
REPORT = """
with otel_llm.generation(model="m", provider="p") as g:
    g.set_response(input_tokens=1, output_tokens=1)
found = {}
for rm in reader.get_metrics_data().resource_metrics:
    for sm in rm.scope_metrics:
        for m in sm.metrics:
            found[m.name] = [p.value if hasattr(p, "value") else p.sum for p in m.data.data_points]
print(json.dumps(found))
"""
QUIET = 'traces_exporter="none", logs_exporter="none", logging=False, instrument=False'


def _metrics(configure_args: str, env: dict[str, str] | None = None) -> dict[str, list[float]]:
    proc = run_python(
        script(COLLECT, f"import otel_llm\notel_llm.configure({QUIET}{configure_args})", REPORT),
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout.splitlines()[-1]))


def test_process_metrics_reach_the_meter_provider() -> None:
    """process_metrics=True: the process.* metrics appear in an InMemoryMetricReader, no
    system-wide ones, and the memory in use is a plausible number of bytes."""
    found = _metrics(", process_metrics=True")
    process = {name for name in found if name.startswith("process.")}
    expected = {"process.cpu.time", "process.memory.usage", "process.memory.virtual"}
    assert expected | {"process.thread.count"} <= process <= set(PROCESS_METRICS)
    assert not [name for name in found if name.startswith(("system.", "process.runtime."))]
    (rss,) = found["process.memory.usage"]
    assert 10 * 2**20 < rss < 8 * 2**30, rss
    assert found["process.thread.count"][0] >= 1


def test_process_metrics_are_off_by_default_and_on_from_the_environment() -> None:
    """Off unless asked; OTEL_LLM_PROCESS_METRICS=true turns them on."""
    default = _metrics("")
    assert "gen_ai.client.operation.duration" in default
    assert not [n for n in default if n.startswith("process.")]
    assert "process.memory.usage" in _metrics("", env={"OTEL_LLM_PROCESS_METRICS": "true"})


def test_prometheus_names_of_process_metrics() -> None:
    """The Prometheus exporter serves process_memory_usage_bytes (the high-memory alert's
    series) and process_cpu_time_seconds_total."""
    proc = run_python(
        f"""
        import urllib.request
        import otel_llm
        tel = otel_llm.configure({QUIET}, metrics_exporter="prometheus", prometheus_port=0,
                                 process_metrics=True)
        print(urllib.request.urlopen(tel.prometheus_url, timeout=10).read().decode())
        """
    )
    assert proc.returncode == 0, proc.stderr
    types = {line.split()[2] for line in proc.stdout.splitlines() if line.startswith("# TYPE")}
    assert {"process_memory_usage_bytes", "process_cpu_time_seconds_total"} <= types


HIDE_PACKAGE = "import sys; sys.modules['opentelemetry.instrumentation.system_metrics'] = None\n"


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_missing_package(how: str) -> None:
    """Without the `process` extra: ImportError naming it when asked by argument; one
    warning from the environment, and the application keeps running without them."""
    arg = "process_metrics=True, " if how == "argument" else ""
    proc = run_python(
        HIDE_PACKAGE
        + script(
            f"""
            import otel_llm
            try:
                otel_llm.configure({arg}{QUIET}, metrics_exporter="none")
            except ImportError as exc:
                print("ImportError:", exc)
            else:
                print("configured")
            """
        ),
        env={"OTEL_LLM_PROCESS_METRICS": "true"} if how == "environment" else None,
    )
    assert proc.returncode == 0, proc.stderr
    if how == "argument":
        assert "ImportError:" in proc.stdout and "otel-llm[process]" in proc.stdout
    else:
        assert proc.stdout.strip() == "configured"
        assert proc.stderr.count("OTEL_LLM_PROCESS_METRICS=true") == 1, proc.stderr
        assert "otel-llm[process]" in proc.stderr
