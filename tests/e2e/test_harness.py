"""The harness itself (no backends needed): PIDs it records are stopped, others are left alone."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.stack import Stack, StackError, reap_dead_runs, reap_leftovers


def sleeper_stack(tmp_path: Path) -> Stack:
    """A Stack with a ledger and no real components."""
    return Stack(run_dir=tmp_path / "run", ports={}, ledger=tmp_path / "ledger")


def test_leftovers_of_a_killed_run_are_reaped(tmp_path: Path) -> None:
    """A process the harness started but never stopped is stopped by the next run."""
    sleep = shutil.which("sleep")
    assert sleep is not None
    stack = sleeper_stack(tmp_path)
    process = stack.start("sleeper", [sleep, "60"])
    try:
        assert (tmp_path / "ledger" / str(process.popen.pid)).exists()
        reaped = reap_leftovers(tmp_path / "ledger")
        assert reaped == [process.popen.pid]
        assert process.popen.wait(timeout=10) != 0
        assert list((tmp_path / "ledger").iterdir()) == []
    finally:  # never leave the sleeper running into later tests
        if process.popen.poll() is None:
            process.popen.kill()
        process.popen.wait(timeout=10)


def test_a_reused_pid_is_left_alone(tmp_path: Path) -> None:
    """A recorded PID now running another program is not signalled."""
    other = subprocess.Popen(["sleep", "30"])
    try:
        ledger = tmp_path / "ledger"
        ledger.mkdir()
        (ledger / str(other.pid)).write_text("/not/what/runs/there")
        assert reap_leftovers(ledger) == []
        assert other.poll() is None
    finally:
        other.kill()
        other.wait(timeout=10)


def test_a_concurrent_run_is_left_alone_and_a_dead_one_reaped(tmp_path: Path) -> None:
    """Ledgers are per pytest process: a live run's processes survive another run's start,
    a dead run's leftovers are stopped."""
    root = tmp_path / "ledgers"
    live = subprocess.Popen(["sleep", "30"])
    leftover = subprocess.Popen(["sleep", "30"])
    dead_owner = subprocess.Popen(["true"])
    dead_owner.wait(timeout=10)
    try:
        for owner, child in ((os.getpid(), live), (dead_owner.pid, leftover)):
            (root / str(owner)).mkdir(parents=True)
            (root / str(owner) / str(child.pid)).write_text("sleep")  # its argv[0]
        assert reap_dead_runs(root) == [leftover.pid]
        assert live.poll() is None
        assert leftover.wait(timeout=10) != 0
        assert not (root / str(dead_owner.pid)).exists()
    finally:
        for process in (live, leftover):
            process.kill()
            process.wait(timeout=10)


def test_a_dying_process_fails_the_wait_with_its_log(tmp_path: Path) -> None:
    """Waiting on a process that exits reports its exit and the tail of its log."""
    stack = sleeper_stack(tmp_path)
    stack.start("crasher", ["sh", "-c", "echo boom: bad config >&2; exit 3"])
    started = time.monotonic()
    with pytest.raises(StackError, match=r"(?s)crasher exited \(code 3\).*boom: bad config"):
        stack.wait_until("never", lambda: False, 30, "crasher")
    assert time.monotonic() - started < 10
    stack.stop_all()
