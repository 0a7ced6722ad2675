"""``tool()``: the semconv ``execute_tool`` span, as a context manager or a decorator."""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from . import semconv
from ._noop import NOOP
from ._operation import Attributes, Operation
from ._runtime import RT, report_error

__all__ = ["Tool", "tool"]

F = TypeVar("F", bound=Callable[..., Any])


class Tool(Operation):
    """Handle of one tool execution; also decorates a function (one span per call)."""

    __slots__ = ("_call_id", "_name", "_type")

    _component: ClassVar[str] = "tool"

    def __init__(self, name: str, call_id: str | None, tool_type: str) -> None:
        super().__init__()
        if not isinstance(name, str) or not name:
            raise ValueError(f"tool name must be a non-empty string, got {name!r}")
        self._name = name
        self._call_id = call_id
        self._type = tool_type
        self._metric_attrs = {semconv.GEN_AI_TOOL_NAME: name}

    def _span_name(self) -> str:
        return f"{semconv.SPAN_TOOL_PREFIX} {self._name}"

    def _start_attributes(self) -> Attributes:
        attributes: Attributes = {
            semconv.GEN_AI_OPERATION_NAME: semconv.OP_EXECUTE_TOOL,
            semconv.GEN_AI_TOOL_NAME: self._name,
            semconv.GEN_AI_TOOL_TYPE: self._type,
        }
        if self._call_id:
            attributes[semconv.GEN_AI_TOOL_CALL_ID] = self._call_id
        return attributes

    def set_arguments(self, arguments: Any) -> None:
        """Record the call's arguments when content capture allows it."""
        self._capture(semconv.GEN_AI_TOOL_CALL_ARGUMENTS, arguments)

    def set_result(self, result: Any) -> None:
        """Record the call's result when content capture allows it."""
        self._capture(semconv.GEN_AI_TOOL_CALL_RESULT, result)

    def _capture(self, key: str, value: Any) -> None:
        if RT.capture == "NO_CONTENT" or not self.span.is_recording():
            return
        try:
            self.span.set_attribute(
                key, value if isinstance(value, str) else json.dumps(value, default=str)
            )
        except Exception as exc:
            report_error(self._component, exc)

    def _on_end(self, duration: float) -> None:
        attrs = self._metric_attrs
        if self._error_type is not None:
            attrs = {**attrs, semconv.ERROR_TYPE: self._error_type}
        RT.instruments.tool_duration.record(duration, attrs, context=self._ctx)

    def __call__(self, fn: F) -> F:
        """Decorate ``fn`` (sync or async): each call runs in its own tool span."""
        name, call_id, tool_type = self._name, self._call_id, self._type
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                async with tool(name, call_id=call_id, tool_type=tool_type):
                    return await fn(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with tool(name, call_id=call_id, tool_type=tool_type):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


def tool(name: str, call_id: str | None = None, *, tool_type: str = "function") -> Tool:
    """Trace a tool execution (``execute_tool {name}``, INTERNAL) and its duration.

    Use as ``with otel_llm.tool("get_weather", call_id="call_1"):`` or as a decorator
    ``@otel_llm.tool("get_weather")``. Arguments and results are recorded only when
    content capture is on (``set_arguments`` / ``set_result``).
    """
    if not RT.enabled:
        return NOOP  # type: ignore[return-value]
    return Tool(name, call_id, tool_type)
