"""The documentation stays true: runnable blocks run, every telemetry name is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from otel_llm import semconv
from tests.helpers import run_python

DOCS = Path(__file__).resolve().parents[2] / "docs"
RUNNABLE = re.compile(r"<!-- runnable -->\s*```python\n(.*?)```", re.DOTALL)
QUIET = {"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none",
         "OTEL_LOGS_EXPORTER": "none"}  # fmt: skip


def _blocks() -> list[tuple[str, str]]:
    found = []
    for page in sorted(DOCS.rglob("*.md")):
        for i, match in enumerate(RUNNABLE.finditer(page.read_text())):
            found.append((f"{page.relative_to(DOCS)}#{i + 1}", match.group(1)))
    return found


@pytest.mark.parametrize(("where", "code"), _blocks(), ids=[w for w, _ in _blocks()])
def test_runnable_block_runs(where: str, code: str) -> None:
    """Each code block marked runnable in docs/ runs without error."""
    proc = run_python("import otel_llm\notel_llm.configure()\n" + code, env=QUIET)
    assert proc.returncode == 0, f"{where} failed:\n{proc.stderr}"


def test_every_semconv_name_is_documented() -> None:
    """Every span, attribute and metric name in otel_llm.semconv appears in telemetry.md."""
    reference = (DOCS / "telemetry.md").read_text()
    names = {
        value
        for key, value in vars(semconv).items()
        if key.isupper()
        and isinstance(value, str)
        and (key.startswith(("METRIC_", "GEN_AI_", "ENV_")) or "." in value)
    }
    missing = sorted(name for name in names if f"`{name}`" not in reference)
    assert not missing, f"add these to docs/telemetry.md: {missing}"
