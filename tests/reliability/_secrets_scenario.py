"""An application that puts every corpus secret into every kind of telemetry otel-llm makes.

``run(secrets)`` uses the globally configured OpenTelemetry, with openai and anthropic
instrumented and content capture on: the real SDKs answered by ``MockTransport``. Where the
secrets go:

- prompts and completions (openai chat, streamed chat, anthropic messages);
- exception messages: a provider 401 whose body echoes the key the client used, a user
  exception raised inside a generation and inside an ``@traced`` function;
- log messages and fields (``otel_llm.get_logger``), an exception logged with its traceback;
- URLs: a ``base_url`` with user:password@ and a key in its query, ``url.full`` set by hand;
- user span attributes (``otel_llm.attributes`` extras, where its 256-character limit allows;
  ``set_attribute`` in ``@traced``);
- a model name and a feature name that are keys (they become metric labels).

``python -m tests.reliability._secrets_scenario ENDPOINT`` runs it under
``otel_llm.configure()`` with OTLP/HTTP to ENDPOINT and console exporters on stdout.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from opentelemetry import trace

import otel_llm
from tests.reliability.secrets_corpus import CORPUS, Secret


def _http(sdk: Any) -> Any:
    """The HTTP library an SDK is built on: httpx2 for recent releases, httpx before."""
    source = Path(sdk._base_client.__file__).read_text()
    return importlib.import_module("httpx2" if "\nimport httpx2" in source else "httpx")


def _openai(handler: Any, api_key: str, base_url: str) -> Any:
    import openai
    import openai._base_client  # where it lives tells _http the HTTP library

    http = _http(openai)
    return openai.OpenAI(
        api_key=api_key,
        base_url=base_url,
        http_client=http.Client(transport=http.MockTransport(handler)),
        max_retries=0,
    )


def _anthropic(handler: Any, api_key: str) -> Any:
    import anthropic
    import anthropic._base_client  # where it lives tells _http the HTTP library

    http = _http(anthropic)
    return anthropic.Anthropic(
        api_key=api_key,
        base_url="https://api.anthropic.com",
        http_client=http.Client(transport=http.MockTransport(handler)),
        max_retries=0,
    )


def _respond(status: int, body: Any, content_type: str = "application/json") -> Any:
    def handler(request: Any) -> Any:
        http = importlib.import_module(type(request).__module__.split(".")[0])
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return http.Response(status, headers={"content-type": content_type}, content=raw)

    return handler


def _chat(content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-secrets",
        "object": "chat.completion",
        "created": 1764000000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 900, "completion_tokens": 800, "total_tokens": 1700},
    }


def _chunks(texts: list[str]) -> bytes:
    base = {"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1764000000}
    base["model"] = "gpt-4o-mini-2024-07-18"
    events = [
        {**base, "choices": [{"index": 0, "delta": {"content": t + "\n"}, "finish_reason": None}]}
        for t in texts
    ]
    events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    events.append(
        {**base, "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 8,
                                          "total_tokens": 17}}
    )  # fmt: skip
    lines = [f"data: {json.dumps(e)}\n\n" for e in events] + ["data: [DONE]\n\n"]
    return "".join(lines).encode()


def _anthropic_message(content: str) -> dict[str, Any]:
    return {
        "id": "msg_secrets",
        "type": "message",
        "role": "assistant",
        "model": "claude-3-5-sonnet-20241022",
        "content": [{"type": "text", "text": content}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 900, "output_tokens": 800},
    }


def run(secrets: list[Secret]) -> int:
    """Place every secret everywhere; returns how many placements were made."""
    texts = [secret.text for secret in secrets]
    joined = "\n".join(texts)
    messages = [{"role": "user", "content": f"remember this: {text}"} for text in texts]
    placements = 0
    key = next(s.text.split("=", 1)[1] for s in CORPUS if s.name == "openai-legacy")
    log = otel_llm.get_logger("app.secrets")

    # prompts and completions, content captured
    client = _openai(_respond(200, _chat(joined)), key, "https://api.openai.com/v1")
    client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    stream = _openai(_respond(200, _chunks(texts), "text/event-stream"), key,
                     "https://api.openai.com/v1")  # fmt: skip
    for _ in stream.chat.completions.create(
        model="gpt-4o-mini", messages=messages, stream=True,
        stream_options={"include_usage": True},
    ):  # fmt: skip
        pass
    claude = _anthropic(_respond(200, _anthropic_message(joined)), key)
    claude.messages.create(
        model="claude-3-5-sonnet-20241022", max_tokens=64, system=joined, messages=messages
    )
    placements += 3

    # a provider error that echoes the key the client sent, and the whole corpus
    body = {"error": {"message": f"Incorrect API key provided: {key}. Context: {joined}",
                      "type": "invalid_request_error", "code": "invalid_api_key"}}  # fmt: skip
    rejecting: list[Callable[[], Any]] = [
        lambda: _openai(_respond(401, body), key, "https://api.openai.com/v1")
        .chat.completions.create(model="gpt-4o-mini", messages=messages[:1]),
        lambda: _anthropic(_respond(401, body), key)
        .messages.create(model="claude-3-5-sonnet-20241022", max_tokens=8, messages=messages[:1]),
    ]  # fmt: skip
    for failing in rejecting:
        try:
            failing()
        except Exception as exc:
            log.exception("provider call failed", error=str(exc))
            placements += 1

    # a user exception inside a generation and inside @traced
    try:
        with otel_llm.generation(model="gpt-4o-mini", provider="openai"):
            raise RuntimeError(f"post-processing failed for {joined}")
    except RuntimeError:
        placements += 1

    @otel_llm.traced(name="load_settings", attributes={"app.config": joined})
    def load_settings() -> None:
        span = trace.get_current_span()
        for i, text in enumerate(texts):
            span.set_attribute(f"app.setting.{i}", text)
        span.set_attribute("app.settings", texts)
        span.add_event("settings loaded", {"raw": joined})
        raise ValueError(f"bad settings: {joined}")

    try:
        load_settings()
    except ValueError:
        placements += 1

    # logs: messages, fields, nested fields
    for secret in secrets:
        log.info(f"connecting with {secret.text}", credential=secret.text,
                 nested={"inner": [secret.text]})  # fmt: skip
        placements += 1

    # URLs: a base_url with user:password@ and a key in the query string
    userinfo = next(s for s in CORPUS if s.name == "https-userinfo").text.split("=", 1)[1]
    query = next(s for s in CORPUS if s.name == "url-query-api-key").text.split(" ", 1)[1]
    proxied = _openai(_respond(200, _chat("ok")), key, userinfo)
    proxied.chat.completions.create(model="gpt-4o-mini", messages=messages[:1])
    with otel_llm.generation(model="gpt-4o-mini", provider="openai", server_address="proxy"):
        trace.get_current_span().set_attribute("url.full", query)
        trace.get_current_span().set_attribute("http.url", userinfo)
    placements += 2

    # user attributes on every span of a block (the feature is a metric label), and a key
    # pasted as a model name
    extras = {f"app.extra_{i}": text for i, text in enumerate(texts) if len(text) <= 256}
    github = next(s for s in CORPUS if s.name == "github-ghp").text.split(" ")[-1]
    with otel_llm.attributes(user_id=key, feature=github, **extras):
        with otel_llm.generation(model=key, provider="openai") as gen:
            gen.set_response(model=key, input_tokens=3, output_tokens=1)
    placements += 2
    return placements


def main() -> None:
    """Configure otel-llm (OTLP/HTTP to argv[1], console exporters on stdout) and run."""
    tel = otel_llm.configure(
        service_name="secrets-scenario",
        traces_exporter=["otlp", "console"],
        metrics_exporter=["otlp", "console"],
        logs_exporter=["otlp", "console"],
        otlp_endpoint=sys.argv[1],
        otlp_protocol="http/protobuf",
        capture_content="SPAN_AND_EVENT",
        instrument=["openai", "anthropic"],
        log_format="json",
    )
    placements = run(CORPUS)
    tel.force_flush()
    tel.shutdown()
    print(json.dumps({"placements": placements}), file=sys.stderr)


if __name__ == "__main__":
    main()
