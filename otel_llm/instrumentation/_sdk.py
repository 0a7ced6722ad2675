"""Reading the objects of Stainless-generated SDKs (openai, anthropic) without importing them.

Both SDKs pass request parameters as keyword dicts with "not given" sentinels, return
pydantic models, and keep the endpoint on ``resource._client.base_url``. These helpers
read all of that defensively: a missing or renamed field gives ``None``, never an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry import context as otel_context

from .._generation import Generation

__all__ = ["as_dict", "attach", "detach", "get", "given", "server"]


def given(value: Any) -> Any:
    """``value``, or None for the SDKs' "not given" sentinels (``NOT_GIVEN``, ``omit``)."""
    if value is None or type(value).__name__ in ("NotGiven", "Omit"):
        return None
    return value


def get(obj: Any, name: str) -> Any:
    """An attribute of an SDK model or a key of a dict (request params are dicts)."""
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def as_dict(obj: Any) -> dict[str, Any]:
    """A request param or SDK model as a plain dict ({} if it is neither)."""
    if isinstance(obj, Mapping):
        return dict(obj)
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        try:
            result = dump(exclude_unset=True)
            return result if isinstance(result, dict) else {}
        except Exception:
            return {}
    return {}


def server(instance: Any) -> tuple[str | None, int | None]:
    """``server.address`` / ``server.port`` from a resource's client base URL."""
    try:
        url = instance._client.base_url
        host = str(url.host) or None
        port = url.port or (443 if url.scheme == "https" else 80)
        return host, int(port)
    except Exception:
        return None, None


def attach(gen: Generation) -> object | None:
    """Make the generation current while the SDK sends the request (HTTP spans nest)."""
    ctx = gen._ctx
    return otel_context.attach(ctx) if ctx is not None else None


def detach(token: object | None) -> None:
    """Undo :func:`attach`."""
    if token is not None:
        otel_context.detach(token)  # type: ignore[arg-type]
