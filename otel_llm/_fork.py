"""Fork safety: a forked child gets otel-llm's locks back unlocked and opens its own
export connections, and telemetry is flushed when a ``multiprocessing`` worker exits.

``os.fork()`` copies only the calling thread. A lock that another thread held at that
moment (the span exporter thread mid-write, a request thread inside the log sampler) is
copied locked, and no thread in the child will ever release it: the child's next export,
log call or budget check would hang. Every lock otel-llm takes is made by
:func:`fork_safe_lock`, and the child re-initialises all of them, as the OpenTelemetry SDK
does for its processors and CPython does for ``logging`` handlers.

An OTLP/HTTP exporter keeps its connection to the collector open between exports. A child
forked after an export inherits that socket: parent and child would write their requests
into the same connection and corrupt each other's (the collector rejects the mangled
protobuf, and each may read the other's response). :func:`own_connections` gives each
exporter a session whose connection pool the child replaces with an empty one.

The SDK gives a forked child a new ``service.instance.id``; :func:`own_process_pid` makes
it also report its own ``process.pid`` (``configure()`` puts the pid in the resource).

``multiprocessing`` ends its worker processes with ``os._exit()``: ``atexit`` handlers
(where ``configure()`` registers the final flush) never run there, and the spans a worker
still had queued would be lost. :func:`shutdown_at_worker_exit` registers the flush with
``multiprocessing``'s own exit hook in every worker, forked or spawned.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any, Protocol

__all__ = [
    "fork_safe_lock",
    "own_connections",
    "own_process_pid",
    "reinit_export_lock",
    "shutdown_at_worker_exit",
]


class _Handle(Protocol):
    def shutdown(self) -> None: ...


_LOCKS: weakref.WeakSet[threading.Lock] = weakref.WeakSet()
_SESSIONS: weakref.WeakSet[Any] = weakref.WeakSet()


def fork_safe_lock() -> threading.Lock:
    """A new ``threading.Lock`` that a forked child gets back unlocked."""
    lock = threading.Lock()
    _LOCKS.add(lock)
    return lock


def reinit_export_lock(reader: object) -> None:
    """Give ``reader`` (the SDK's ``PeriodicExportingMetricReader``) an unlocked export
    lock in a forked child: the SDK restarts its thread at the fork but keeps the lock, so
    a child forked while the parent exported metrics hung at its first metric export."""
    lock = getattr(reader, "_export_lock", None)
    if lock is not None and hasattr(lock, "_at_fork_reinit"):
        _LOCKS.add(lock)


def own_connections(signal: str) -> Any:
    """A ``requests`` session for the OTLP/HTTP exporter of ``signal`` (``traces``,
    ``metrics``, ``logs``) whose pooled connections a forked child does not inherit; None
    when a credential provider (``OTEL_PYTHON_EXPORTER_OTLP_HTTP_*CREDENTIAL_PROVIDER``)
    supplies the exporter's session."""
    for name in (
        "OTEL_PYTHON_EXPORTER_OTLP_HTTP_CREDENTIAL_PROVIDER",
        f"OTEL_PYTHON_EXPORTER_OTLP_HTTP_{signal.upper()}_CREDENTIAL_PROVIDER",
    ):
        if os.environ.get(name):
            return None
    import requests

    session = requests.Session()
    _SESSIONS.add(session)
    return session


def _after_in_child() -> None:
    for lock in list(_LOCKS):
        # CPython's own hook for this (what logging and concurrent.futures use)
        reinit = getattr(lock, "_at_fork_reinit", None)
        if reinit is not None:
            reinit()
    if _SESSIONS:
        from requests.adapters import HTTPAdapter

        for session in list(_SESSIONS):
            # New, empty pools; the inherited ones (their sockets, their locks) are left
            # to the parent, never closed or locked from here.
            for prefix, adapter in list(session.adapters.items()):
                if type(adapter) is HTTPAdapter:
                    session.mount(prefix, HTTPAdapter())


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_in_child)


def own_process_pid(*providers: object) -> None:
    """Set ``process.pid`` in the resource of ``providers`` to the child's pid after a fork.

    Registered after the providers were made, so it runs after their own fork handlers
    (which re-initialise the lock that updating their resource takes).
    """
    refs = [weakref.ref(provider) for provider in providers]

    def after_in_child() -> None:
        from opentelemetry.sdk.resources import PROCESS_PID, Resource

        pid = Resource({PROCESS_PID: os.getpid()})
        for ref in refs:
            update = getattr(ref(), "_update_resource", None)  # the SDK's own fork refresh
            if update is not None:
                update(pid)

    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=after_in_child)


def shutdown_at_worker_exit(handle: _Handle) -> None:
    """Call ``handle.shutdown()`` when this process, or a worker it forks, exits as a
    ``multiprocessing`` worker (``Pool``, ``Process``; fork, forkserver or spawn)."""
    from multiprocessing import parent_process, util

    def arm(_: object = None) -> None:
        # exitpriority >= 0: run by the worker's exit, before its remaining finalizers
        util.Finalize(None, handle.shutdown, exitpriority=10)

    if parent_process() is not None:  # configured inside a worker (spawn, initializer)
        arm()
    util.register_after_fork(handle, arm)  # workers forked from a configured process
