"""Alertmanager side of the deployment bundle: its config, routes and inhibitions, the
`alerting:` block of prometheus.yml, and the webhook receiver script."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy._binaries import CONFIG, ROOT, alertmanager_bin, require

AM_CONFIG = CONFIG / "alertmanager.yml"
RECEIVER = ROOT / "scripts" / "stack" / "alert_receiver.py"
SEVERITIES = {"page", "critical", "warning", "ticket", "info"}


def amtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run amtool (Debian's prometheus-alertmanager package) with a deadline."""
    binary = require(alertmanager_bin("amtool"), "amtool")
    return subprocess.run(
        [str(binary), *(str(a) for a in args)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def shipped_alerts() -> dict[str, dict[str, Any]]:
    """Every alert rule of collector-config/rules/*.yml by name."""
    alerts = {}
    for path in sorted((CONFIG / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    alerts[rule["alert"]] = rule
    return alerts


def test_amtool_check_config_passes() -> None:
    """amtool accepts alertmanager.yml."""
    result = amtool("check-config", AM_CONFIG)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_amtool_rejects_a_broken_config(tmp_path: Path) -> None:
    """The check can fail: a route naming an undefined receiver is an error."""
    broken = tmp_path / "alertmanager.yml"
    broken.write_text(
        "route:\n  receiver: nowhere\nreceivers:\n  - name: webhook\n"
        "    webhook_configs: [{url: 'http://127.0.0.1:1/'}]\n"
    )
    result = amtool("check-config", broken)
    assert result.returncode != 0
    assert "nowhere" in result.stdout + result.stderr


@pytest.mark.parametrize("severity", sorted(SEVERITIES))
def test_every_severity_routes_to_a_defined_receiver(severity: str) -> None:
    """`amtool config routes test` sends each severity the rules use to a receiver of the file."""
    receivers = {r["name"] for r in yaml.safe_load(AM_CONFIG.read_text())["receivers"]}
    result = amtool(
        "config", "routes", "test", f"--config.file={AM_CONFIG}", f"severity={severity}"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() in receivers


def test_rules_use_only_routed_severities() -> None:
    """Every shipped alert has a severity label Alertmanager's routes know."""
    for name, rule in shipped_alerts().items():
        assert rule.get("labels", {}).get("severity") in SEVERITIES, name


def test_inhibitions_name_shipped_alerts() -> None:
    """Each inhibit rule matches alerts that exist (a renamed alert must not go unnoticed)."""
    alerts = set(shipped_alerts())
    inhibit = yaml.safe_load(AM_CONFIG.read_text())["inhibit_rules"]
    assert inhibit
    for rule in inhibit:
        for side in ("source_matchers", "target_matchers"):
            for matcher in rule[side]:
                label, _, value = matcher.partition("=")
                assert label.rstrip("~") == "alertname", matcher
                names = value.lstrip("~").strip('"').split("|")
                assert set(names) <= alerts, (matcher, set(names) - alerts)


def test_prometheus_sends_alerts_to_the_compose_alertmanager() -> None:
    """prometheus.yml's alerting block points at the compose service."""
    config = yaml.safe_load((CONFIG / "prometheus.yml").read_text())
    targets = [
        t
        for am in config["alerting"]["alertmanagers"]
        for static in am["static_configs"]
        for t in static["targets"]
    ]
    assert targets == ["alertmanager:9093"]


def test_webhook_receiver_prints_each_alert(tmp_path: Path) -> None:
    """The receiver script, run for real, answers health checks, turns a webhook payload into one
    line per alert, and refuses a body that is not a payload."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "alerts.jsonl"
    proc = subprocess.Popen(
        [sys.executable, str(RECEIVER), "--port", str(port), "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(base + "/", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, proc.stderr
                time.sleep(0.1)
        payload = {
            "version": "4",
            "status": "firing",
            "receiver": "webhook",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "SLOErrorBudgetBurnFast", "severity": "page"},
                    "annotations": {"summary": "burning"},
                    "startsAt": "2026-01-01T00:00:00Z",
                },
                {"status": "resolved", "labels": {"alertname": "GenAITrafficDrop"}},
            ],
        }
        post = urllib.request.Request(
            base + "/alerts", data=json.dumps(payload).encode(), method="POST"
        )
        with urllib.request.urlopen(post, timeout=5) as r:
            assert r.status == 200
        bad = urllib.request.Request(base + "/alerts", data=b'{"no": "alerts"}', method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(bad, timeout=5)
        assert refused.value.code == 400
        refused.value.close()
        lines = [json.loads(line) for line in out.read_text().splitlines()]
        assert [(a["status"], a["alertname"]) for a in lines] == [
            ("firing", "SLOErrorBudgetBurnFast"),
            ("resolved", "GenAITrafficDrop"),
        ]
        assert lines[0]["severity"] == "page" and lines[0]["summary"] == "burning"
    finally:
        proc.terminate()
        stdout, _ = proc.communicate(timeout=10)
    assert stdout.count("\n") == 2
