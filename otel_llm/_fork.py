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
protobuf, and each may read the other's response). :func:`own_connections` registers an
exporter's connection pool, and the child starts with an empty one.

``multiprocessing`` ends its worker processes with ``os._exit()``: ``atexit`` handlers
(where ``configure()`` registers the final flush) never run there, and the spans a worker
still had queued would be lost. :func:`shutdown_at_worker_exit` registers the flush with
``multiprocessing``'s own exit hook in every worker, forked or spawned.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any, Protocol, TypeVar

__all__ = ["fork_safe_lock", "own_connections", "shutdown_at_worker_exit"]

_E = TypeVar("_E")


class _Handle(Protocol):
    def shutdown(self) -> None: ...


_LOCKS: weakref.WeakSet[threading.Lock] = weakref.WeakSet()
_SESSIONS: weakref.WeakSet[Any] = weakref.WeakSet()


def fork_safe_lock() -> threading.Lock:
    """A new ``threading.Lock`` that a forked child gets back unlocked."""
    lock = threading.Lock()
    _LOCKS.add(lock)
    return lock


def own_connections(exporter: _E) -> _E:
    """Make a forked child open its own connections for ``exporter`` (an OTLP/HTTP
    exporter's ``requests`` session); other exporters pass through. Returns ``exporter``."""
    session = getattr(exporter, "_session", None)
    if session is not None and hasattr(session, "adapters"):
        _SESSIONS.add(session)
    return exporter


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
