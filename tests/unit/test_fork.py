"""Fork safety helpers (``otel_llm/_fork.py``), checked in real forked children.

The end-to-end scenarios (exporters, servers, pools) are in
``tests/reliability/test_processes.py``; these pin the pieces: a lock held at the fork is
free in the child, an exporter session's pools are the child's own, and a session supplied
by a credential provider is left to the exporter.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import pytest
import requests

from otel_llm._fork import fork_safe_lock, own_connections

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
    # Python 3.12+ warns about fork() in a process with threads; these tests mean it.
    pytest.mark.filterwarnings("ignore:This process:DeprecationWarning"),
]


def in_child(check: Callable[[], bool]) -> int:
    """Fork, run ``check`` in the child (exit 0 if true, 1 if false, 2 if it raised), and
    return the child's exit code; a child still running after 10 s is killed (code -9)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 2
        try:
            code = 0 if check() else 1
        finally:
            os._exit(code)
    timer = threading.Timer(10, os.kill, (pid, 9))
    timer.start()
    try:
        _, status = os.waitpid(pid, 0)
    finally:
        timer.cancel()
    return os.waitstatus_to_exitcode(status)


def test_lock_held_by_another_thread_is_free_in_the_child() -> None:
    """A fork_safe_lock another thread holds at the fork can be taken in the child at once;
    a plain lock stays held there (what the helper is for)."""
    ours, plain = fork_safe_lock(), threading.Lock()
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with ours, plain:
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(10)
    try:
        assert in_child(lambda: ours.acquire(timeout=2)) == 0
        assert in_child(lambda: plain.acquire(timeout=0.2)) == 1
    finally:
        release.set()
        thread.join()


def test_exporter_session_pools_are_the_childs_own() -> None:
    """After a fork, the session's adapters (connection pools) are new objects in the child
    and still serve both schemes; the parent keeps its own."""
    session = own_connections("traces")
    assert isinstance(session, requests.Session)
    before = {prefix: id(adapter) for prefix, adapter in session.adapters.items()}

    def replaced() -> bool:
        after = {prefix: id(adapter) for prefix, adapter in session.adapters.items()}
        return set(after) == set(before) and all(after[p] != before[p] for p in before)

    assert in_child(replaced) == 0
    assert {prefix: id(adapter) for prefix, adapter in session.adapters.items()} == before


@pytest.mark.parametrize(
    "variable",
    [
        "OTEL_PYTHON_EXPORTER_OTLP_HTTP_CREDENTIAL_PROVIDER",
        "OTEL_PYTHON_EXPORTER_OTLP_HTTP_METRICS_CREDENTIAL_PROVIDER",
    ],
)
def test_credential_provider_session_is_left_to_the_exporter(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    """With a credential provider named for the signal (or all signals), no session is
    made: the exporter loads the provider's. Other signals still get one."""
    monkeypatch.setenv(variable, "some-provider")
    assert own_connections("metrics") is None
    for_all_signals = variable == "OTEL_PYTHON_EXPORTER_OTLP_HTTP_CREDENTIAL_PROVIDER"
    assert (own_connections("logs") is None) == for_all_signals
