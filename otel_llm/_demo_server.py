"""A simulated OpenAI-compatible model server on 127.0.0.1 for ``otel-llm demo``.

It speaks the real Chat Completions wire format (JSON and SSE, with a final usage chunk)
so the real ``openai`` SDK and its instrumentation run unchanged. Latency is realistic
and seeded: a time to first token, then one SSE event per token. One model is always
overloaded and answers 429, so a router has to fall back.
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["OVERLOADED_MODEL", "SimulatedModelServer"]

OVERLOADED_MODEL = "gpt-4o"
"""The model this server always rate-limits."""

_WORDS = (
    "the report finds latency dominated by time to first token while streaming keeps users "
    "engaged tokens per second stay stable under load and the fallback model answers every "
    "request within budget"
).split()


class _QuietServer(ThreadingHTTPServer):
    """Clients that hang up early (a closed stream) are normal here, not tracebacks."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class SimulatedModelServer:
    """Serve ``/v1/chat/completions`` on an ephemeral loopback port in a daemon thread."""

    def __init__(self, seed: int = 7, ttft: float = 0.08, per_token: float = 0.004) -> None:
        self._seed = seed
        self._ttft = ttft
        self._per_token = per_token
        self._lock = threading.Lock()
        self._requests = 0
        self._server = _QuietServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """Base URL to give the OpenAI client (``.../v1``)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> SimulatedModelServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _rng(self) -> random.Random:
        with self._lock:
            self._requests += 1
            return random.Random(self._seed * 100_003 + self._requests)

    def _answer(self, rng: random.Random, max_tokens: int) -> list[str]:
        count = min(max_tokens, rng.randint(24, 48))
        return [(" " if i else "") + rng.choice(_WORDS) for i in range(count)]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _send_json(self, status: int, payload: dict[str, Any], **headers: str) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                for key, value in headers.items():
                    self.send_header(key.replace("_", "-"), value)
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
                if not self.path.endswith("/chat/completions"):
                    self._send_json(404, {"error": {"message": "not found", "type": "invalid"}})
                    return
                model = str(request.get("model", ""))
                rng = server._rng()
                if model == OVERLOADED_MODEL:
                    time.sleep(0.01)
                    error = {
                        "message": f"Rate limit reached for {model}. Please try again later.",
                        "type": "requests",
                        "code": "rate_limit_exceeded",
                    }
                    self._send_json(429, {"error": error}, retry_after="0")
                    return
                prompt_tokens = sum(
                    len(str(m.get("content", "")).split()) for m in request.get("messages", [])
                )
                tokens = server._answer(rng, int(request.get("max_tokens") or 64))
                served = f"{model}-2024-07-18"
                ident = f"chatcmpl-{rng.getrandbits(48):012x}"
                usage = {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": len(tokens),
                    "total_tokens": prompt_tokens + len(tokens),
                }
                time.sleep(server._ttft * rng.uniform(0.7, 1.5))
                if request.get("stream"):
                    self._stream(ident, served, tokens, usage, request, rng)
                    return
                time.sleep(server._per_token * len(tokens))
                self._send_json(
                    200,
                    {
                        "id": ident,
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": served,
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": "".join(tokens)},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": usage,
                    },
                )

            def _stream(
                self,
                ident: str,
                served: str,
                tokens: list[str],
                usage: dict[str, int],
                request: dict[str, Any],
                rng: random.Random,
            ) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                base: dict[str, Any] = {
                    "id": ident,
                    "object": "chat.completion.chunk",
                    "created": int(time.time()),
                    "model": served,
                }

                def event(payload: dict[str, Any] | str) -> None:
                    data = payload if isinstance(payload, str) else json.dumps(payload)
                    raw = f"data: {data}\n\n".encode()
                    self.wfile.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
                    self.wfile.flush()

                for i, token in enumerate(tokens):
                    delta: dict[str, Any] = {"content": token}
                    if i == 0:
                        delta["role"] = "assistant"
                    event(
                        {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
                    )
                    time.sleep(server._per_token * rng.uniform(0.5, 1.5))
                event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                if (request.get("stream_options") or {}).get("include_usage"):
                    event({**base, "choices": [], "usage": usage})
                event("[DONE]")
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

        return Handler
