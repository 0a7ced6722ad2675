# ruff: noqa: E501  (PromQL selectors read better unbroken)
"""The demo's metrics in Prometheus (through the collector's prometheus exporter), and every
dashboard and rule expression evaluated against that real data."""

from __future__ import annotations

import json
import time
import urllib.parse
from typing import Any

import pytest
import yaml

from tests.deploy._binaries import CONFIG
from tests.deploy.test_prometheus import DASHBOARDS, dashboard_exprs
from tests.e2e.conftest import (
    DEMO_MISSES,
    DEMO_REQUESTS,
    DEMO_SERVICE,
    DemoRun,
    python_workload,
    wait_for,
)
from tests.e2e.stack import Stack, get_json

pytestmark = pytest.mark.e2e

SERVICE = f'job="{DEMO_SERVICE}"'
# Sequential demo: each cache miss routes to gpt-4o (429) and falls back to gpt-4o-mini.
GENERATIONS = 2 * DEMO_MISSES


def query(stack: Stack, promql: str) -> list[dict[str, Any]]:
    """Instant query; returns the result vector (raises on a PromQL or server error)."""
    url = f"{stack.prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    body = get_json(url)
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def scalar_sum(stack: Stack, promql: str) -> float:
    """Sum of an instant vector's values (0 when empty)."""
    return sum(float(r["value"][1]) for r in query(stack, promql))


def wait_value(stack: Stack, promql: str, expected: float, deadline_s: float = 90) -> None:
    """Poll until the summed query equals `expected` (series appear at 0 first)."""
    wait_for(
        f"{promql} == {expected}",
        lambda: scalar_sum(stack, promql) == expected,
        deadline_s=deadline_s,
    )


def test_generation_count_equals_generations_sent(stack: Stack, demo: DemoRun) -> None:
    """gen_ai_client_operation_duration_seconds_count sums to the number of generations."""
    wait_value(
        stack, f"sum(gen_ai_client_operation_duration_seconds_count{{{SERVICE}}})", GENERATIONS
    )
    series = query(stack, f"gen_ai_client_operation_duration_seconds_count{{{SERVICE}}}")
    labels = [s["metric"] for s in series]
    failed = [m for m in labels if m.get("error_type")]
    ok = [m for m in labels if not m.get("error_type")]
    assert {m["error_type"] for m in failed} == {"RateLimitError"}
    assert {m["gen_ai_request_model"] for m in failed} == {"gpt-4o"}
    for metric in ok:
        assert metric["gen_ai_operation_name"] == "chat"
        assert metric["gen_ai_provider_name"] == "openai"
        assert metric["gen_ai_request_model"] == "gpt-4o-mini"
        assert metric["gen_ai_response_model"] == "gpt-4o-mini-2024-07-18"
    assert (
        scalar_sum(
            stack,
            f'sum(gen_ai_client_operation_duration_seconds_count{{{SERVICE}, error_type!=""}})',
        )
        == DEMO_MISSES
    )


def test_token_usage_and_ttft_histograms(stack: Stack, demo: DemoRun) -> None:
    """Token usage has input and output series; TTFT counts one per successful stream."""
    wait_value(
        stack,
        f"sum(gen_ai_client_operation_time_to_first_chunk_seconds_count{{{SERVICE}}})",
        DEMO_MISSES,
    )
    types = {
        s["metric"]["gen_ai_token_type"]
        for s in query(stack, f"gen_ai_client_token_usage_count{{{SERVICE}}}")
    }
    assert {"input", "output"} <= types
    assert (
        scalar_sum(
            stack, f'sum(gen_ai_client_token_usage_sum{{{SERVICE}, gen_ai_token_type="output"}})'
        )
        > 0
    )


def test_sdk_metrics_have_their_documented_names(stack: Stack, demo: DemoRun) -> None:
    """Tokenizer, route, cache, stream and cost metrics arrive under the documented names."""
    wait_value(stack, f"sum(otel_llm_route_fallbacks_total{{{SERVICE}}})", DEMO_MISSES)
    expected = {
        f'otel_llm_tokenizer_truncations_total{{{SERVICE}, otel_llm_tokenizer_name="cl100k_base"}}': DEMO_MISSES,
        f'otel_llm_cache_lookups_total{{{SERVICE}, otel_llm_cache_result="hit"}}': 2,
        f'otel_llm_cache_lookups_total{{{SERVICE}, otel_llm_cache_result="miss"}}': DEMO_MISSES,
        f'otel_llm_route_selections_total{{{SERVICE}, otel_llm_route_selected_model="gpt-4o-mini"}}': DEMO_MISSES,
        f"otel_llm_route_duration_seconds_count{{{SERVICE}}}": DEMO_MISSES,
        f'otel_llm_stream_outcomes_total{{{SERVICE}, otel_llm_stream_outcome="completed"}}': DEMO_MISSES,
    }
    for promql, value in expected.items():
        assert scalar_sum(stack, f"sum({promql})") == value, promql
    for name in (
        "otel_llm_tokenizer_duration_seconds_bucket",
        "otel_llm_tokenizer_tokens_bucket",
        "otel_llm_tokenizer_input_chars_bucket",
        "otel_llm_stream_tokens_per_second_per_second_bucket",
        "gen_ai_client_operation_time_per_output_chunk_seconds_bucket",
        "otel_llm_cost_total",
    ):
        assert query(stack, f"{name}{{{SERVICE}}}"), f"no series named {name}"


def test_http_server_request_duration(stack: Stack, demo: DemoRun) -> None:
    """The demo's HTTP server records the stable http.server.request.duration, by route."""
    promql = f"http_server_request_duration_seconds_count{{{SERVICE}}}"
    wait_value(stack, f"sum({promql})", DEMO_REQUESTS)
    series = [s["metric"] for s in query(stack, promql)]
    assert {m["http_route"] for m in series} == {"/summarise/{topic}"}
    assert {m["http_request_method"] for m in series} == {"POST"}
    assert {m["http_response_status_code"] for m in series} == {"200"}


def test_span_metrics_for_jaeger_spm(stack: Stack, demo: DemoRun) -> None:
    """The span_metrics connector's series carry the service and the GenAI dimensions."""
    promql = f'sum(traces_span_metrics_calls_total{{service_name="{DEMO_SERVICE}", span_name="chat gpt-4o-mini"}})'
    wait_value(stack, promql, DEMO_MISSES)
    series = query(
        stack,
        f'traces_span_metrics_calls_total{{service_name="{DEMO_SERVICE}", span_name="chat gpt-4o-mini"}}',
    )
    assert {s["metric"]["gen_ai_request_model"] for s in series} == {"gpt-4o-mini"}
    assert query(
        stack, f'traces_span_metrics_duration_milliseconds_bucket{{service_name="{DEMO_SERVICE}"}}'
    )


def test_every_dashboard_expression_evaluates(stack: Stack, demo: DemoRun) -> None:
    """Each dashboard query runs without error on real data, most of them non-empty."""
    wait_value(stack, f"sum(otel_llm_route_fallbacks_total{{{SERVICE}}})", DEMO_MISSES)
    empty = []
    total = 0
    for dashboard in DASHBOARDS:
        for title, expr in dashboard_exprs(dashboard):
            total += 1
            if not query(stack, expr):
                empty.append(f"{dashboard.name}: {title}")
    # Some panels need traffic the demo does not make (estimates, budget overflows, chunking,
    # errors swallowed by the SDK); everything the demo does make must show.
    assert len(empty) <= total // 3, empty


def test_every_rule_expression_evaluates(stack: Stack, demo: DemoRun) -> None:
    """Every recording and alert rule expression runs without error; loaded rules are healthy."""
    for path in sorted((CONFIG / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                query(stack, rule["expr"])  # raises on a PromQL error

    def rules_evaluated() -> list[dict[str, Any]]:
        groups = get_json(f"{stack.prometheus}/api/v1/rules")["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        return (
            rules
            if all(
                r.get("lastEvaluation", "").startswith("2")
                for r in rules
                if r["health"] != "unknown"
            )
            else []
        )

    rules = wait_for("Prometheus to evaluate the rules", rules_evaluated, deadline_s=30)
    bad = [(r["name"], r.get("lastError")) for r in rules if r["health"] == "err"]
    assert not bad, json.dumps(bad, indent=1)


EXEMPLAR_WORKLOAD = """
import otel_llm
from opentelemetry import trace
tel = otel_llm.configure(
    service_name="e2e-exemplars", traces_exporter="otlp", metrics_exporter="otlp",
    logs_exporter="none", otlp_endpoint=%r, otlp_protocol="http/protobuf",
)
with trace.get_tracer("e2e").start_as_current_span("request") as span:
    with otel_llm.generation(model="gpt-4o-mini", provider="openai", operation="chat") as g:
        g.set_response(model="gpt-4o-mini", input_tokens=3, output_tokens=1)
    print(format(span.get_span_context().trace_id, "032x"))
tel.shutdown()
"""


def test_exemplars_link_latency_to_traces(stack: Stack) -> None:
    """A generation's duration histogram carries its trace id as an exemplar in Prometheus."""
    result = python_workload(EXEMPLAR_WORKLOAD % stack.otlp_http, timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    trace_id = result.stdout.strip().splitlines()[-1]
    now = time.time()
    url = f"{stack.prometheus}/api/v1/query_exemplars?" + urllib.parse.urlencode(
        {
            "query": 'gen_ai_client_operation_duration_seconds_bucket{job="e2e-exemplars"}',
            "start": now - 600,
            "end": now + 600,
        }
    )

    def trace_ids() -> set[str]:
        data = get_json(url)["data"] or []
        return {e["labels"].get("trace_id", "") for s in data for e in s["exemplars"]}

    found = wait_for("the exemplar on the generation histogram", trace_ids, deadline_s=30)
    assert trace_id in found, (found, trace_id)
