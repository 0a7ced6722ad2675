"""Real OpenAI payloads (from the shared cassettes) as Python data, and SSE framing.

The hostile tests mutate these: a chat completion, a chat stream with tool calls and a
usage chunk, a legacy completion, an embedding list and a Responses API response and
event stream.
"""

from __future__ import annotations

import json
from typing import Any

from tests.instrumentation.conftest import load_cassette
from tests.reliability.conftest import frame

__all__ = ["frame", "parse_sse"]

Event = tuple[str | None, Any]
"""One SSE event: its ``event:`` name (or None) and its ``data`` (JSON data or raw text)."""


def _body(cassette: str) -> bytes:
    return load_cassette(cassette)[0].body


def parse_sse(body: bytes) -> list[Event]:
    """The events of an SSE body (``[DONE]`` kept as the text ``"[DONE]"``)."""
    events: list[Event] = []
    for block in body.decode().split("\n\n"):
        name, data = None, None
        for line in block.splitlines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data = line[5:].strip()
        if data is not None:
            events.append((name, data if data == "[DONE]" else json.loads(data)))
    return events


def chat() -> dict[str, Any]:
    """A chat.completion with content and usage (details included)."""
    return dict(json.loads(_body("test_chat_completion_with_content")))


def chat_tools() -> dict[str, Any]:
    """A chat.completion asking for two tool calls."""
    return dict(json.loads(_body("test_chat_completion_tool_calls_with_content")))


def chat_stream() -> list[Event]:
    """Chat chunks: role, text, finish and a usage-only chunk, then ``[DONE]``."""
    return parse_sse(_body("test_chat_completion_streaming"))


def chat_tool_stream() -> list[Event]:
    """Chat chunks streaming two tool calls' arguments, then usage and ``[DONE]``."""
    return parse_sse(_body("test_chat_completion_multiple_tools_streaming_with_content"))


def completion() -> dict[str, Any]:
    """A legacy text_completion (built: no cassette has one)."""
    return {
        "id": "cmpl-1",
        "object": "text_completion",
        "created": 1731368630,
        "model": "gpt-3.5-turbo-instruct",
        "choices": [
            {"index": 0, "text": "This is a test.", "logprobs": None, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10},
    }


def completion_stream() -> list[Event]:
    """Legacy completion chunks: text pieces, a finish and a usage chunk."""
    base = {
        "id": "cmpl-1",
        "object": "text_completion",
        "created": 1,
        "model": "gpt-3.5-turbo-instruct",
    }
    pieces = ["This", " is", " a", " test."]
    events: list[Event] = [
        (
            None,
            {**base, "choices": [{"index": 0, "text": p, "logprobs": None, "finish_reason": None}]},
        )
        for p in pieces
    ]
    events.append(
        (
            None,
            {
                **base,
                "choices": [{"index": 0, "text": "", "logprobs": None, "finish_reason": "stop"}],
            },
        )
    )
    events.append(
        (
            None,
            {
                **base,
                "choices": [],
                "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9},
            },
        )
    )
    events.append((None, "[DONE]"))
    return events


def embeddings() -> dict[str, Any]:
    """An embedding list (the recorded vector cut to 8 dimensions)."""
    data = dict(json.loads(_body("test_embeddings_with_content")))
    data["data"][0]["embedding"] = data["data"][0]["embedding"][:8]
    return data


def responses() -> dict[str, Any]:
    """A completed Responses API response with text and usage."""
    return dict(json.loads(_body("test_responses_create_basic[content_mode0]")))


def responses_stream() -> list[Event]:
    """Responses API events: created, deltas, done and ``response.completed``."""
    return parse_sse(_body("test_responses_create_streaming[content_mode0]"))
