"""Prometheus side of the deployment bundle: config, rules, rule unit tests, dashboard PromQL."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy._binaries import CONFIG, ROOT, prometheus_bin, require

RULE_FILES = sorted((CONFIG / "rules").glob("*.yml"))
RULE_TESTS = sorted((CONFIG / "rules" / "tests").glob("*.yml"))
DASHBOARDS = sorted((CONFIG / "grafana" / "dashboards").glob("*.json"))

# Grafana variables and their stand-ins, so a dashboard expression is plain PromQL.
GRAFANA_VARS = {
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "1h",
    "$service": ".*",
    "$model": ".*",
    "$tokenizer": ".*",
    "$route": ".*",
}


def promtool() -> Path:
    """The promtool binary, or skip/fail per the CI policy."""
    return require(prometheus_bin("promtool"), "promtool")


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run a command with a deadline and captured output."""
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=120, check=False
    )


def dashboard_exprs(path: Path) -> list[tuple[str, str]]:
    """(panel title, PromQL) of every query in a dashboard, Grafana variables substituted."""
    board = json.loads(path.read_text())
    out = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            out.append((panel["title"], substitute(target["expr"])))
    return out


def substitute(expr: str) -> str:
    """Replace Grafana variables by values that keep the expression valid PromQL."""
    for name in sorted(GRAFANA_VARS, key=len, reverse=True):
        expr = expr.replace(name, GRAFANA_VARS[name])
    return expr


def check_exprs(tmp_path: Path, exprs: list[tuple[str, str]]) -> subprocess.CompletedProcess[str]:
    """Parse expressions with promtool by wrapping each in a recording rule."""
    rules = [
        {"record": f"check:expr_{i}", "expr": expr, "labels": {"source": title}}
        for i, (title, expr) in enumerate(exprs)
    ]
    path = tmp_path / "exprs.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "exprs", "rules": rules}]}))
    return run(promtool(), "check", "rules", path)


def test_prometheus_config_is_valid() -> None:
    """promtool accepts prometheus.yml together with the rule files it loads."""
    result = run(promtool(), "check", "config", CONFIG / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=lambda p: p.name)
def test_rule_file_is_valid(rule_file: Path) -> None:
    """promtool check rules passes for every shipped rule file."""
    result = run(promtool(), "check", "rules", rule_file)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("test_file", RULE_TESTS, ids=lambda p: p.name)
def test_rule_unit_tests_pass(test_file: Path) -> None:
    """promtool test rules passes for every unit test file."""
    result = run(promtool(), "test", "rules", test_file)
    assert result.returncode == 0, result.stdout + result.stderr


def alert_cases(rule_file: Path) -> tuple[set[str], set[str], set[str]]:
    """(alerts of `rule_file`, alerts some test expects to fire, alerts some test expects quiet),
    over every test file that loads `rule_file`."""
    rules = yaml.safe_load(rule_file.read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    firing: set[str] = set()
    quiet: set[str] = set()
    for test_file in RULE_TESTS:
        spec = yaml.safe_load(test_file.read_text())
        loaded = {(test_file.parent / f).resolve() for f in spec["rule_files"]}
        if rule_file.resolve() not in loaded:
            continue
        for test in spec["tests"]:
            for case in test.get("alert_rule_test", []):
                (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    return alerts, firing, quiet


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=lambda p: p.name)
def test_every_alert_has_a_firing_and_a_quiet_unit_test(rule_file: Path) -> None:
    """Each alert is exercised by a promtool case where it fires and one where it must not."""
    alerts, firing, quiet = alert_cases(rule_file)
    if not alerts:
        pytest.skip(f"{rule_file.name} has recording rules only")
    assert alerts - firing == set(), "never seen firing"
    assert alerts - quiet == set(), "never seen staying quiet"


def test_slo_threshold_is_the_same_in_every_window() -> None:
    """The time-to-first-chunk SLO reads one bucket bound in all of its window rules."""
    rules = yaml.safe_load((CONFIG / "rules" / "slo.yml").read_text())
    bounds = [
        re.findall(r'le=~"([^"]+)"', r["expr"])
        for g in rules["groups"]
        for r in g["rules"]
        if r.get("labels", {}).get("slo") == "genai-time-to-first-chunk"
        and "record" in r
        and r["record"].startswith("slo:sli_error:")
    ]
    assert len(bounds) == 8
    assert {b for found in bounds for b in found} == {r"1|1\\.0"}


def test_promtool_rejects_a_broken_expression(tmp_path: Path) -> None:
    """The PromQL check itself can fail: a malformed expression is reported."""
    result = check_exprs(tmp_path, [("broken", "sum by (le (rate(x[5m]))")])
    assert result.returncode != 0


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_promql_parses(dashboard: Path, tmp_path: Path) -> None:
    """Every query of every dashboard panel is valid PromQL."""
    exprs = dashboard_exprs(dashboard)
    assert exprs, f"{dashboard.name} has no queries"
    result = check_exprs(tmp_path, exprs)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboards_match_their_generator() -> None:
    """The committed dashboard JSON is what scripts/stack/grafana_dashboards.py writes."""
    spec = importlib.util.spec_from_file_location(
        "grafana_dashboards", ROOT / "scripts" / "stack" / "grafana_dashboards.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rendered: dict[str, str] = module.render()
    assert sorted(rendered) == sorted(p.name for p in DASHBOARDS)
    for name, text in rendered.items():
        assert (CONFIG / "grafana" / "dashboards" / name).read_text() == text, name


def test_grafana_provisioning_points_at_the_compose_services() -> None:
    """Data sources use the compose service names and the uids the dashboards reference."""
    ds = yaml.safe_load(
        (CONFIG / "grafana" / "provisioning" / "datasources" / "datasources.yaml").read_text()
    )
    by_uid: dict[str, Any] = {d["uid"]: d for d in ds["datasources"]}
    assert by_uid["prometheus"]["url"] == "http://prometheus:9090"
    assert by_uid["jaeger"]["url"] == "http://jaeger:16686"
    assert by_uid["elasticsearch"]["url"] == "http://elasticsearch:9200"
    uids = {
        t["datasource"]["uid"]
        for p in DASHBOARDS
        for panel in json.loads(p.read_text())["panels"]
        for t in panel["targets"]
    }
    assert uids <= set(by_uid)


def test_dashboard_variables_are_all_substituted() -> None:
    """No Grafana variable is left unknown to the PromQL check (a new one must be added)."""
    for dashboard in DASHBOARDS:
        for _, expr in dashboard_exprs(dashboard):
            assert not re.search(r"\$\w+", expr), (dashboard.name, expr)


def test_slo_objective_is_one_knob(tmp_path: Path) -> None:
    """Changing the genai-success objective alone (99.9% -> 95%) retunes its budget, remaining
    budget and burn alerts: 2% errors, a page at 99.9%, is 40% of the 95% budget and quiet."""
    shipped = (CONFIG / "rules" / "slo.yml").read_text()
    assert shipped.count("expr: vector(0.999)") == 1
    (tmp_path / "slo.yml").write_text(shipped.replace("expr: vector(0.999)", "expr: vector(0.95)"))
    series = "gen_ai_client_operation_duration_seconds_count"
    spec = {
        "rule_files": ["slo.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": f'{series}{{gen_ai_request_model="m"}}', "values": "0+98x120"},
                    {
                        "series": f'{series}{{gen_ai_request_model="m",error_type="timeout"}}',
                        "values": "0+2x120",
                    },
                ],
                "promql_expr_test": [
                    {
                        "expr": "round(slo:error_budget_remaining:ratio, 0.001)",
                        "eval_time": "2h",
                        "exp_samples": [{"labels": '{slo="genai-success"}', "value": 0.6}],
                    }
                ],
                "alert_rule_test": [
                    {"alertname": "SLOErrorBudgetBurnFast", "eval_time": "50m", "exp_alerts": []}
                ],
            }
        ],
    }
    test_file = tmp_path / "objective_test.yml"
    test_file.write_text(yaml.safe_dump(spec))
    result = run(promtool(), "test", "rules", test_file)
    assert result.returncode == 0, result.stdout + result.stderr
