"""The harness itself (no backends needed): PIDs it records are stopped, others are left alone."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.stack import Stack, StackError, reap_leftovers


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


def test_a_dying_process_fails_the_wait_with_its_log(tmp_path: Path) -> None:
    """Waiting on a process that exits reports its exit and the tail of its log."""
    stack = sleeper_stack(tmp_path)
    stack.start("crasher", ["sh", "-c", "echo boom: bad config >&2; exit 3"])
    started = time.monotonic()
    with pytest.raises(StackError, match=r"(?s)crasher exited \(code 3\).*boom: bad config"):
        stack.wait_until("never", lambda: False, 30, "crasher")
    assert time.monotonic() - started < 10
    stack.stop_all()
