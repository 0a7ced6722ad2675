"""Collector and Jaeger configs validated by the real binaries (built by scripts/stack/build.sh).

`otelcol validate` builds every pipeline without opening a port, so it catches unknown
component types, bad settings and broken env substitutions. The contrib `elasticsearch`
exporter cannot be built here (the Go module proxy does not serve it), so the production
overlay is checked structurally instead; docs/deployment.md says which leg is tested where.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from otel_llm import semconv
from tests.deploy._binaries import CONFIG, jaeger_path, otelcol_path, require

BASE = CONFIG / "otel-collector.yaml"
LOOPBACK = CONFIG / "loopback.yaml"
ES_OVERLAY = CONFIG / "elasticsearch.yaml"
AGENT = CONFIG / "agent.yaml"
GATEWAY = CONFIG / "gateway.yaml"
AGENT_ES_OVERLAY = CONFIG / "agent-elasticsearch.yaml"

# Go module (last path element) -> component type name at collector v0.159.0.
MODULE_TYPES = {
    "otlpreceiver": "otlp",
    "batchprocessor": "batch",
    "memorylimiterprocessor": "memory_limiter",
    "resourceprocessor": "resource",
    "transformprocessor": "transform",
    "redactionprocessor": "redaction",
    "tailsamplingprocessor": "tail_sampling",
    "otlpexporter": "otlp_grpc",
    "otlphttpexporter": "otlp_http",
    "debugexporter": "debug",
    "prometheusexporter": "prometheus",
    "loadbalancingexporter": "load_balancing",
    "spanmetricsconnector": "span_metrics",
    "healthcheckextension": "health_check",
}


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any OTELCOL_/JAEGER_ override, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTELCOL_", "JAEGER_"))}
    env.update(extra)
    return env


def validate(*configs: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`otelcol-llm validate --config=...` with the given environment overrides."""
    binary = require(otelcol_path(), "collector binary for the current builder manifest")
    args = [str(binary), "validate", *(f"--config={c}" for c in configs)]
    return subprocess.run(
        args, capture_output=True, text=True, timeout=60, env=clean_env(**env), check=False
    )


def used_types(*configs: Path) -> set[str]:
    """Component types (`type` or `type/name`) declared in the given config files."""
    types: set[str] = set()
    for path in configs:
        data: dict[str, Any] = yaml.safe_load(path.read_text())
        for section in ("receivers", "processors", "exporters", "connectors", "extensions"):
            for key in data.get(section) or {}:
                types.add(key.split("/", 1)[0])
    return types


def test_base_config_validates() -> None:
    """The base config (docker-compose defaults) passes `otelcol validate`."""
    result = validate(BASE)
    assert result.returncode == 0, result.stderr


def test_loopback_overlay_validates_with_loopback_addresses() -> None:
    """Base + loopback overlay with the e2e stack's 127.0.0.1 addresses passes validate."""
    result = validate(
        BASE,
        LOOPBACK,
        OTELCOL_OTLP_GRPC_LISTEN="127.0.0.1:4317",
        OTELCOL_OTLP_HTTP_LISTEN="127.0.0.1:4318",
        OTELCOL_JAEGER_OTLP_ENDPOINT="127.0.0.1:14317",
        OTELCOL_ELASTICSEARCH_ENDPOINT="http://127.0.0.1:9200",
        OTELCOL_SELF_METRICS_HOST="127.0.0.1",
        OTELCOL_SELF_METRICS_PORT="8888",
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("env", "mentions"),
    [
        ({"OTELCOL_MEMORY_LIMIT_MIB": "lots"}, ["memory_limiter", "limit_mib"]),
        ({"OTELCOL_SELF_METRICS_PORT": "eighty"}, ["prometheus.port"]),
        ({"OTELCOL_JAEGER_OTLP_ENDPOINT": ""}, ["otlp_grpc/jaeger", "endpoint"]),
        ({"OTELCOL_PROMETHEUS_LISTEN": ""}, ["prometheus", "non-blank address"]),
    ],
    ids=["non-numeric-memory-limit", "non-numeric-port", "empty-jaeger-endpoint", "empty-listen"],
)
def test_bad_env_value_fails_validate_readably(env: dict[str, str], mentions: list[str]) -> None:
    """A set but wrong env value stops validate with a message naming what is wrong."""
    result = validate(BASE, **env)
    assert result.returncode != 0, f"validate accepted {env}"
    for word in mentions:
        assert word in result.stderr, (word, result.stderr[-2000:])
    assert "panic" not in result.stderr


def test_manifest_holds_exactly_the_components_the_configs_use() -> None:
    """builder-config.yaml lists exactly what the shipped configs use (ES overlays aside)."""
    manifest = yaml.safe_load((CONFIG / "builder-config.yaml").read_text())
    modules = [
        entry["gomod"].split()[0].rsplit("/", 1)[-1]
        for section in ("receivers", "processors", "exporters", "connectors", "extensions")
        for entry in manifest[section]
    ]
    built = {MODULE_TYPES[m] for m in modules}
    used = used_types(BASE, LOOPBACK, AGENT, GATEWAY)
    assert used == built, (used - built, built - used)


def test_elasticsearch_overlay_only_adds_the_exporter() -> None:
    """The production overlay defines `elasticsearch` and keeps the base exporters it restates."""
    base: dict[str, Any] = yaml.safe_load(BASE.read_text())
    overlay: dict[str, Any] = yaml.safe_load(ES_OVERLAY.read_text())
    assert set(overlay["exporters"]) == {"elasticsearch"}
    assert (
        "${env:OTELCOL_ELASTICSEARCH_ENDPOINT" in overlay["exporters"]["elasticsearch"]["endpoint"]
    )
    known = set(base["exporters"]) | set(base["connectors"]) | {"elasticsearch"}
    for name, pipeline in overlay["service"]["pipelines"].items():
        assert name in base["service"]["pipelines"]
        assert set(pipeline["exporters"]) <= known, (name, pipeline["exporters"])
    traces = overlay["service"]["pipelines"]["traces"]["exporters"]
    assert set(base["service"]["pipelines"]["traces"]["exporters"]) <= set(traces)


def test_every_endpoint_is_an_env_default() -> None:
    """Every endpoint in the collector configs is `${env:NAME:-default}`: one file, two stacks."""
    for path in (BASE, LOOPBACK, ES_OVERLAY, AGENT, GATEWAY, AGENT_ES_OVERLAY):
        for line in path.read_text().splitlines():
            if re.search(r"^\s*(endpoint|logs_endpoint|host|port|hostnames):", line):
                assert re.search(r"\$\{env:[A-Z_]+:-[^}]+\}", line), f"{path.name}: {line.strip()}"


def test_gateway_config_validates() -> None:
    """gateway.yaml (tail sampling -> Jaeger) passes `otelcol validate` with its defaults."""
    result = validate(GATEWAY)
    assert result.returncode == 0, result.stderr


def test_agent_config_validates_alone_and_with_the_loopback_overlay() -> None:
    """agent.yaml passes validate as shipped and with loopback.yaml and a 127.0.0.1 gateway list."""
    alone = validate(AGENT)
    assert alone.returncode == 0, alone.stderr
    result = validate(
        AGENT,
        LOOPBACK,
        OTELCOL_GATEWAY_ENDPOINTS="[127.0.0.1:24317,127.0.0.1:24417]",
        OTELCOL_ELASTICSEARCH_ENDPOINT="http://127.0.0.1:9200",
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("config", "env", "mentions"),
    [
        (AGENT, {"OTELCOL_GATEWAY_ENDPOINTS": ""}, ["load_balancing", "no endpoints"]),
        (GATEWAY, {"OTELCOL_TAIL_SAMPLE_PERCENT": "ten"}, ["tail_sampling", "sampling_percentage"]),
        (GATEWAY, {"OTELCOL_TAIL_DECISION_WAIT": "soon"}, ["tail_sampling", "decision_wait"]),
        (GATEWAY, {"OTELCOL_TAIL_SLOW_MS": "slow"}, ["tail_sampling", "threshold_ms"]),
    ],
    ids=["empty-gateway-list", "non-numeric-percent", "bad-decision-wait", "bad-latency"],
)
def test_bad_scale_out_env_fails_validate_readably(
    config: Path, env: dict[str, str], mentions: list[str]
) -> None:
    """A wrong gateway list or sampling setting stops validate, naming the setting."""
    result = validate(config, **env)
    assert result.returncode != 0, f"validate accepted {env}"
    for word in mentions:
        assert word in result.stderr, (word, result.stderr[-2000:])


def test_gateway_policies_keep_what_the_sdk_records() -> None:
    """The keep rules use the SDK's own names (semconv), and the baseline comes last."""
    gateway: dict[str, Any] = yaml.safe_load(GATEWAY.read_text())
    policies = {p["name"]: p for p in gateway["processors"]["tail_sampling"]["policies"]}
    assert list(policies) == ["errors", "fallbacks", "budget", "slow", "baseline"]
    assert policies["errors"]["status_code"]["status_codes"] == ["ERROR"]
    fallbacks = policies["fallbacks"]["ottl_condition"]
    assert fallbacks["span"] == [f'span.attributes["{semconv.ROUTE_FALLBACKS}"] > 0']
    assert fallbacks["spanevent"] == [f'spanevent.name == "{semconv.EVENT_FALLBACK}"']
    budget = policies["budget"]["ottl_condition"]
    assert budget["spanevent"] == [f'spanevent.name == "{semconv.EVENT_BUDGET_EXCEEDED}"']
    text = GATEWAY.read_text()
    assert "${env:OTELCOL_TAIL_SAMPLE_PERCENT:-10}" in text
    assert "${env:OTELCOL_TAIL_SLOW_MS:-10000}" in text


def test_agent_keeps_metrics_and_logs_off_the_sampled_path() -> None:
    """Only spans go to the gateways; metrics (incl. span metrics) and logs leave the agent."""
    agent: dict[str, Any] = yaml.safe_load(AGENT.read_text())
    pipelines = agent["service"]["pipelines"]
    balancer = agent["exporters"]["load_balancing"]
    assert balancer["routing_key"] == "traceID"
    assert pipelines["traces"]["exporters"] == ["load_balancing", "span_metrics"]
    assert pipelines["metrics"]["exporters"] == ["prometheus"]
    assert "span_metrics" in pipelines["metrics"]["receivers"]
    assert "load_balancing" not in pipelines["logs"]["exporters"]
    overlay: dict[str, Any] = yaml.safe_load(AGENT_ES_OVERLAY.read_text())
    assert set(overlay["exporters"]) == {"elasticsearch"}
    assert overlay["service"]["pipelines"] == {"logs": {"exporters": ["elasticsearch"]}}
    es: dict[str, Any] = yaml.safe_load(ES_OVERLAY.read_text())
    assert overlay["exporters"]["elasticsearch"] == es["exporters"]["elasticsearch"]


def jaeger_validate(*configs: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`jaeger validate --config ...` with the built Jaeger v2."""
    binary = require(jaeger_path(), "Jaeger v2 binary")
    args = [str(binary), "validate", *(f"--config={c}" for c in configs)]
    return subprocess.run(
        args, capture_output=True, text=True, timeout=60, env=clean_env(**env), check=False
    )


def test_jaeger_config_validates() -> None:
    """jaeger.yaml (memory storage, SPM from Prometheus) passes `jaeger validate`."""
    result = jaeger_validate(CONFIG / "jaeger.yaml")
    assert result.returncode == 0, result.stderr


def test_jaeger_elasticsearch_overlay_validates() -> None:
    """jaeger.yaml + the Elasticsearch storage overlay passes `jaeger validate`."""
    result = jaeger_validate(CONFIG / "jaeger.yaml", CONFIG / "jaeger-elasticsearch.yaml")
    assert result.returncode == 0, result.stderr
