"""Shared pieces of the tokenizer and litellm instrumentation tests.

Plain helpers imported by the test modules (this is not a pytest conftest): the test
modules define their fixtures with them. ``instrumented`` always uninstruments, so other
tests see pristine library classes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
"""A ChatML template, set in code (the local tokenizer ships none)."""

WORDS = (
    "hello world the quick brown fox jumps over lazy dog a an of to in is it you that "
    "he was for on are as with his they at be this have from or one had by word but not "
    "what all were we when your can said there use each which she do how their if will up"
).split()


def instrumented(instrumentor: BaseInstrumentor) -> Iterator[BaseInstrumentor]:
    """Instrument for the duration of a fixture; uninstrument in teardown, always."""
    instrumentor.instrument()
    try:
        yield instrumentor
    finally:
        instrumentor.uninstrument()


def build_hf_tokenizer(directory: Path) -> Any:
    """A word-level Hugging Face fast tokenizer built locally with ``tokenizers`` (no download)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[PAD]": 0, "[UNK]": 1, "<|im_start|>": 2, "<|im_end|>": 3}
    for word in [*WORDS, "user", "assistant", "system", "\n"]:
        vocab.setdefault(word, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.add_special_tokens(["[PAD]", "<|im_start|>", "<|im_end|>"])
    directory.mkdir(parents=True, exist_ok=True)
    backend.save(str(directory / "tokenizer.json"))
    (directory / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 64}))
    tok = PreTrainedTokenizerFast(
        tokenizer_file=str(directory / "tokenizer.json"),
        pad_token="[PAD]",
        unk_token="[UNK]",
        model_max_length=64,
        name_or_path="local/wordlevel",
    )
    tok.chat_template = CHAT_TEMPLATE
    return tok


# -- a local OpenAI-compatible server (litellm tests) -----------------------------------------
SERVED_MODEL = "gpt-4o-mini-2024-07-18"
"""The dated model the local server says it served."""
REPLY = ["Hello", " from", " fake", " server"]
"""The streamed reply; joined, the non-streamed one."""


class _OpenAIHandler(BaseHTTPRequestHandler):
    """``/ok/v1/chat/completions``: JSON or SSE; ``/ratelimited/...``: 429."""

    server: OpenAIServer

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
        self.server.requests.append((self.path, body))
        if self.path.startswith("/ratelimited/"):
            error = {"message": "Rate limit reached", "type": "rate_limit_error"}
            self._send(429, {"error": error}, {"retry-after": "0", "retry-after-ms": "1"})
            return
        base = {"id": "chatcmpl-local1", "created": 1700000000, "model": SERVED_MODEL}
        usage = {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}
        if not body.get("stream"):
            message = {"role": "assistant", "content": "".join(REPLY)}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            self._send(200, {**base, "object": "chat.completion", "choices": [choice],
                             "usage": usage}, {})  # fmt: skip
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        base["object"] = "chat.completion.chunk"
        deltas = [{"role": "assistant", "content": ""}] + [{"content": part} for part in REPLY]
        chunks = [
            {**base, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas
        ]
        chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            chunks.append({**base, "choices": [], "usage": usage})
        for chunk in chunks:
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")


class OpenAIServer(ThreadingHTTPServer):
    """A real HTTP server on 127.0.0.1 speaking the chat completions API."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _OpenAIHandler)
        self.requests: list[tuple[str, dict[str, Any]]] = []

    @property
    def port(self) -> int:
        """The ephemeral port it listens on."""
        return int(self.server_address[1])

    def url(self, prefix: str) -> str:
        """Base URL of one behaviour: ``ok`` or ``ratelimited``."""
        return f"http://127.0.0.1:{self.port}/{prefix}/v1"


@contextmanager
def openai_server() -> Iterator[OpenAIServer]:
    """Serve the fake OpenAI API in a thread; shut it down afterwards."""
    server = OpenAIServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
