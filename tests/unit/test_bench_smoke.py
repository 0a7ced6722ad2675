"""The benchmark still runs: a tiny-size run in a subprocess (no timings are asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_benchmark_runs_at_tiny_size(tmp_path: Path) -> None:
    """run.py --size tiny writes a JSON and Markdown report with every section filled."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    proc = subprocess.run(
        [
            sys.executable,
            "run.py",
            "--size=tiny",
            "--variants=none,otel-llm",
            f"--out={tmp_path}",
        ],
        cwd=ROOT / "benchmarks",
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((tmp_path / "latest.json").read_text())
    ours = report["peers"]["otel-llm"]
    assert ours["available"] is True
    assert set(ours) >= {"chat_sync", "chat_async", "stream_sync", "stream_async"}
    # the instrumented variant really recorded a generation span and the stream metrics
    assert ours["recorded"]["chat"]["spans"][0]["name"] == "chat gpt-4o-mini"
    assert "gen_ai.client.operation.time_per_output_chunk" in ours["recorded"]["metrics"]
    assert report["peers"]["none"]["recorded"]["metrics"] == []
    assert set(report["micro"]) == {"enabled", "disabled"}
    assert "chunk_us" in report["micro"]["enabled"]["derived"]
    assert report["memory"]["spans_exported"] > 0
    assert "| otel-llm |" in (tmp_path / "latest.md").read_text()
