"""gunicorn settings of the worker-server test: configure otel-llm in each worker."""

from __future__ import annotations

from typing import Any

workers = 2
worker_class = "sync"
graceful_timeout = 20


def post_fork(server: Any, worker: Any) -> None:
    """After gunicorn forks a worker: that worker's own providers and export threads."""
    from tests.reliability._server_app import configure

    configure()
