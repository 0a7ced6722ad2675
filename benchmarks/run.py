"""Run every benchmark, each variant in its own process, and write the JSON and Markdown.

``python benchmarks/run.py`` (what ``make bench`` runs, in ``benchmarks/.venv``) does, in
one run:

1. ``--rounds`` rounds; in each, every openai variant (``openai_worker.py``) and both
   micro-benchmark modes (``micro.py`` with the SDK on and with ``OTEL_SDK_DISABLED=true``)
   run once, each in a fresh process, in an order rotated by one every round so that slow
   spells of a shared machine spread over all variants;
2. the memory check (``memory.py``);
3. optionally (``--callgrind``) deterministic instruction counts of the micro ops and of
   one chat call and one stream per variant.

Results: ``benchmarks/results/latest.json`` and ``latest.md`` (``--out`` changes the
directory). Medians and spread (IQR) are over every batch of every round. ``--size tiny``
makes a seconds-long smoke run (what the test suite uses); peers that are not installed
are reported as unavailable, never as failures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
VARIANTS = ("none", "otel-llm", "openai-v2", "openllmetry", "openlit", "openinference")
LABELS = {
    "none": "no instrumentation",
    "otel-llm": "otel-llm",
    "openai-v2": "OTel official (openai-v2)",
    "openllmetry": "OpenLLMetry",
    "openlit": "OpenLIT",
    "openinference": "OpenInference",
}
WORKLOADS = ("chat_sync", "chat_async", "stream_sync", "stream_async")
CHUNKS = 256
SIZES: dict[str, dict[str, int]] = {
    # calls/streams per batch, batches per process, rounds, micro iterations/batches, memory
    "tiny": {
        "calls": 2,
        "streams": 1,
        "batches": 1,
        "rounds": 1,
        "iterations": 64,
        "micro_batches": 1,
        "mem_calls": 200,
        "mem_streams": 50,
    },
    "full": {
        "calls": 40,
        "streams": 4,
        "batches": 4,
        "rounds": 5,
        "iterations": 2000,
        "micro_batches": 5,
        "mem_calls": 100_000,
        "mem_streams": 10_000,
    },
}
CALLGRIND_OPS = ("chunk", "histogram_record", "baseline", "generation", "tokenize")


# -- statistics -------------------------------------------------------------------------
def summary(values: list[float]) -> dict[str, float]:
    """Median, quartiles and IQR of per-call µs."""
    ordered = sorted(values)
    if len(ordered) >= 2:
        q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    else:
        q1 = q3 = ordered[0]
    return {
        "median": statistics.median(ordered),
        "q1": q1,
        "q3": q3,
        "iqr": q3 - q1,
        "n": len(ordered),
    }


def _run_json(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env=env, cwd=HERE, timeout=1800, check=False
    )
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-5:]
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {' | '.join(tail)}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _env(disabled: bool = False) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["PYTHONHASHSEED"] = "0"
    if disabled:
        env["OTEL_SDK_DISABLED"] = "true"
    return env


# -- the timed part ---------------------------------------------------------------------
def run_rounds(python: str, size: dict[str, int], variants: tuple[str, ...]) -> dict[str, Any]:
    """Every variant and micro mode once per round, rotated; the raw batches collected."""
    jobs: list[tuple[str, list[str], dict[str, str]]] = [
        (
            f"openai:{v}",
            [
                python,
                "openai_worker.py",
                v,
                f"--calls={size['calls']}",
                f"--streams={size['streams']}",
                f"--batches={size['batches']}",
            ],
            _env(),
        )
        for v in variants
    ]
    micro = [python, "micro.py", f"--iterations={size['iterations']}"]
    micro.append(f"--batches={size['micro_batches']}")
    jobs.append(("micro:enabled", micro, _env()))
    jobs.append(("micro:disabled", micro, _env(disabled=True)))

    raw: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in jobs}
    for r in range(size["rounds"]):
        k = r % len(jobs)
        for name, cmd, env in jobs[k:] + jobs[:k]:
            started = time.monotonic()
            raw[name].append(_run_json(cmd, env))
            print(
                f"round {r + 1}/{size['rounds']} {name}: {time.monotonic() - started:.1f}s",
                file=sys.stderr,
            )
    return raw


def _pool(results: list[dict[str, Any]], key: str, clock: str) -> list[float]:
    return [x for res in results for x in res["timings_us"][key][clock]]


def peers_table(raw: dict[str, list[dict[str, Any]]], clock: str) -> dict[str, Any]:
    """Per variant and workload: summary, overhead over ``none`` (µs, ratio), per chunk."""
    base_runs = raw.get("openai:none") or []
    out: dict[str, Any] = {}
    for variant in VARIANTS:
        runs = raw.get(f"openai:{variant}")
        if not runs:
            continue
        if not runs[0].get("available", False):
            out[variant] = {"available": False, "reason": runs[0].get("reason", "")}
            continue
        entry: dict[str, Any] = {
            "available": True,
            "version": runs[0]["version"],
            "recorded": runs[-1]["recorded"],
        }
        for workload in WORKLOADS:
            s = summary(_pool(runs, workload, clock))
            if base_runs:
                base = summary(_pool(base_runs, workload, clock))["median"]
                s["overhead_us"] = s["median"] - base
                s["ratio"] = s["median"] / base if base else float("nan")
                if workload.startswith("stream"):
                    s["overhead_per_chunk_us"] = s["overhead_us"] / CHUNKS
            entry[workload] = s
        out[variant] = entry
    return out


def micro_table(raw: dict[str, list[dict[str, Any]]], clock: str) -> dict[str, Any]:
    """µs per op for each micro op, SDK on and disabled, with the derived targets."""
    out: dict[str, Any] = {}
    for mode in ("enabled", "disabled"):
        runs = raw.get(f"micro:{mode}") or []
        if not runs:
            continue
        ops = {op: summary(_pool(runs, op, clock)) for op in runs[0]["timings_us"]}
        med = {op: s["median"] for op, s in ops.items()}
        derived: dict[str, float] = {
            "generation_overhead_us": med["generation"] - med["baseline"],
            "tokenize_overhead_us": med["tokenize"] - med["baseline"],
            "stream_256_overhead_us": med["stream_256"] - med["baseline_stream_256"],
            # the slope between 256 and 1 chunks: what one more chunk() costs
            "chunk_us": (
                (med["stream_256"] - med["baseline_stream_256"])
                - (med["stream_1"] - med["baseline_stream_1"])
            )
            / (CHUNKS - 1),
            "histogram_record_us": med["histogram_record"],
        }
        if "tiktoken_encode" in med:
            derived["tiktoken_encode_overhead_us"] = (
                med["tiktoken_encode"] - med["baseline_tiktoken_encode"]
            )
        out[mode] = {"ops": ops, "derived": derived}
    return out


# -- callgrind ---------------------------------------------------------------------------
def _instructions(python: str, args: list[str], disabled: bool = False) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out_file = Path(tmp) / "cg.out"
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}", python, *args]
        subprocess.run(cmd, capture_output=True, env=_env(disabled), cwd=HERE, check=True)
        text = out_file.read_text()
    match = re.search(r"^(?:summary|totals):\s+(\d+)", text, re.MULTILINE)
    if match is None:
        raise RuntimeError("no instruction total in the callgrind output")
    return int(match.group(1))


def run_callgrind(python: str, variants: tuple[str, ...]) -> dict[str, Any]:
    """Instructions per operation: (Ir at N=large - Ir at N=small) / (large - small).

    Micro ops: 200 vs 1200 iterations; openai calls per variant (only with ``variants``;
    each stream run executes ~10^10 instructions, minutes under valgrind): 2 vs 12 chat
    calls and 1 vs 3 streams. Two valgrind processes at a time.
    """
    from concurrent.futures import Future, ThreadPoolExecutor

    specs: dict[tuple[str, str], tuple[list[str], list[str], int, bool]] = {}
    for disabled in (False, True):
        mode = "disabled" if disabled else "enabled"
        for op in CALLGRIND_OPS:
            if disabled and op in ("chunk", "histogram_record"):
                continue
            base = ["micro.py", f"--callgrind={op}"]
            specs[(mode, op)] = (
                [*base, "--iterations=200"],
                [*base, "--iterations=1200"],
                1000,
                disabled,
            )
    for variant in variants:
        for workload, small, large in (("chat_sync", 2, 12), ("stream_sync", 1, 3)):
            base = ["openai_worker.py", variant, f"--callgrind={workload}"]
            specs[(f"openai:{variant}", workload)] = (
                [*base, f"--calls={small}"],
                [*base, f"--calls={large}"],
                large - small,
                False,
            )
    out: dict[str, Any] = {}
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures: dict[tuple[str, str], tuple[Future[int], Future[int]]] = {
            key: (
                pool.submit(_instructions, python, a, disabled),
                pool.submit(_instructions, python, b, disabled),
            )
            for key, (a, b, _, disabled) in specs.items()
        }
        for (group, op), (fa, fb) in futures.items():
            try:
                value: float | None = (fb.result() - fa.result()) / specs[(group, op)][2]
            except (subprocess.CalledProcessError, RuntimeError) as exc:
                print(f"callgrind {group} {op} failed: {exc}", file=sys.stderr)
                value = None
            out.setdefault(group, {})[op] = value
            print(f"callgrind {group} {op}: {value}", file=sys.stderr)
    return out


# -- report ------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    """Where the numbers came from."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_1_5_15": [round(x, 2) for x in load],
    }


def _fmt(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def markdown(report: dict[str, Any]) -> str:
    """The tables of ``docs/performance.md``."""
    m = report["machine"]
    lines = [
        f"Run {report['started']} → {report['finished']} UTC, size `{report['size']}`, "
        f"{report['rounds']} rounds; {m['nproc']} CPUs ({m['cpu']}), Python {m['python']}; "
        f"load average at start {m['loadavg_at_start']}, at end {m['loadavg_1_5_15']}.",
        "",
        f"Clock: **{report['clock']}** time per call (µs); IQR in brackets.",
        "",
        "### openai SDK over httpx.MockTransport, per call",
        "",
        "| variant | version | chat sync | overhead | × | chat async | overhead | "
        "stream sync (256 chunks) | overhead | per chunk | stream async | overhead | per chunk |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for variant, entry in report["peers"].items():
        if not entry.get("available"):
            lines.append(f"| {LABELS[variant]} | not installed | " + "- | " * 11)
            continue
        cells = [LABELS[variant], entry["version"]]
        for workload in WORKLOADS:
            s = entry[workload]
            cells.append(f"{_fmt(s['median'])} ({_fmt(s['iqr'])})")
            cells.append(_fmt(s.get("overhead_us")))
            if workload == "chat_sync":
                cells.append(_fmt(s.get("ratio"), 2))
            if workload.startswith("stream"):
                cells.append(_fmt(s.get("overhead_per_chunk_us"), 2))
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "### What each variant recorded (one call, default settings)",
        "",
        "| variant | chat span: attributes | stream span: attributes | stream span events | "
        "log records (chat / stream) | metrics |",
        "|---|---:|---:|---|---:|---|",
    ]
    for variant, entry in report["peers"].items():
        if not entry.get("available") or variant == "none":
            continue
        rec = entry["recorded"]
        chat = rec["chat"]["spans"][0] if rec["chat"]["spans"] else {"attributes": []}
        strm = rec["stream"]["spans"][0] if rec["stream"]["spans"] else {"attributes": []}
        events = ", ".join(f"{k} ×{v}" for k, v in strm.get("events", {}).items()) or "-"
        content = any("message" in a or a.endswith(".value") for a in chat["attributes"])
        lines.append(
            f"| {LABELS[variant]} | {len(chat['attributes'])}"
            f"{' (incl. content)' if content else ''} | {len(strm['attributes'])} | {events} | "
            f"{rec['chat']['log_records']} / {rec['stream']['log_records']} | "
            f"{', '.join(f'`{m}`' for m in rec['metrics']) or '-'} |"
        )
    lines += [
        "",
        "### otel-llm API micro-benchmarks, per operation",
        "",
        "| operation | SDK on | SDK disabled |",
        "|---|---:|---:|",
    ]
    micro = report["micro"]
    if micro:
        for op in micro["enabled"]["ops"]:
            on = micro["enabled"]["ops"][op]
            off = micro.get("disabled", {}).get("ops", {}).get(op)
            row = f"| `{op}` | {_fmt(on['median'], 2)} ({_fmt(on['iqr'], 2)}) | "
            row += f"{_fmt(off['median'], 2)} ({_fmt(off['iqr'], 2)}) |" if off else "- |"
            lines.append(row)
        lines += ["", "| derived | SDK on | SDK disabled |", "|---|---:|---:|"]
        for key in micro["enabled"]["derived"]:
            on_v = micro["enabled"]["derived"][key]
            off_v = micro.get("disabled", {}).get("derived", {}).get(key)
            lines.append(f"| {key} | {_fmt(on_v, 2)} | {_fmt(off_v, 2)} |")
    cg = report.get("callgrind")
    if cg:
        lines += [
            "",
            "### Instructions per operation (callgrind, deterministic)",
            "",
            "| operation | SDK on | SDK disabled |",
            "|---|---:|---:|",
        ]
        for op in CALLGRIND_OPS:
            on_i = cg.get("enabled", {}).get(op)
            off_i = cg.get("disabled", {}).get(op)
            lines.append(f"| `{op}` | {_fmt(on_i, 0)} | {_fmt(off_i, 0)} |")
        base = cg.get("openai:none", {})
        rows = [v for v in VARIANTS if f"openai:{v}" in cg]
        if rows:
            lines += [
                "",
                "| variant | chat sync: instructions | overhead | stream sync: instructions | "
                "overhead | per chunk |",
                "|---|---:|---:|---:|---:|---:|",
            ]
        for variant in rows:
            row = cg[f"openai:{variant}"]
            chat, strm = row.get("chat_sync"), row.get("stream_sync")
            b_chat, b_strm = base.get("chat_sync"), base.get("stream_sync")
            over_chat = chat - b_chat if chat is not None and b_chat is not None else None
            over_strm = strm - b_strm if strm is not None and b_strm is not None else None
            per_chunk = over_strm / CHUNKS if over_strm is not None else None
            lines.append(
                f"| {LABELS[variant]} | {_fmt(chat, 0)} | {_fmt(over_chat, 0)} | "
                f"{_fmt(strm, 0)} | {_fmt(over_strm, 0)} | {_fmt(per_chunk, 0)} |"
            )
    mem = report.get("memory")
    if mem:
        lines += [
            "",
            "### Memory (tracemalloc snapshot diff)",
            "",
            f"- {mem['calls']:,} generations: {mem['after_calls']['growth_bytes']:,} bytes "
            f"({mem['after_calls']['growth_blocks']:,} blocks) growth",
            f"- {mem['abandoned_streams']:,} abandoned streams: "
            f"{mem['after_abandoned_streams']['growth_bytes']:,} bytes "
            f"({mem['after_abandoned_streams']['growth_blocks']:,} blocks) growth; "
            f"{mem['streams_finalised_by_gc_total']:,} streams finalised by GC (incl. warm-up)",
            f"- peak traced: {mem['peak_traced_bytes']:,} bytes; spans exported: "
            f"{mem['spans_exported']:,}; {mem['span_queue_bound']}",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write ``latest.json`` / ``latest.md``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--rounds", type=int, help="override the size's round count")
    parser.add_argument("--python", default=sys.executable, help="interpreter for the workers")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--callgrind", action="store_true", help="also count instructions")
    parser.add_argument(
        "--callgrind-openai",
        action="store_true",
        help="with --callgrind, also count the openai workload per variant (slow)",
    )
    parser.add_argument(
        "--reuse-callgrind",
        type=Path,
        metavar="JSON",
        help="take the instruction counts from an earlier report (same code) instead",
    )
    args = parser.parse_args(argv)

    size = dict(SIZES[args.size])
    if args.rounds:
        size["rounds"] = args.rounds
    variants = tuple(v for v in args.variants.split(",") if v)
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}; allowed: {', '.join(VARIANTS)}")

    started = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    raw = run_rounds(args.python, size, variants)
    report: dict[str, Any] = {
        "started": started,
        "size": args.size,
        "rounds": size["rounds"],
        "clock": args.clock,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "peers": peers_table(raw, args.clock),
        "peers_wall": peers_table(raw, "wall") if args.clock == "cpu" else None,
        "micro": micro_table(raw, args.clock),
        "micro_wall": micro_table(raw, "wall") if args.clock == "cpu" else None,
        "raw": raw,
    }
    if not args.no_memory:
        report["memory"] = _run_json(
            [
                args.python,
                "memory.py",
                f"--calls={size['mem_calls']}",
                f"--streams={size['mem_streams']}",
            ],
            _env(),
        )
    if args.callgrind:
        report["callgrind"] = run_callgrind(args.python, variants if args.callgrind_openai else ())
    elif args.reuse_callgrind:
        earlier = json.loads(args.reuse_callgrind.read_text())
        report["callgrind"] = earlier["callgrind"]
        report["callgrind_from"] = f"{args.reuse_callgrind.name} of {earlier['started']} UTC"
    report["finished"] = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    report["machine"] = {**machine(), "loadavg_at_start": load_at_start}

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(report, indent=1) + "\n")
    md = markdown(report)
    (args.out / "latest.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
