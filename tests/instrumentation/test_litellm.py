"""litellm Router instrumentation against a real local OpenAI-compatible HTTP server."""

from __future__ import annotations

import json
import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network at import

from collections.abc import Iterator
from typing import Any

import litellm
import pytest
import wrapt
from litellm import Router
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from otel_llm import _runtime
from otel_llm.instrumentation.litellm import LiteLLMInstrumentor, fallback_reason
from otel_llm.testing import Capture
from tests.helpers import run_python
from tests.instrumentation.conftest_tokenizers import (
    REPLY,
    SERVED_MODEL,
    OpenAIServer,
    instrumented,
    openai_server,
)

pytestmark = pytest.mark.filterwarnings(
    # litellm's own types trip a pydantic UserWarning; not ours to fix
    "ignore:Item .* is using the `ReadOnly` qualifier:UserWarning",
    "ignore::pydantic.warnings.PydanticDeprecatedSince211",
)

MESSAGES = [{"role": "user", "content": "Say hello"}]
ATTEMPT = "chat gpt-4o-mini"


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAIServer]:
    """The local server, shared by this module's tests."""
    with openai_server() as srv:
        yield srv


@pytest.fixture(autouse=True)
def _instrument_litellm() -> Iterator[object]:
    """litellm instrumented for each test here, uninstrumented afterwards."""
    yield from instrumented(LiteLLMInstrumentor())


def _deployment(group: str, base_url: str) -> dict[str, Any]:
    params = {"model": "openai/gpt-4o-mini", "api_key": "sk-test", "api_base": base_url}
    return {"model_name": group, "litellm_params": {**params, "max_retries": 0}}


@pytest.fixture
def router(server: OpenAIServer) -> Router:
    """primary (always 429) falls back to backup (200); 'down' has no fallback."""
    return Router(
        model_list=[
            _deployment("primary", server.url("ratelimited")),
            _deployment("backup", server.url("ok")),
            _deployment("down", server.url("ratelimited")),
        ],
        fallbacks=[{"primary": ["backup"]}],
        num_retries=0,
    )


def _attrs(span: Any) -> dict[str, Any]:
    return dict(span.attributes or {})


def _gen_attrs(span: Any) -> dict[str, Any]:
    """Generation span attributes, minus the cost ones (priced by the cost engine, not here)."""
    return {k: v for k, v in _attrs(span).items() if not k.startswith("otel_llm.cost")}


def _assert_fallback_tree(capture: Capture, port: int) -> None:
    route = capture.span("route litellm")
    assert route.kind == SpanKind.INTERNAL
    assert _attrs(route) == {
        "otel_llm.route.name": "litellm",
        "otel_llm.route.candidates": ("primary", "backup"),
        "otel_llm.route.requested_model": "primary",
        "otel_llm.route.selected_model": "backup",
        "otel_llm.route.reason": "fallback",
        "otel_llm.route.attempts": 2,
        "otel_llm.route.fallbacks": 1,
    }
    assert route.status.status_code == StatusCode.UNSET
    (event,) = route.events
    assert event.name == "otel_llm.route.fallback"
    assert dict(event.attributes or {}) == {
        "otel_llm.route.fallback.from": "primary",
        "otel_llm.route.fallback.to": "backup",
        "otel_llm.route.fallback.reason": "rate_limited",
        "error.type": "RateLimitError",
    }
    failed, served = capture.children(route)
    assert failed.name == served.name == ATTEMPT
    assert failed.kind == served.kind == SpanKind.CLIENT
    common = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "server.address": "127.0.0.1",
        "server.port": port,
        "gen_ai.request.max_tokens": 16,
    }
    assert _gen_attrs(failed) == {**common, "error.type": "RateLimitError"}
    assert failed.status.status_code == StatusCode.ERROR
    assert _gen_attrs(served) == {
        **common,
        "gen_ai.response.model": SERVED_MODEL,
        "gen_ai.response.id": "chatcmpl-local1",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 9,
        "gen_ai.usage.output_tokens": 4,
    }
    # metrics: usage once, one duration per attempt, one fallback, one selection
    assert capture.metric_sum("gen_ai.client.token.usage", gen_ai_token_type="input") == 9
    assert capture.metric_sum("gen_ai.client.token.usage", gen_ai_token_type="output") == 4
    durations = capture.metric_points("gen_ai.client.operation.duration")
    assert sorted(p.attributes.get("error.type", "") for p in durations) == ["", "RateLimitError"]
    (fallback,) = capture.metric_points("otel_llm.route.fallbacks")
    assert fallback.value == 1
    assert fallback.attributes == {"otel_llm.route.name": "litellm", **dict(event.attributes or {})}
    (selection,) = capture.metric_points("otel_llm.route.selections")
    assert selection.attributes == {
        "otel_llm.route.name": "litellm",
        "otel_llm.route.selected_model": "backup",
        "otel_llm.route.reason": "fallback",
    }
    assert capture.histogram_count("otel_llm.route.duration", otel_llm_route_name="litellm") == 1


def test_fallback_is_a_route_with_two_attempts(
    otel_capture: Capture, router: Router, server: OpenAIServer
) -> None:
    """A 429 on primary then 200 on backup: route span, two attempt spans, one fallback event."""
    response = router.completion(model="primary", messages=MESSAGES, max_tokens=16)
    assert response.choices[0].message.content == "".join(REPLY)
    _assert_fallback_tree(otel_capture, server.port)


async def test_async_fallback_has_the_same_tree(
    otel_capture: Capture, router: Router, server: OpenAIServer
) -> None:
    """router.acompletion records the same route, attempts and fallback as the sync call."""
    response = await router.acompletion(model="primary", messages=MESSAGES, max_tokens=16)
    assert response.choices[0].message.content == "".join(REPLY)
    _assert_fallback_tree(otel_capture, server.port)


async def test_sync_call_inside_a_running_loop_keeps_its_attempts(
    otel_capture: Capture, router: Router, server: OpenAIServer
) -> None:
    """Sync completion() from async code (litellm uses a worker thread): same tree as usual."""
    response = router.completion(model="primary", messages=MESSAGES, max_tokens=16)
    assert response.choices[0].message.content == "".join(REPLY)
    _assert_fallback_tree(otel_capture, server.port)


def test_requested_group_serves_without_fallback(otel_capture: Capture, router: Router) -> None:
    """Served by the requested group: one attempt, reason 'requested', no fallback event."""
    with trace.get_tracer("app").start_as_current_span("handler"):
        router.completion(model="backup", messages=MESSAGES)
    handler = otel_capture.span("handler")
    (route,) = otel_capture.children(handler)
    assert route.name == "route litellm"
    attrs = _attrs(route)
    assert attrs["otel_llm.route.candidates"] == ("backup",)
    assert attrs["otel_llm.route.selected_model"] == "backup"
    assert attrs["otel_llm.route.reason"] == "requested"
    assert (attrs["otel_llm.route.attempts"], attrs["otel_llm.route.fallbacks"]) == (1, 0)
    assert route.events == ()
    (attempt,) = otel_capture.children(route)
    assert _attrs(attempt)["gen_ai.usage.output_tokens"] == 4
    assert otel_capture.metric_points("otel_llm.route.fallbacks") == []


def test_every_group_failing_raises_the_libraries_error(
    otel_capture: Capture, router: Router
) -> None:
    """No group can serve: litellm's RateLimitError reaches the caller; the route is an error."""
    with pytest.raises(litellm.RateLimitError):
        router.completion(model="down", messages=MESSAGES)
    route = otel_capture.span("route litellm")
    assert route.status.status_code == StatusCode.ERROR
    assert _attrs(route)["error.type"] == "RateLimitError"
    assert "otel_llm.route.selected_model" not in _attrs(route)
    (attempt,) = otel_capture.children(route)
    assert _attrs(attempt)["error.type"] == "RateLimitError"
    (duration,) = otel_capture.metric_points("otel_llm.route.duration")
    assert duration.attributes == {"otel_llm.route.name": "litellm", "error.type": "RateLimitError"}


def test_a_retry_is_another_attempt_not_a_fallback(
    otel_capture: Capture, server: OpenAIServer
) -> None:
    """num_retries=1 on a failing group: two failed attempts, no fallback event."""
    router = Router(model_list=[_deployment("flaky", server.url("ratelimited"))], num_retries=1)
    with pytest.raises(litellm.RateLimitError):
        router.completion(model="flaky", messages=MESSAGES)
    route = otel_capture.span("route litellm")
    attrs = _attrs(route)
    assert (attrs["otel_llm.route.attempts"], attrs["otel_llm.route.fallbacks"]) == (2, 0)
    assert [e.name for e in route.events] == ["exception"]  # the final error, no fallback
    attempts = otel_capture.children(route)
    assert [_attrs(a)["error.type"] for a in attempts] == ["RateLimitError"] * 2


def test_sync_stream_attempt_stays_open_until_consumed(
    otel_capture: Capture, router: Router
) -> None:
    """stream=True: the attempt is a streaming span with chunks, TTFT and the final usage."""
    stream = router.completion(
        model="primary",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    assert otel_capture.spans(ATTEMPT) == [otel_capture.spans(ATTEMPT)[0]]  # only the failed one
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "".join(REPLY)
    route = otel_capture.span("route litellm")
    assert _attrs(route)["otel_llm.route.selected_model"] == "backup"
    failed, served = otel_capture.children(route)
    attrs = _attrs(served)
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["otel_llm.stream.chunks"] == len(REPLY)
    assert attrs["gen_ai.response.time_to_first_chunk"] > 0
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert (attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"]) == (9, 4)
    assert served.status.status_code == StatusCode.UNSET
    assert _attrs(failed)["error.type"] == "RateLimitError"
    assert otel_capture.histogram_count("gen_ai.client.operation.time_to_first_chunk") == 1
    assert otel_capture.metric_sum("gen_ai.client.token.usage", gen_ai_token_type="output") == 4


async def test_async_stream_records_chunks(otel_capture: Capture, router: Router) -> None:
    """acompletion(stream=True): the async attempt span ends when the consumer finishes."""
    stream = await router.acompletion(
        model="backup", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
    assert "".join(parts) == "".join(REPLY)
    attempt = otel_capture.span(ATTEMPT)
    attrs = _attrs(attempt)
    assert attrs["otel_llm.stream.chunks"] == len(REPLY)
    assert attrs["gen_ai.usage.output_tokens"] == 4
    assert otel_capture.metric_sum("otel_llm.stream.active") == 0


def test_content_capture_records_prompt_and_reply(otel_capture: Capture, router: Router) -> None:
    """With SPAN_ONLY capture, attempts carry the semconv input and output messages."""
    _runtime.RT.capture = "SPAN_ONLY"  # the fixture restores the mode
    router.completion(model="backup", messages=MESSAGES)
    stream = router.completion(model="backup", messages=MESSAGES, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    plain, streamed = otel_capture.spans(ATTEMPT)
    prompt = [{"role": "user", "parts": [{"type": "text", "content": "Say hello"}]}]
    reply = [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "".join(REPLY)}],
            "finish_reason": "stop",
        }
    ]
    for span in (plain, streamed):
        assert json.loads(_attrs(span)["gen_ai.input.messages"]) == prompt
        assert json.loads(_attrs(span)["gen_ai.output.messages"]) == reply


def test_content_is_not_captured_by_default(otel_capture: Capture, router: Router) -> None:
    """Without opting in, no prompt or completion text reaches the spans."""
    router.completion(model="backup", messages=MESSAGES)
    attrs = _attrs(otel_capture.span(ATTEMPT))
    assert "gen_ai.input.messages" not in attrs
    assert "gen_ai.output.messages" not in attrs


def test_plain_litellm_completion_is_left_alone(
    otel_capture: Capture, server: OpenAIServer
) -> None:
    """Outside a Router, litellm.completion is not traced by this instrumentor."""
    response = litellm.completion(
        model="openai/gpt-4o-mini",
        api_key="sk-test",
        api_base=server.url("ok"),
        messages=MESSAGES,
    )
    assert response.choices[0].message.content == "".join(REPLY)
    assert otel_capture.spans() == []


def test_uninstrument_restores_router_and_litellm(otel_capture: Capture, router: Router) -> None:
    """After uninstrument() nothing is wrapped and a routed call records nothing."""
    instrumentor = LiteLLMInstrumentor()
    instrumentor.uninstrument()
    try:
        for name in ("completion", "acompletion", "_completion", "_acompletion"):
            assert not isinstance(Router.__dict__[name], wrapt.FunctionWrapper)
        assert not isinstance(litellm.router.run_async_function, wrapt.FunctionWrapper)
        assert not isinstance(litellm.completion, wrapt.FunctionWrapper)
        assert not isinstance(litellm.acompletion, wrapt.FunctionWrapper)
        router.completion(model="primary", messages=MESSAGES)
        assert otel_capture.spans() == []
    finally:
        instrumentor.instrument()
    assert isinstance(Router.__dict__["completion"], wrapt.FunctionWrapper)


def test_fallback_reasons_follow_the_exception_class() -> None:
    """Fallback reasons come from litellm's exception hierarchy, with 'error' as the default."""
    rate = litellm.RateLimitError("slow down", llm_provider="openai", model="m")
    timeout = litellm.Timeout("late", model="m", llm_provider="openai")
    window = litellm.ContextWindowExceededError("long", model="m", llm_provider="openai")
    assert [fallback_reason(e) for e in (rate, timeout, window, ValueError())] == [
        "rate_limited",
        "timeout",
        "context_window_exceeded",
        "error",
    ]


def test_openai_underneath_counts_tokens_once(
    otel_capture: Capture, router: Router, server: OpenAIServer
) -> None:
    """With the openai instrumentor active, litellm's SDK call nests; usage is counted once."""
    from otel_llm.instrumentation.openai import OpenAIInstrumentor

    openai_instrumentor = OpenAIInstrumentor()
    openai_instrumentor.instrument()
    try:
        response = router.completion(model="primary", messages=MESSAGES, max_tokens=16)
    finally:
        openai_instrumentor.uninstrument()
    assert response.choices[0].message.content == "".join(REPLY)
    route = otel_capture.span("route litellm")
    attempts = otel_capture.children(route)
    assert [a.name for a in attempts] == [ATTEMPT, ATTEMPT]
    for attempt in attempts:
        (inner,) = otel_capture.children(attempt)
        assert inner.name == ATTEMPT
        assert _attrs(inner)["gen_ai.provider.name"] == "openai"
    assert _attrs(attempts[1])["gen_ai.usage.input_tokens"] == 9
    assert otel_capture.metric_sum("gen_ai.client.token.usage", gen_ai_token_type="input") == 9
    assert otel_capture.metric_sum("gen_ai.client.token.usage", gen_ai_token_type="output") == 4
    assert otel_capture.histogram_count("gen_ai.client.operation.duration") == 2


def test_openai_underneath_a_streamed_attempt_counts_once(
    otel_capture: Capture, router: Router
) -> None:
    """A streamed attempt over the instrumented openai SDK: nested stream spans, usage once."""
    from otel_llm.instrumentation.openai import OpenAIInstrumentor

    openai_instrumentor = OpenAIInstrumentor()
    openai_instrumentor.instrument()
    try:
        stream = router.completion(
            model="backup",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    finally:
        openai_instrumentor.uninstrument()
    assert text == "".join(REPLY)
    route = otel_capture.span("route litellm")
    (attempt,) = otel_capture.children(route)
    (inner,) = otel_capture.children(attempt)
    assert _attrs(inner)["gen_ai.request.stream"] is True
    assert otel_capture.metric_sum("gen_ai.client.token.usage", gen_ai_token_type="output") == 4
    assert otel_capture.histogram_count("gen_ai.client.operation.duration") == 1
    assert otel_capture.histogram_count("gen_ai.client.operation.time_to_first_chunk") >= 1


def test_instrumenting_does_not_import_litellm() -> None:
    """instrument() never pays litellm's slow import; the wrappers wait for the app's import."""
    proc = run_python(
        """
        import sys
        from otel_llm.instrumentation.litellm import LiteLLMInstrumentor
        LiteLLMInstrumentor().instrument()
        print("litellm" in sys.modules, LiteLLMInstrumentor._wrapped)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False []"
