"""The demo's traces in Jaeger, read through Jaeger's own HTTP API: tree, attributes, SPM."""

from __future__ import annotations

import time
import urllib.parse
from typing import Any

import pytest

from otel_llm import semconv
from tests.e2e.conftest import DEMO_MISSES, DEMO_REQUESTS, DEMO_SERVICE, DemoRun, wait_for
from tests.e2e.stack import Stack, get_json, http

pytestmark = pytest.mark.e2e


def tags(span: dict[str, Any]) -> dict[str, Any]:
    """A Jaeger span's tags as a dict."""
    return {t["key"]: t["value"] for t in span.get("tags", [])}


def parent_id(span: dict[str, Any]) -> str | None:
    """The spanID of a span's CHILD_OF parent, or None for a root."""
    for ref in span.get("references", []):
        if ref.get("refType") == "CHILD_OF":
            return str(ref["spanID"])
    return None


def fetch_trace(stack: Stack, trace_id: str, min_spans: int) -> dict[str, Any]:
    """GET /api/traces/{id} until the trace has all its spans (they arrive in batches)."""

    def get() -> dict[str, Any] | None:
        status, body = http("GET", f"{stack.jaeger}/api/traces/{trace_id}")
        data = body.get("data") if status == 200 and isinstance(body, dict) else None
        return data[0] if data and len(data[0]["spans"]) >= min_spans else None

    trace: dict[str, Any] = wait_for(f"trace {trace_id} in Jaeger", get, deadline_s=60)
    return trace


@pytest.fixture(scope="module")
def demo_traces(stack: Stack, demo: DemoRun) -> list[dict[str, Any]]:
    """Every demo trace, fetched by the trace ids its log lines printed.

    A cache hit is 3 spans (HTTP server, request, lookup); a miss is 9 (HTTP server, request,
    lookup, encode, truncate, decode, route, failed attempt, streamed generation).
    """
    hits = {r["trace_id"] for r in demo.logs if r.get("event") == "served from prompt cache"}
    assert len(hits) == DEMO_REQUESTS - DEMO_MISSES
    return [fetch_trace(stack, t, 3 if t in hits else 9) for t in demo.trace_ids]


def test_service_is_listed(stack: Stack, demo: DemoRun) -> None:
    """/api/services lists the demo's service once its spans arrived."""
    services = wait_for(
        "the demo service in /api/services",
        lambda: DEMO_SERVICE in (get_json(f"{stack.jaeger}/api/services")["data"] or []),
    )
    assert services


def test_search_by_service_finds_every_request(stack: Stack, demo: DemoRun) -> None:
    """/api/traces?service=... returns one trace per demo request."""
    query = urllib.parse.urlencode(
        {"service": DEMO_SERVICE, "lookback": "1h", "limit": 100, "operation": "handle_request"}
    )

    def found() -> set[str]:
        data = get_json(f"{stack.jaeger}/api/traces?{query}")["data"] or []
        ids = {t["traceID"] for t in data}
        return ids if set(demo.trace_ids) <= ids else set()

    assert len(wait_for("every demo trace in a service search", found)) >= DEMO_REQUESTS


def test_span_tree_of_a_routed_streamed_request(demo_traces: list[dict[str, Any]]) -> None:
    """HTTP server -> request -> cache, tokenizer, route -> (failed attempt, generation)."""
    trace = demo_traces[0]
    spans = {s["spanID"]: s for s in trace["spans"]}
    by_name = {s["operationName"]: s for s in trace["spans"]}
    server = by_name["POST /summarise/{topic}"]
    assert parent_id(server) is None
    server_tags = tags(server)
    assert server_tags["span.kind"] == "server"
    assert server_tags[semconv.HTTP_ROUTE] == "/summarise/{topic}"
    root = by_name["handle_request"]
    assert parent_id(root) == server["spanID"]
    for child in ("cache.lookup prompt-cache", "tokenizer.truncate", "route demo-router"):
        assert parent_id(by_name[child]) == root["spanID"], child
    route = by_name["route demo-router"]
    attempts = [s for s in spans.values() if parent_id(s) == route["spanID"]]
    assert sorted(s["operationName"] for s in attempts) == ["chat gpt-4o", "chat gpt-4o-mini"]
    route_tags = tags(route)
    assert route_tags[semconv.ROUTE_SELECTED_MODEL] == "gpt-4o-mini"
    assert route_tags[semconv.ROUTE_FALLBACKS] == 1
    fallback_events = [
        {f["key"]: f["value"] for f in log["fields"]} for log in route.get("logs", [])
    ]
    assert any(e.get(semconv.ROUTE_FALLBACK_REASON) == "rate_limited" for e in fallback_events)

    failed = tags(by_name["chat gpt-4o"])
    assert failed[semconv.ERROR_TYPE] == "RateLimitError"
    assert failed.get("otel.status_code") == "ERROR"

    streamed_span = by_name["chat gpt-4o-mini"]
    streamed = tags(streamed_span)
    assert streamed["span.kind"] == "client"
    assert streamed[semconv.GEN_AI_OPERATION_NAME] == "chat"
    assert streamed[semconv.GEN_AI_PROVIDER_NAME] == "openai"
    assert streamed[semconv.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"
    assert streamed[semconv.GEN_AI_RESPONSE_MODEL] == "gpt-4o-mini-2024-07-18"
    assert streamed[semconv.GEN_AI_REQUEST_STREAM] is True
    assert streamed[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0
    assert streamed[semconv.GEN_AI_USAGE_INPUT_TOKENS] > 0
    assert streamed[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] > 0
    assert "gen_ai.system" not in streamed  # deprecated name never emitted

    truncate = tags(by_name["tokenizer.truncate"])
    assert truncate[semconv.TOKENIZER_TRUNCATED] is True
    assert truncate[semconv.TOKENIZER_ORIGINAL_TOKENS] > truncate[semconv.TOKENIZER_TOKENS] == 512


def test_collector_processing_is_visible(demo_traces: list[dict[str, Any]]) -> None:
    """The collector's resource processor tagged the process with the environment."""
    process = next(iter(demo_traces[0]["processes"].values()))
    process_tags = {t["key"]: t["value"] for t in process["tags"]}
    assert process["serviceName"] == DEMO_SERVICE
    assert process_tags["deployment.environment.name"] == "e2e"


def test_cache_hits_skip_the_model(demo_traces: list[dict[str, Any]]) -> None:
    """Repeated documents are served from the cache: no route span in those traces."""
    routed = [
        t for t in demo_traces if any(s["operationName"] == "route demo-router" for s in t["spans"])
    ]
    assert len(routed) == DEMO_MISSES


@pytest.mark.parametrize("kind", ["client", "server"])
def test_spm_reports_calls(stack: Stack, demo: DemoRun, kind: str) -> None:
    """Jaeger's Monitor tab API (/api/metrics/calls) has the GenAI calls (client) and the
    HTTP endpoint (server, the tab's default) from the span metrics."""
    query = urllib.parse.urlencode(
        {
            "service": DEMO_SERVICE,
            "spanKind": kind,
            "groupByOperation": "true",
            "endTs": int(time.time() * 1000) + 60_000,
            "lookback": 3_600_000,
            "step": 5_000,
            "ratePer": 60_000,
        }
    )

    expected = {"chat gpt-4o-mini"} if kind == "client" else {"POST /summarise/{topic}"}

    def operations() -> set[str]:
        body = get_json(f"{stack.jaeger}/api/metrics/calls?{query}")
        found = {
            label["value"]
            for m in body.get("metrics") or []
            if any(p.get("gaugeValue") for p in m.get("metricPoints", []))
            for label in m.get("labels", [])
            if label.get("name") == "operation"
        }
        return found if expected <= found else set()

    assert wait_for(f"SPM call-rate points of {sorted(expected)}", operations, deadline_s=90)
