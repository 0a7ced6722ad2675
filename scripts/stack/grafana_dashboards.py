# ruff: noqa: E501  (PromQL expressions read better unbroken)
"""Generate the Grafana dashboards in collector-config/grafana/dashboards/ from one description.

Why a generator: dashboard JSON is long and repetitive; writing it from a short table keeps the
PromQL in one readable place and every panel consistent (units, legends, exemplars). Run
``python scripts/stack/grafana_dashboards.py`` after editing; tests/deploy fails when the
committed JSON differs from what this script writes, and parses every expression with promtool.

Metric names are the collector prometheus exporter's translation of the SDK's names (see
docs/telemetry.md and docs/deployment.md). `job` is the application's service.name (the
Prometheus scrape keeps it with honor_labels).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[2] / "collector-config" / "grafana" / "dashboards"
PROM = {"type": "prometheus", "uid": "prometheus"}

SEL = 'job=~"$service", gen_ai_request_model=~"$model"'
"""Label filter of the generation metrics (dashboard variables)."""
GEN = "gen_ai_client_operation_duration_seconds"
TTFT = "gen_ai_client_operation_time_to_first_chunk_seconds"
TPOC = "gen_ai_client_operation_time_per_output_chunk_seconds"
TOK = "otel_llm_tokenizer"
RI = "$__rate_interval"


def quantile(q: float, metric: str, by: str, sel: str = SEL) -> str:
    """PromQL for the q-quantile of a histogram, grouped by `by`."""
    return f"histogram_quantile({q}, sum by (le, {by}) (rate({metric}_bucket{{{sel}}}[{RI}])))"


def target(expr: str, legend: str, ref: str, exemplar: bool = False) -> dict[str, Any]:
    """One Prometheus query of a panel."""
    return {
        "datasource": PROM,
        "expr": expr,
        "legendFormat": legend,
        "refId": ref,
        "exemplar": exemplar,
        "range": True,
    }


def panel(
    title: str,
    targets: list[tuple[str, str]],
    unit: str,
    *,
    kind: str = "timeseries",
    exemplar: bool = False,
    description: str = "",
) -> dict[str, Any]:
    """A panel with its queries; position is filled in by `dashboard`."""
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": PROM,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
        "targets": [
            target(expr, legend, chr(ord("A") + i), exemplar)
            for i, (expr, legend) in enumerate(targets)
        ],
    }


def variable(name: str, label: str, query: str) -> dict[str, Any]:
    """A multi-value query variable with an All option."""
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": PROM,
        "query": {"query": query, "refId": f"{name}-var"},
        "definition": query,
        "includeAll": True,
        "multi": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "refresh": 2,
        "sort": 1,
    }


def dashboard(
    uid: str, title: str, panels: list[dict[str, Any]], variables: list[dict[str, Any]]
) -> dict[str, Any]:
    """A dashboard with panels laid out two per row."""
    for i, p in enumerate(panels):
        p["id"] = i + 1
        p["gridPos"] = {"h": 8, "w": 12, "x": 12 * (i % 2), "y": 8 * (i // 2)}
    return {
        "uid": uid,
        "title": title,
        "tags": ["otel-llm"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {"list": variables},
        "links": [{"title": "otel-llm", "type": "dashboards", "tags": ["otel-llm"]}],
        "panels": panels,
    }


def overview() -> dict[str, Any]:
    """Requests, errors, latency, streaming, tokens and cost by model."""
    err = f'{GEN}_count{{{SEL}, error_type!=""}}'
    panels = [
        panel(
            "Requests per second by model",
            [
                (
                    f"sum by (gen_ai_request_model) (rate({GEN}_count{{{SEL}}}[{RI}]))",
                    "{{gen_ai_request_model}}",
                )
            ],
            "reqps",
        ),
        panel(
            "Error ratio by model",
            [
                (
                    f"sum by (gen_ai_request_model) (rate({err}[{RI}]))"
                    f" / sum by (gen_ai_request_model) (rate({GEN}_count{{{SEL}}}[{RI}]))",
                    "{{gen_ai_request_model}}",
                )
            ],
            "percentunit",
            description="Share of generations with error.type set. Alerts: warn above 1%, page above 5%.",
        ),
        panel(
            "Errors per second by error type",
            [
                (
                    f"sum by (error_type, gen_ai_request_model) (rate({err}[{RI}]))",
                    "{{error_type}} ({{gen_ai_request_model}})",
                )
            ],
            "reqps",
        ),
        panel(
            "Generation latency p50 / p95 / p99 by model",
            [
                (quantile(0.5, GEN, "gen_ai_request_model"), "p50 {{gen_ai_request_model}}"),
                (quantile(0.95, GEN, "gen_ai_request_model"), "p95 {{gen_ai_request_model}}"),
                (quantile(0.99, GEN, "gen_ai_request_model"), "p99 {{gen_ai_request_model}}"),
            ],
            "s",
            exemplar=True,
            description="Exemplars (dots) link to the trace in Jaeger.",
        ),
        panel(
            "Time to first chunk p50 / p95 by model",
            [
                (quantile(0.5, TTFT, "gen_ai_request_model"), "p50 {{gen_ai_request_model}}"),
                (quantile(0.95, TTFT, "gen_ai_request_model"), "p95 {{gen_ai_request_model}}"),
            ],
            "s",
            exemplar=True,
        ),
        panel(
            "Time per output chunk p95 by model",
            [(quantile(0.95, TPOC, "gen_ai_request_model"), "{{gen_ai_request_model}}")],
            "s",
        ),
        panel(
            "Stream output rate p50 (tokens/s) by model",
            [
                (
                    quantile(
                        0.5, "otel_llm_stream_tokens_per_second_per_second", "gen_ai_request_model"
                    ),
                    "{{gen_ai_request_model}}",
                )
            ],
            "short",
        ),
        panel(
            "Active streams",
            [
                (
                    f"sum by (gen_ai_request_model) (otel_llm_stream_active{{{SEL}}})",
                    "{{gen_ai_request_model}}",
                )
            ],
            "short",
        ),
        panel(
            "Stream outcomes per second",
            [
                (
                    f"sum by (otel_llm_stream_outcome) (rate(otel_llm_stream_outcomes_total{{{SEL}}}[{RI}]))",
                    "{{otel_llm_stream_outcome}}",
                )
            ],
            "reqps",
        ),
        panel(
            "Tokens per second by type and model",
            [
                (
                    f"sum by (gen_ai_token_type, gen_ai_request_model) (rate(gen_ai_client_token_usage_sum{{{SEL}}}[{RI}]))",
                    "{{gen_ai_token_type}} {{gen_ai_request_model}}",
                )
            ],
            "short",
        ),
        panel(
            "Cost per hour by model (USD)",
            [
                (
                    f"sum by (gen_ai_request_model) (increase(otel_llm_cost_total{{{SEL}}}[1h]))",
                    "{{gen_ai_request_model}}",
                )
            ],
            "currencyUSD",
            description="Estimated from the packaged pricing table (docs/cost-and-budgets.md).",
        ),
        panel(
            "Instrumentation errors swallowed per second",
            [
                (
                    'sum(rate(otel_llm_instrumentation_errors_total{job=~"$service"}[$__rate_interval]))',
                    "errors",
                )
            ],
            "short",
            description="Telemetry failures the SDK swallowed so the application kept running.",
        ),
        panel(
            "SLO error budget remaining (30 days)",
            [("slo:error_budget_remaining:ratio", "{{slo}}")],
            "percentunit",
            description=(
                "Share of each SLO's 30-day error budget not yet spent: 100% untouched, 0% used"
                " up, below 0 overspent. All services and models (rules/slo.yml; the objectives"
                " are knobs there). Alert SLOErrorBudgetLow below 25%."
            ),
        ),
        panel(
            "SLO burn rate (1 h)",
            [("slo:sli_error:ratio_rate1h / slo:error_budget:ratio", "{{slo}}")],
            "short",
            description=(
                "How fast each SLO spends its budget: 1 spends exactly the budget in 30 days."
                " Alert SLOErrorBudgetBurnFast pages at 14.4 (with the 5-minute rate agreeing)."
            ),
        ),
    ]
    return dashboard(
        "otel-llm-overview",
        "otel-llm / LLM overview",
        panels,
        [
            variable("service", "Service", f"label_values({GEN}_count, job)"),
            variable(
                "model",
                "Model",
                f'label_values({GEN}_count{{job=~"$service"}}, gen_ai_request_model)',
            ),
        ],
    )


def tokenizer() -> dict[str, Any]:
    """Tokenizer latency, sizes, truncations, estimates and budget overflows."""
    sel = 'job=~"$service", otel_llm_tokenizer_name=~"$tokenizer"'
    by = "otel_llm_tokenizer_operation"
    panels = [
        panel(
            "Calls per second by operation",
            [
                (
                    f"sum by ({by}) (rate({TOK}_duration_seconds_count{{{sel}}}[{RI}]))",
                    f"{{{{{by}}}}}",
                )
            ],
            "ops",
        ),
        panel(
            "Duration p99 by operation",
            [(quantile(0.99, f"{TOK}_duration_seconds", by, sel), f"{{{{{by}}}}}")],
            "s",
        ),
        panel(
            "Tokens per call p95 by operation",
            [(quantile(0.95, f"{TOK}_tokens", by, sel), f"{{{{{by}}}}}")],
            "short",
        ),
        panel(
            "Input characters per call p95 by operation",
            [(quantile(0.95, f"{TOK}_input_chars", by, sel), f"{{{{{by}}}}}")],
            "short",
            description="A jump here is the first sign of abuse-sized inputs.",
        ),
        panel(
            "Truncation ratio by tokenizer",
            [
                (
                    f"sum by (otel_llm_tokenizer_name) (rate({TOK}_truncations_total{{{sel}}}[{RI}]))"
                    f" / sum by (otel_llm_tokenizer_name) (rate({TOK}_duration_seconds_count{{{sel}}}[{RI}]))",
                    "{{otel_llm_tokenizer_name}}",
                )
            ],
            "percentunit",
            description="Inputs cut to fit a token budget: data the model never saw.",
        ),
        panel(
            "Estimates and budget overflows per second",
            [
                (f"sum(rate({TOK}_estimates_total{{{sel}}}[{RI}]))", "estimated (heuristic)"),
                (f"sum(rate({TOK}_budget_overflows_total{{{sel}}}[{RI}]))", "over max_tokens"),
            ],
            "ops",
        ),
        panel(
            "Chunks per chunk call p95",
            [
                (
                    quantile(0.95, f"{TOK}_chunks", "otel_llm_tokenizer_name", sel),
                    "{{otel_llm_tokenizer_name}}",
                )
            ],
            "short",
        ),
    ]
    return dashboard(
        "otel-llm-tokenizer",
        "otel-llm / Tokenizer",
        panels,
        [
            variable("service", "Service", f"label_values({TOK}_duration_seconds_count, job)"),
            variable(
                "tokenizer",
                "Tokenizer",
                f'label_values({TOK}_duration_seconds_count{{job=~"$service"}}, otel_llm_tokenizer_name)',
            ),
        ],
    )


def routing() -> dict[str, Any]:
    """Routes: volume, fallbacks, selections, latency; caches: hit ratio and volume."""
    sel = 'job=~"$service", otel_llm_route_name=~"$route"'
    csel = 'job=~"$service"'
    panels = [
        panel(
            "Routed requests per second by route",
            [
                (
                    f"sum by (otel_llm_route_name) (rate(otel_llm_route_duration_seconds_count{{{sel}}}[{RI}]))",
                    "{{otel_llm_route_name}}",
                )
            ],
            "reqps",
        ),
        panel(
            "Fallbacks per routed request",
            [
                (
                    f"sum by (otel_llm_route_name) (rate(otel_llm_route_fallbacks_total{{{sel}}}[{RI}]))"
                    f" / sum by (otel_llm_route_name) (rate(otel_llm_route_duration_seconds_count{{{sel}}}[{RI}]))",
                    "{{otel_llm_route_name}}",
                )
            ],
            "percentunit",
            description="Alert above 10%.",
        ),
        panel(
            "Fallbacks per second by reason",
            [
                (
                    f"sum by (otel_llm_route_fallback_reason) (rate(otel_llm_route_fallbacks_total{{{sel}}}[{RI}]))",
                    "{{otel_llm_route_fallback_reason}}",
                )
            ],
            "ops",
        ),
        panel(
            "Selected models per second",
            [
                (
                    f"sum by (otel_llm_route_selected_model) (rate(otel_llm_route_selections_total{{{sel}}}[{RI}]))",
                    "{{otel_llm_route_selected_model}}",
                )
            ],
            "ops",
        ),
        panel(
            "Route duration p95 (including fallbacks)",
            [
                (
                    quantile(0.95, "otel_llm_route_duration_seconds", "otel_llm_route_name", sel),
                    "{{otel_llm_route_name}}",
                )
            ],
            "s",
            exemplar=True,
        ),
        panel(
            "Cache hit ratio by cache",
            [
                (
                    f'sum by (otel_llm_cache_name) (rate(otel_llm_cache_lookups_total{{{csel}, otel_llm_cache_result="hit"}}[{RI}]))'
                    f" / sum by (otel_llm_cache_name) (rate(otel_llm_cache_lookups_total{{{csel}}}[{RI}]))",
                    "{{otel_llm_cache_name}}",
                )
            ],
            "percentunit",
        ),
        panel(
            "Cache lookups per second by result",
            [
                (
                    f"sum by (otel_llm_cache_result) (rate(otel_llm_cache_lookups_total{{{csel}}}[{RI}]))",
                    "{{otel_llm_cache_result}}",
                )
            ],
            "ops",
        ),
    ]
    return dashboard(
        "otel-llm-routing",
        "otel-llm / Routing and cache",
        panels,
        [
            variable(
                "service", "Service", "label_values(otel_llm_route_duration_seconds_count, job)"
            ),
            variable(
                "route",
                "Route",
                'label_values(otel_llm_route_duration_seconds_count{job=~"$service"}, otel_llm_route_name)',
            ),
        ],
    )


DASHBOARDS = {
    "llm-overview.json": overview,
    "tokenizer.json": tokenizer,
    "routing-cache.json": routing,
}


def render() -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    return {name: json.dumps(make(), indent=2) + "\n" for name, make in DASHBOARDS.items()}


def main() -> int:
    """Write the dashboards, or with --check report which differ from the files."""
    check = "--check" in sys.argv[1:]
    stale = []
    OUT.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        path = OUT / name
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print("stale dashboards (run scripts/stack/grafana_dashboards.py):", ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
