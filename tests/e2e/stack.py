"""The loopback observability stack: collector, Jaeger, Prometheus and Elasticsearch on 127.0.0.1.

Runs the binaries cached by scripts/stack/build.sh with the repository's own config files
(collector-config/), in the order the collector needs: Elasticsearch and Prometheus, then
Jaeger, then the collector (a collector started before Jaeger sits in gRPC reconnect backoff
and delivers traces a minute or two late). Every wait has a deadline; a failure names what
was awaited and shows the tail of that process's log. Processes are stopped by the PIDs
this module started, never by name.

Used by the pytest fixtures in tests/e2e/conftest.py (free ports, a temporary run folder)
and by scripts/stack/start.sh / stop.sh (standard ports, for looking at the stack by hand):

    python -m tests.e2e.stack up [--run-dir DIR] [--no-es]
    python -m tests.e2e.stack down [--run-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.deploy._binaries import (
    ALERTMANAGER_TEMPLATE,
    CONFIG,
    ROOT,
    alertmanager_bin,
    es_classpath_file,
    jaeger_path,
    otelcol_path,
    prometheus_bin,
)

STANDARD_PORTS = {
    "otlp_grpc": 4317,
    "otlp_http": 4318,
    "collector_health": 13133,
    "collector_metrics": 8888,
    "collector_prometheus": 8889,
    "jaeger_otlp_grpc": 14317,
    "jaeger_otlp_http": 14318,
    "jaeger_query": 16686,
    "jaeger_query_grpc": 16685,
    "jaeger_health": 13134,
    "jaeger_health_grpc": 13132,
    "prometheus": 9090,
    "alertmanager": 9093,
    "alert_receiver": 9095,
    "es_http": 9200,
}
ES_LOGS_INDEX = "otel-logs"


def gateway_ports(count: int) -> list[str]:
    """Port names of `count` tail-sampling gateways: gateway<i>_{otlp_grpc,health,metrics}."""
    return [
        f"gateway{i}_{port}"
        for i in range(1, count + 1)
        for port in ("otlp_grpc", "health", "metrics")
    ]


class StackError(RuntimeError):
    """A stack process failed to start, died, or missed a deadline."""


def free_ports(names: list[str]) -> dict[str, int]:
    """Distinct free TCP ports on 127.0.0.1 (held open together so none repeats).

    Elasticsearch's HTTP port comes from 9200-9299: the cluster runner refuses ports above
    its maximum (9299) and otherwise scans upwards from the base port it is given.
    """
    sockets = []
    try:
        ports = {}
        for name in names:
            s = socket.socket()
            if name == "es_http":
                for candidate in range(9200, 9300):
                    try:
                        s.bind(("127.0.0.1", candidate))
                        break
                    except OSError:
                        continue
                else:
                    raise StackError("no free port in 9200-9299 for Elasticsearch")
            else:
                s.bind(("127.0.0.1", 0))
            sockets.append(s)
            ports[name] = s.getsockname()[1]
        return ports
    finally:
        for s in sockets:
            s.close()


def http(
    method: str, url: str, body: Any = None, timeout: float = 5.0
) -> tuple[int, dict[str, Any] | list[Any] | str]:
    """A small JSON-over-HTTP call (stdlib only): returns (status, decoded body)."""
    data = None
    headers = {"Accept": "application/json"}
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read().decode(errors="replace")
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw


def get_json(url: str, timeout: float = 5.0) -> Any:
    """GET a JSON document; raises StackError on a non-2xx answer."""
    status, body = http("GET", url, timeout=timeout)
    if not 200 <= status < 300:
        raise StackError(f"GET {url} -> {status}: {str(body)[:500]}")
    return body


@dataclass
class Process:
    """One started process: its PID, command and log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    argv: list[str]
    env: dict[str, str]

    def tail(self, lines: int = 40) -> str:
        """The last lines of the process's log, for failure messages."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def alive(self) -> bool:
        """True while the process runs."""
        return self.popen.poll() is None


@dataclass
class Stack:
    """Handles and addresses of the running stack."""

    run_dir: Path
    ports: dict[str, int]
    with_es: bool = True
    ledger: Path | None = None
    """Folder recording every running PID (see reap_leftovers); None for a hand-started stack."""
    gateways: int = 0
    """0: one collector (otel-collector.yaml). N: N gateways (gateway.yaml) behind one agent
    (agent.yaml) that takes the collector's ports; needs gateway_ports(N) in `ports`."""
    gateway_env: dict[str, str] = field(default_factory=dict)
    """Extra OTELCOL_* settings of every gateway (sampling percentage, decision wait, ...)."""
    alerting: bool = False
    """Also run Alertmanager (alertmanager.yml, short waits) and the webhook receiver
    (scripts/stack/alert_receiver.py, writing run_dir/alerts.jsonl); Prometheus sends to it."""
    extra_rule_files: list[Path] = field(default_factory=list)
    """Rule files Prometheus loads besides collector-config/rules/*.yml."""
    processes: dict[str, Process] = field(default_factory=dict)

    # --- addresses -------------------------------------------------------------------------------
    def url(self, port: str) -> str:
        """http://127.0.0.1:<port of `port`>."""
        return f"http://127.0.0.1:{self.ports[port]}"

    @property
    def otlp_http(self) -> str:
        """The collector's OTLP/HTTP endpoint (what OTEL_EXPORTER_OTLP_ENDPOINT points at)."""
        return self.url("otlp_http")

    @property
    def jaeger(self) -> str:
        """Jaeger's query API."""
        return self.url("jaeger_query")

    @property
    def prometheus(self) -> str:
        """Prometheus's HTTP API."""
        return self.url("prometheus")

    @property
    def elasticsearch(self) -> str:
        """Elasticsearch's HTTP API."""
        return self.url("es_http")

    @property
    def alerts_file(self) -> Path:
        """Where the webhook receiver appends one JSON line per alert it is sent."""
        return self.run_dir / "alerts.jsonl"

    # --- processes -------------------------------------------------------------------------------
    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Process:
        """Start a process in its own session, output to run_dir/logs/<name>.log."""
        logs = self.run_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log = logs / f"{name}.log"
        full_env = {**os.environ, **(env or {})}
        with log.open("ab") as out:
            popen = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=full_env,
                start_new_session=True,
            )
        process = Process(name, popen, log, argv, env or {})
        self.processes[name] = process
        pids = self.run_dir / "pids"
        pids.mkdir(parents=True, exist_ok=True)
        (pids / f"{name}.pid").write_text(str(popen.pid))
        if self.ledger is not None:
            self.ledger.mkdir(parents=True, exist_ok=True)
            (self.ledger / str(popen.pid)).write_text(argv[0])
        return process

    def stop(self, name: str, timeout: float = 20.0) -> None:
        """Stop one process: SIGTERM, wait up to `timeout`, then SIGKILL."""
        process = self.processes.pop(name, None)
        if process is None:
            return
        stop_pid(process.popen.pid, timeout, process.popen)
        (self.run_dir / "pids" / f"{name}.pid").unlink(missing_ok=True)
        if self.ledger is not None:
            (self.ledger / str(process.popen.pid)).unlink(missing_ok=True)

    def stop_all(self) -> None:
        """Stop everything, newest first."""
        for name in reversed(list(self.processes)):
            self.stop(name)

    def wait_until(
        self, what: str, check: Callable[[], bool], deadline_s: float, process: str | None = None
    ) -> None:
        """Poll `check` until true; on timeout or process death raise with its log tail."""
        end = time.monotonic() + deadline_s
        last_error = ""
        while True:
            try:
                if check():
                    return
            except (OSError, StackError, ValueError, KeyError) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            proc = self.processes.get(process) if process else None
            if proc is not None and not proc.alive():
                raise StackError(
                    f"{process} exited (code {proc.popen.returncode}) while waiting for {what}\n"
                    f"--- last lines of {proc.log} ---\n{proc.tail()}"
                )
            if time.monotonic() >= end:
                tail = f"\n--- last lines of {proc.log} ---\n{proc.tail()}" if proc else ""
                raise StackError(
                    f"timed out after {deadline_s:.0f}s waiting for {what}"
                    f"{' (last error: ' + last_error + ')' if last_error else ''}{tail}"
                )
            time.sleep(0.5)

    # --- the components --------------------------------------------------------------------------
    def start_elasticsearch(self, deadline_s: float = 180) -> None:
        """Elasticsearch 7.10.2 (codelibs cluster runner) on es_http, one node, no replicas.

        The runner has no transport-port option; Elasticsearch takes the first free port of
        9300-9400 for node-to-node traffic, which a single node never uses from outside.
        """
        # A cluster name of our own: Elasticsearch discovers nodes on 127.0.0.1:9300-9305 and
        # would try to form one cluster with any other local node of the same name.
        cp = es_classpath_file().read_text().strip()
        java = shutil.which("java") or "java"
        data = self.run_dir / "es"
        shutil.rmtree(data, ignore_errors=True)
        self.start(
            "elasticsearch",
            [
                java, "-Xms512m", "-Xmx1g", "-cp", cp,
                "org.codelibs.elasticsearch.runner.ElasticsearchClusterRunner",
                "-basePath", str(data), "-numOfNode", "1",
                "-clusterName", f"otel-llm-e2e-{os.getpid()}",
                "-baseHttpPort", str(self.ports["es_http"] - 1),  # node 1 listens on base + 1
            ],
        )  # fmt: skip
        health = f"{self.elasticsearch}/_cluster/health?wait_for_status=yellow&timeout=2s"

        def ready() -> bool:
            status, body = http("GET", health)
            return status == 200 and isinstance(body, dict) and body["status"] != "red"

        self.wait_until(f"Elasticsearch at {health}", ready, deadline_s, "elasticsearch")
        # One shard, no replica: the index is green at once on a single node.
        http(
            "PUT",
            f"{self.elasticsearch}/{ES_LOGS_INDEX}",
            {"settings": {"number_of_shards": 1, "number_of_replicas": 0}},
        )

    def prometheus_config(self) -> Path:
        """prometheus.yml with the loopback targets, fast intervals and absolute rule paths."""
        import yaml

        config: dict[str, Any] = yaml.safe_load((CONFIG / "prometheus.yml").read_text())
        config["global"]["scrape_interval"] = "1s"
        config["global"]["evaluation_interval"] = "2s"
        config["rule_files"] = [str(CONFIG / "rules" / "*.yml"), *map(str, self.extra_rule_files)]
        if self.alerting:
            for am in config["alerting"]["alertmanagers"]:
                for static in am["static_configs"]:
                    static["targets"] = [f"127.0.0.1:{self.ports['alertmanager']}"]
        else:
            del config["alerting"]
        targets = {
            "otel-collector:8889": f"127.0.0.1:{self.ports['collector_prometheus']}",
            "otel-collector:8888": f"127.0.0.1:{self.ports['collector_metrics']}",
        }
        for job in config["scrape_configs"]:
            for static in job["static_configs"]:
                static["targets"] = [targets[t] for t in static["targets"]]
        path = self.run_dir / "prometheus.yml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def start_prometheus(self, deadline_s: float = 60) -> None:
        """Prometheus (Debian build) scraping the collector, with the repository's rules."""
        binary = prometheus_bin("prometheus")
        if binary is None:
            raise StackError("prometheus binary not found; run scripts/stack/build.sh")
        data = self.run_dir / "prom-data"
        shutil.rmtree(data, ignore_errors=True)
        self.start(
            "prometheus",
            [
                str(binary),
                f"--config.file={self.prometheus_config()}",
                f"--storage.tsdb.path={data}",
                f"--web.listen-address=127.0.0.1:{self.ports['prometheus']}",
                "--enable-feature=exemplar-storage",
                # Alerts fired before Alertmanager is discovered are dropped; resend soon.
                *(["--rules.alert.resend-delay=2s"] if self.alerting else []),
            ],
        )
        self.wait_until(
            f"Prometheus at {self.prometheus}/-/ready",
            lambda: http("GET", f"{self.prometheus}/-/ready")[0] == 200,
            deadline_s,
            "prometheus",
        )

    def alertmanager_config(self) -> Path:
        """alertmanager.yml with the webhook at the local receiver and waits of a second."""
        import yaml

        config: dict[str, Any] = yaml.safe_load((CONFIG / "alertmanager.yml").read_text())
        for route in [config["route"], *config["route"].get("routes", [])]:
            route["group_wait"] = route["group_interval"] = "1s"
        for receiver in config["receivers"]:
            for hook in receiver.get("webhook_configs", []):
                hook["url"] = f"{self.url('alert_receiver')}/alerts"
        path = self.run_dir / "alertmanager.yml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def start_alerting(self, deadline_s: float = 30) -> None:
        """The webhook receiver, then Alertmanager (clustering off: no shared gossip port)."""
        binary = alertmanager_bin("prometheus-alertmanager")
        if binary is None:
            raise StackError("prometheus-alertmanager not found; run scripts/stack/build.sh")
        self.start(
            "alert-receiver",
            [
                sys.executable, str(ROOT / "scripts" / "stack" / "alert_receiver.py"),
                "--port", str(self.ports["alert_receiver"]), "--out", str(self.alerts_file),
            ],
        )  # fmt: skip
        self.wait_until(
            "the alert receiver",
            lambda: http("GET", f"{self.url('alert_receiver')}/")[0] == 200,
            deadline_s,
            "alert-receiver",
        )
        data = self.run_dir / "am-data"
        shutil.rmtree(data, ignore_errors=True)
        self.start(
            "alertmanager",
            [
                str(binary),
                f"--config.file={self.alertmanager_config()}",
                f"--storage.path={data}",
                f"--web.listen-address=127.0.0.1:{self.ports['alertmanager']}",
                "--cluster.listen-address=",
            ],
        )
        self.wait_until(
            f"Alertmanager at {self.url('alertmanager')}/-/ready",
            lambda: http("GET", f"{self.url('alertmanager')}/-/ready")[0] == 200,
            deadline_s,
            "alertmanager",
        )

    def jaeger_env(self) -> dict[str, str]:
        """JAEGER_* overrides of collector-config/jaeger.yaml for 127.0.0.1."""
        p = self.ports
        return {
            "JAEGER_OTLP_GRPC_LISTEN": f"127.0.0.1:{p['jaeger_otlp_grpc']}",
            "JAEGER_OTLP_HTTP_LISTEN": f"127.0.0.1:{p['jaeger_otlp_http']}",
            "JAEGER_QUERY_HTTP_LISTEN": f"127.0.0.1:{p['jaeger_query']}",
            "JAEGER_QUERY_GRPC_LISTEN": f"127.0.0.1:{p['jaeger_query_grpc']}",
            "JAEGER_HEALTH_LISTEN": f"127.0.0.1:{p['jaeger_health']}",
            "JAEGER_HEALTH_GRPC_LISTEN": f"127.0.0.1:{p['jaeger_health_grpc']}",
            "JAEGER_PROMETHEUS_URL": self.prometheus,
            # Jaeger traces its own API over OTLP to localhost:4317 (in a container: itself).
            # Here that port is not Jaeger's; send them to Jaeger's own receiver instead of
            # failing for 10 s at every shutdown. They show as service "jaeger".
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://127.0.0.1:{p['jaeger_otlp_grpc']}",
            "OTEL_EXPORTER_OTLP_TRACES_INSECURE": "true",
        }

    def start_jaeger(self, deadline_s: float = 60) -> None:
        """Jaeger v2 with collector-config/jaeger.yaml (memory storage, SPM from Prometheus)."""
        self.start(
            "jaeger",
            [str(jaeger_path()), f"--config={CONFIG / 'jaeger.yaml'}"],
            self.jaeger_env(),
        )
        status_url = f"{self.url('jaeger_health')}/status"

        def ready() -> bool:
            status, body = http("GET", status_url)
            return status == 200 and "StatusOK" in json.dumps(body)

        self.wait_until(f"Jaeger health at {status_url}", ready, deadline_s, "jaeger")

    def collector_env(self) -> dict[str, str]:
        """OTELCOL_* overrides of the collector configs for 127.0.0.1."""
        p = self.ports
        return {
            "OTELCOL_OTLP_GRPC_LISTEN": f"127.0.0.1:{p['otlp_grpc']}",
            "OTELCOL_OTLP_HTTP_LISTEN": f"127.0.0.1:{p['otlp_http']}",
            "OTELCOL_HEALTH_LISTEN": f"127.0.0.1:{p['collector_health']}",
            "OTELCOL_PROMETHEUS_LISTEN": f"127.0.0.1:{p['collector_prometheus']}",
            "OTELCOL_SELF_METRICS_HOST": "127.0.0.1",
            "OTELCOL_SELF_METRICS_PORT": str(p["collector_metrics"]),
            "OTELCOL_JAEGER_OTLP_ENDPOINT": f"127.0.0.1:{p['jaeger_otlp_grpc']}",
            "OTELCOL_ELASTICSEARCH_ENDPOINT": self.elasticsearch,
            "OTELCOL_ES_LOGS_INDEX": ES_LOGS_INDEX,
            "OTELCOL_DEPLOYMENT_ENVIRONMENT": "e2e",
            # Tests read series minutes after the workload that made them has exited.
            "OTELCOL_METRIC_EXPIRATION": "10m",
        }

    def start_collector(self, deadline_s: float = 60) -> None:
        """otelcol-llm with otel-collector.yaml (+ loopback.yaml when Elasticsearch runs).

        With `gateways`, the gateways (gateway.yaml) start first, then the agent (agent.yaml)
        in the collector's place: it owns the collector's ports, so applications and
        Prometheus reach it where they reach the single collector.
        """
        if self.gateways:
            self.start_gateways(deadline_s)
        main = CONFIG / ("agent.yaml" if self.gateways else "otel-collector.yaml")
        configs = [main, *([CONFIG / "loopback.yaml"] if self.with_es else [])]
        env = self.collector_env()
        if self.gateways:
            endpoints = [
                f"127.0.0.1:{self.ports[f'gateway{i}_otlp_grpc']}"
                for i in range(1, self.gateways + 1)
            ]
            env["OTELCOL_GATEWAY_ENDPOINTS"] = "[" + ",".join(endpoints) + "]"
        self.start_otelcol("otelcol", configs, env, "collector_health", deadline_s)

    def start_gateways(self, deadline_s: float = 60) -> None:
        """`gateways` collectors with gateway.yaml, each exporting kept traces to Jaeger."""
        for i in range(1, self.gateways + 1):
            env = {
                "OTELCOL_OTLP_GRPC_LISTEN": f"127.0.0.1:{self.ports[f'gateway{i}_otlp_grpc']}",
                "OTELCOL_HEALTH_LISTEN": f"127.0.0.1:{self.ports[f'gateway{i}_health']}",
                "OTELCOL_SELF_METRICS_HOST": "127.0.0.1",
                "OTELCOL_SELF_METRICS_PORT": str(self.ports[f"gateway{i}_metrics"]),
                "OTELCOL_JAEGER_OTLP_ENDPOINT": f"127.0.0.1:{self.ports['jaeger_otlp_grpc']}",
                **self.gateway_env,
            }
            configs = [CONFIG / "gateway.yaml"]
            self.start_otelcol(f"gateway{i}", configs, env, f"gateway{i}_health", deadline_s)

    def start_otelcol(
        self, name: str, configs: list[Path], env: dict[str, str], health: str, deadline_s: float
    ) -> None:
        """One otelcol-llm process with `configs`; returns once its health check answers."""
        self.start(name, [str(otelcol_path()), *(f"--config={c}" for c in configs)], env)
        url = f"{self.url(health)}/"

        def ready() -> bool:
            status, body = http("GET", url)
            return status == 200 and "Server available" in json.dumps(body)

        self.wait_until(f"{name} health at {url}", ready, deadline_s, name)

    def start_all(self) -> None:
        """Start every component in dependency order; on failure stop what was started."""
        try:
            if self.with_es:
                self.start_elasticsearch()
            if self.alerting:
                self.start_alerting()
            self.start_prometheus()
            self.start_jaeger()
            self.start_collector()
        except BaseException:
            self.stop_all()
            raise


def running(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (exited, waiting for its parent)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def stop_pid(pid: int, timeout: float, popen: subprocess.Popen[bytes] | None = None) -> None:
    """SIGTERM one PID, wait up to `timeout` seconds, then SIGKILL it."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if popen is not None:
            if popen.poll() is not None:
                return
        elif not running(pid):
            return
        time.sleep(0.2)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    if popen is not None:
        popen.wait(timeout=10)


def _runs(pid: int, executable: str, settle_s: float = 2.0) -> bool:
    """True while `pid` runs `executable`. A just-forked child can show an empty cmdline
    or its parent's until it has exec'd, so a mismatch is re-read for a moment."""
    deadline = time.monotonic() + settle_s
    while True:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
        except OSError:
            return False
        if command == executable:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def reap_leftovers(ledger: Path) -> list[int]:
    """Stop processes a previous test run started but could not stop (it was killed).

    Only PIDs recorded in `ledger` by Stack.start, and only while that PID still runs the
    executable recorded for it (a reused PID belongs to someone else and is left alone).
    """
    reaped = []
    for entry in sorted(ledger.glob("*")) if ledger.is_dir() else []:
        if entry.is_dir():
            continue
        pid, executable = int(entry.name), entry.read_text()
        if _runs(pid, executable):
            stop_pid(pid, 20)
            reaped.append(pid)
        entry.unlink(missing_ok=True)
    return reaped


def reap_dead_runs(root: Path) -> list[int]:
    """Reap the ledgers under `root` (one per pytest process, named by its PID) whose pytest
    process is gone; ledgers of test runs still going (another checkout's) are left alone."""
    reaped = reap_leftovers(root)  # entries of the older flat layout
    for run in sorted(root.glob("*")) if root.is_dir() else []:
        if run.is_dir() and not _alive(int(run.name)):
            reaped += reap_leftovers(run)
            shutil.rmtree(run, ignore_errors=True)
    return reaped


def _alive(pid: int) -> bool:
    """True while a process with this PID exists."""
    return Path(f"/proc/{pid}").exists()


def missing_parts(with_es: bool, alerting: bool = False) -> list[str]:
    """What build.sh has not produced yet (empty when the stack can start)."""
    missing = []
    if alerting and alertmanager_bin("prometheus-alertmanager") is None:
        missing.append("Alertmanager")
    elif alerting and not ALERTMANAGER_TEMPLATE.exists():
        missing.append(f"Alertmanager's template {ALERTMANAGER_TEMPLATE}")
    if not otelcol_path().exists():
        missing.append(f"collector ({otelcol_path()})")
    if not jaeger_path().exists():
        missing.append(f"Jaeger ({jaeger_path()})")
    if prometheus_bin("prometheus") is None:
        missing.append("Prometheus")
    if with_es and (not es_classpath_file().exists() or shutil.which("java") is None):
        missing.append("Elasticsearch runner classpath or java")
    return missing


@contextmanager
def running_stack(
    run_dir: Path, *, standard_ports: bool = False, with_es: bool = True
) -> Iterator[Stack]:
    """Start the stack, yield it, and stop every process it started (also on failure)."""
    names = list(STANDARD_PORTS)
    ports = dict(STANDARD_PORTS) if standard_ports else free_ports(names)
    stack = Stack(run_dir=run_dir, ports=ports, with_es=with_es)
    stack.start_all()
    try:
        yield stack
    finally:
        stack.stop_all()


def _cli() -> int:
    """`up` starts the stack on the standard ports and leaves it running; `down` stops it."""
    parser = argparse.ArgumentParser(prog="python -m tests.e2e.stack")
    parser.add_argument("action", choices=["up", "down"])
    default_run = Path(os.environ.get("TMPDIR", "/tmp")) / "otel-llm-stack-run"
    parser.add_argument("--run-dir", type=Path, default=default_run)
    parser.add_argument("--no-es", action="store_true", help="without Elasticsearch")
    args = parser.parse_args()
    run_dir: Path = args.run_dir
    if args.action == "down":
        for pid_file in sorted((run_dir / "pids").glob("*.pid"), reverse=True):
            print(f"stopping {pid_file.stem} (pid {pid_file.read_text().strip()})")
            stop_pid(int(pid_file.read_text()), 20)
            pid_file.unlink()
        return 0
    missing = missing_parts(not args.no_es)
    if missing:
        print("missing: " + ", ".join(missing) + "; run scripts/stack/build.sh", file=sys.stderr)
        return 2
    if list((run_dir / "pids").glob("*.pid")):
        print(f"a stack already runs from {run_dir} (stop it with `down`)", file=sys.stderr)
        return 3
    run_dir.mkdir(parents=True, exist_ok=True)
    stack = Stack(
        run_dir=run_dir,
        ports=dict(STANDARD_PORTS),
        with_es=not args.no_es,
        alerting=alertmanager_bin("prometheus-alertmanager") is not None
        and ALERTMANAGER_TEMPLATE.exists(),
    )
    try:
        stack.start_all()
    except StackError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(
        f"stack up (logs in {run_dir / 'logs'}):\n"
        f"  OTLP        grpc 127.0.0.1:4317  http {stack.otlp_http}\n"
        f"  Jaeger      {stack.jaeger}\n"
        f"  Prometheus  {stack.prometheus}\n"
        + (
            f"  Alertmanager {stack.url('alertmanager')}, alerts in {stack.alerts_file}\n"
            if stack.alerting
            else ""
        )
        + (
            f"  Elasticsearch {stack.elasticsearch} (index {ES_LOGS_INDEX})\n"
            if stack.with_es
            else ""
        )
        + f"send the demo: otel-llm demo --otlp {stack.otlp_http}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(_cli())
