# ruff: noqa: E501  (PromQL selectors read better unbroken)
"""Tail sampling at scale on the real stack: one agent (agent.yaml) load-balancing by trace id
to two gateways (gateway.yaml), Jaeger behind them, Prometheus scraping the agent.

The workload is the real SDK (otel_llm.configure, OTLP/HTTP to the agent) in a fresh
interpreter. It records the id of every span it ends (an extra span processor on the SDK's own
tracer provider), so Jaeger's copy of a trace is compared with what was sent, span for span.
"""

from __future__ import annotations

import json
import re
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import python_workload, started_stack, wait_for
from tests.e2e.stack import Stack, get_json
from tests.e2e.test_prometheus import scalar_sum, wait_value

pytestmark = pytest.mark.e2e

SERVICE = "e2e-tail-sampling"
GATEWAYS = 2
SAMPLE_PERCENT = 10
SLOW_MS = 1000
# Traces of each kind the workload sends. OK traces are the bulk that sampling thins out.
COUNTS = {"ok": 150, "error": 10, "fallback": 3, "budget": 3, "slow": 2}
INPUT_TOKENS, OUTPUT_TOKENS = 1000, 500
# gpt-4o-mini in otel_llm/pricing.json: 0.15 USD per 1M input tokens, 0.60 per 1M output.
COST_PER_CALL = INPUT_TOKENS * 0.15 / 1e6 + OUTPUT_TOKENS * 0.60 / 1e6

WORKLOAD = """
import json, random, time
import otel_llm
from opentelemetry import trace
from opentelemetry.sdk.trace import SpanProcessor

tel = otel_llm.configure(
    service_name=__SERVICE__, traces_exporter="otlp", metrics_exporter="otlp",
    logs_exporter="none", otlp_endpoint=__ENDPOINT__, otlp_protocol="http/protobuf",
    instrument=False,
)

class Record(SpanProcessor):
    def __init__(self):
        self.spans = {}
    def on_end(self, span):
        ctx = span.get_span_context()
        self.spans.setdefault(format(ctx.trace_id, "032x"), []).append(format(ctx.span_id, "016x"))

record = Record()
trace.get_tracer_provider().add_span_processor(record)
tracer = trace.get_tracer("e2e.tail_sampling")

def generate(sleep=0.0):
    with otel_llm.generation(model="gpt-4o-mini", provider="openai") as g:
        time.sleep(sleep)
        g.set_response(model="gpt-4o-mini", input_tokens=__IN__, output_tokens=__OUT__)

def request(kind):
    with tracer.start_as_current_span("handle_request"):
        trace_id = otel_llm.current_trace_id()
        with otel_llm.tool("lookup_order"):
            pass
        if kind == "error":
            try:
                with otel_llm.generation(model="gpt-4o-mini", provider="openai"):
                    raise RuntimeError("upstream answered 500")
            except RuntimeError:
                pass
            # The children leave in one export, the root in a later one: the gateway must
            # still judge (and keep) them as one trace.
            tel.force_flush()
        elif kind == "fallback":
            with otel_llm.route("e2e-router", ["gpt-4o", "gpt-4o-mini"]) as r:
                r.fallback("gpt-4o", "gpt-4o-mini", reason="rate_limited")
                r.select("gpt-4o-mini")
                generate()
        elif kind == "budget":
            with otel_llm.budget("e2e-tail-sampling", max_tokens=1):
                generate()
        elif kind == "slow":
            generate(sleep=__SLOW_S__)
        else:
            generate()
    return trace_id

counts = __COUNTS__
order = [k for k, n in counts.items() for _ in range(n)]
random.Random(7).shuffle(order)  # kinds interleaved, as in real traffic
sent = {k: [] for k in counts}
for kind in order:
    sent[kind].append(request(kind))
tel.force_flush()
tel.shutdown()
print(json.dumps({"sent": sent, "spans": record.spans}))
"""


@pytest.fixture(scope="module")
def scaled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Jaeger, Prometheus, two gateways and one agent (no Elasticsearch) on free ports."""
    yield from started_stack(
        tmp_path_factory,
        "e2e-running-scale",
        with_es=False,
        gateways=GATEWAYS,
        gateway_env={
            "OTELCOL_TAIL_DECISION_WAIT": "2s",
            "OTELCOL_TAIL_SAMPLE_PERCENT": str(SAMPLE_PERCENT),
            "OTELCOL_TAIL_SLOW_MS": str(SLOW_MS),
        },
    )


@pytest.fixture(scope="module")
def sent(scaled: Stack) -> dict[str, Any]:
    """Run the workload once; returns {"sent": {kind: [trace ids]}, "spans": {trace id: [span ids]}}."""
    code = (
        WORKLOAD.replace("__SERVICE__", repr(SERVICE))
        .replace("__ENDPOINT__", repr(scaled.otlp_http))
        .replace("__COUNTS__", repr(COUNTS))
        .replace("__IN__", str(INPUT_TOKENS))
        .replace("__OUT__", str(OUTPUT_TOKENS))
        .replace("__SLOW_S__", str(SLOW_MS / 1000 * 1.3))
    )
    result = python_workload(code, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    data: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    assert {k: len(v) for k, v in data["sent"].items()} == COUNTS
    return data


def own_metric(stack: Stack, gateway: int, name: str, **labels: str) -> float:
    """Sum of a gateway's own metric (its internal telemetry endpoint) over matching series."""
    url = f"http://127.0.0.1:{stack.ports[f'gateway{gateway}_metrics']}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    total = 0.0
    for line in text.splitlines():
        match = re.match(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(match.group(3))
    return total


def gateways_total(stack: Stack, name: str, **labels: str) -> float:
    """own_metric summed over every gateway."""
    return sum(own_metric(stack, g, name, **labels) for g in range(1, GATEWAYS + 1))


def jaeger_traces(stack: Stack) -> dict[str, dict[str, Any]]:
    """Every trace of the workload's service in Jaeger, by trace id."""
    query = urllib.parse.urlencode({"service": SERVICE, "lookback": "1h", "limit": 5000})
    data = get_json(f"{stack.jaeger}/api/traces?{query}", timeout=15)["data"] or []
    return {t["traceID"]: t for t in data}


@pytest.fixture(scope="module")
def decided(scaled: Stack, sent: dict[str, Any]) -> float:
    """Waits until the gateways decided on every trace; returns how many they kept."""
    traces = sum(COUNTS.values())
    wait_for(
        f"the gateways to decide on all {traces} traces",
        lambda: (
            gateways_total(scaled, "otelcol_processor_tail_sampling_global_count_traces_sampled")
            >= traces
        ),
        deadline_s=60,
    )
    return gateways_total(
        scaled, "otelcol_processor_tail_sampling_global_count_traces_sampled", sampled="true"
    )


@pytest.fixture(scope="module")
def kept(scaled: Stack, sent: dict[str, Any], decided: float) -> dict[str, dict[str, Any]]:
    """Jaeger's traces once it holds every span of every trace the gateways kept."""

    def complete() -> dict[str, dict[str, Any]] | None:
        found = jaeger_traces(scaled)
        spans = sum(len(t["spans"]) for t in found.values())
        expected = sum(len(sent["spans"][t]) for t in found if t in sent["spans"])
        return found if len(found) == decided and spans == expected else None

    result: dict[str, dict[str, Any]] = wait_for(
        f"{decided:.0f} kept traces, all spans, in Jaeger", complete, deadline_s=60
    )
    return result


def test_every_span_of_every_error_trace_reaches_jaeger(
    sent: dict[str, Any], kept: dict[str, dict[str, Any]]
) -> None:
    """Each error trace is in Jaeger with exactly the spans the SDK ended, as one tree."""
    for trace_id in sent["sent"]["error"]:
        assert trace_id in kept, f"error trace {trace_id} was dropped"
        spans = kept[trace_id]["spans"]
        assert sorted(s["spanID"] for s in spans) == sorted(sent["spans"][trace_id])
        ids = {s["spanID"] for s in spans}
        roots = [s for s in spans if not s.get("references")]
        assert [r["operationName"] for r in roots] == ["handle_request"]
        for span in spans:
            for ref in span.get("references", []):
                assert ref["spanID"] in ids, (trace_id, span["operationName"])


def test_fallback_budget_and_slow_traces_are_kept(
    scaled: Stack, sent: dict[str, Any], kept: dict[str, dict[str, Any]]
) -> None:
    """Each keep rule keeps its traces whole, and the gateways credit the rule that matched."""
    for kind in ("fallback", "budget", "slow"):
        for trace_id in sent["sent"][kind]:
            assert trace_id in kept, f"{kind} trace {trace_id} was dropped"
            got = sorted(s["spanID"] for s in kept[trace_id]["spans"])
            assert got == sorted(sent["spans"][trace_id]), kind
    name = "otelcol_processor_tail_sampling_count_traces_sampled"
    for policy, kind in (("errors", "error"), ("fallbacks", "fallback"), ("budget", "budget")):
        assert gateways_total(scaled, name, policy=policy, sampled="true") == COUNTS[kind], policy
    # Any trace slower than the threshold counts; the slow ones surely are.
    assert gateways_total(scaled, name, policy="slow", sampled="true") >= COUNTS["slow"]


def test_most_ok_traces_are_dropped(sent: dict[str, Any], kept: dict[str, dict[str, Any]]) -> None:
    """At 10% the baseline keeps some OK traces and drops most (Binomial(150, 0.1): mean 15,
    sd 3.7; the bounds 1..45 fail by chance with probability below 1e-6)."""
    ok = sent["sent"]["ok"]
    kept_ok = [t for t in ok if t in kept]
    print(
        f"\ntail sampling: {len(kept_ok)} of {len(ok)} OK traces kept, {len(kept)} in all",
        file=sys.stderr,
    )
    assert 1 <= len(kept_ok) <= 0.3 * len(ok), f"{len(kept_ok)} of {len(ok)} OK traces kept"
    for trace_id in kept_ok:
        assert len(kept[trace_id]["spans"]) == len(sent["spans"][trace_id])


def test_both_gateways_get_traffic_and_each_trace_meets_one_gateway(
    scaled: Stack, sent: dict[str, Any], decided: float
) -> None:
    """Both gateways accepted spans; together exactly the spans sent (none duplicated), and
    every trace was new to exactly one gateway (a trace split across gateways counts twice)."""
    spans_sent = sum(len(v) for v in sent["spans"].values())
    per_gateway = [
        own_metric(scaled, g, "otelcol_receiver_accepted_spans") for g in range(1, GATEWAYS + 1)
    ]
    assert all(n > 0 for n in per_gateway), per_gateway
    assert sum(per_gateway) == spans_sent, (per_gateway, spans_sent)
    new_traces = gateways_total(scaled, "otelcol_processor_tail_sampling_new_trace_id_received")
    assert new_traces == len(sent["spans"]) == sum(COUNTS.values())


def test_metrics_count_every_generation_sampled_or_not(
    scaled: Stack, sent: dict[str, Any], kept: dict[str, dict[str, Any]]
) -> None:
    """Prometheus (scraping the agent) counts every generation, token and dollar, kept or not."""
    job = f'job="{SERVICE}"'
    generations = sum(COUNTS.values())
    succeeded = generations - COUNTS["error"]
    wait_value(
        scaled, f"sum(gen_ai_client_operation_duration_seconds_count{{{job}}})", generations, 60
    )
    assert (
        scalar_sum(
            scaled, f'sum(gen_ai_client_operation_duration_seconds_count{{{job}, error_type!=""}})'
        )
        == COUNTS["error"]
    )
    for token_type, per_call in (("input", INPUT_TOKENS), ("output", OUTPUT_TOKENS)):
        selector = f'{job}, gen_ai_token_type="{token_type}"'
        assert (
            scalar_sum(scaled, f"sum(gen_ai_client_token_usage_count{{{selector}}})") == succeeded
        )
        assert scalar_sum(scaled, f"sum(gen_ai_client_token_usage_sum{{{selector}}})") == (
            succeeded * per_call
        )
    cost = scalar_sum(scaled, f"sum(otel_llm_cost_total{{{job}}})")
    assert cost == pytest.approx(succeeded * COST_PER_CALL, rel=1e-9)
    # Far fewer traces were kept than generations counted.
    assert len(kept) < generations / 2
