"""Metric dimensions, cache size/evictions and process metrics through the real Collector
into Prometheus: the series exist under the names the docs and alerts use, and no id does."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import python_workload, started_stack, wait_for
from tests.e2e.stack import Stack
from tests.e2e.test_prometheus import query, scalar_sum

pytestmark = pytest.mark.e2e

JOB = 'job="e2e-dims"'
IDS = ("conv-e2e-5f1", "user-e2e-93", "req-e2e-7")
WORKLOAD = """
import otel_llm
tel = otel_llm.configure(
    service_name="e2e-dims", traces_exporter="otlp", metrics_exporter="otlp", logs_exporter="none",
    otlp_endpoint=%r, otlp_protocol="http/protobuf", instrument=False,
    metric_dimensions=["feature", "tenant_tier"], process_metrics=True,
)
entries = {"a": 1, "b": 2, "c": 3}
cache = otel_llm.register_cache("answers", size=lambda: len(entries))
with otel_llm.attributes(conversation_id="conv-e2e-5f1", user_id="user-e2e-93",
                         request_id="req-e2e-7", feature="chat", tenant_tier="gold"):
    for _ in range(3):
        with otel_llm.generation(model="gpt-4o-mini", provider="openai") as g:
            g.set_response(model="gpt-4o-mini", input_tokens=1000, output_tokens=100)
cache.evicted(2)
tel.shutdown()
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Collector, Jaeger and Prometheus (no Elasticsearch: these are metrics only)."""
    yield from started_stack(tmp_path_factory, "e2e-dims", with_es=False)


def test_new_series_reach_prometheus_and_ids_do_not(stack: Stack) -> None:
    """Cost by tenant_tier and feature, cache size and evictions, process memory: in
    Prometheus under the documented names; no label of the service carries an id."""
    result = python_workload(WORKLOAD % stack.otlp_http, timeout=90)
    assert result.returncode == 0, result.stderr[-3000:]
    cost = f'sum(otel_llm_cost_total{{{JOB}, otel_llm_feature="chat", tenant_tier="gold"}})'
    # 3 x (1000 input at $0.15/M + 100 output at $0.60/M) = $0.00063
    wait_for(cost, lambda: abs(scalar_sum(stack, cost) - 0.00063) < 1e-9, deadline_s=60)
    tokens = f'sum(gen_ai_client_token_usage_count{{{JOB}, tenant_tier="gold"}})'
    assert scalar_sum(stack, tokens) == 6
    assert scalar_sum(stack, f'otel_llm_cache_size{{{JOB}, otel_llm_cache_name="answers"}}') == 3
    assert scalar_sum(stack, f"otel_llm_cache_evictions_total{{{JOB}}}") == 2
    memory = query(stack, f"process_memory_usage_bytes{{{JOB}}}")
    assert len(memory) == 1 and float(memory[0]["value"][1]) > 10 * 2**20, memory
    assert scalar_sum(stack, f"process_cpu_time_seconds_total{{{JOB}}}") > 0
    every = query(stack, f'{{{JOB}, __name__!="target_info"}}')
    assert len(every) > 10
    for series in every:
        labels = series["metric"]
        assert not {"user_id", "gen_ai_conversation_id", "request_id"} & set(labels), labels
        assert not set(IDS) & set(labels.values()), labels
