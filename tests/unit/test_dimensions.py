"""Metric dimensions from attributes() and the W3C baggage opt-in."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator

import httpx
import pytest
from opentelemetry import propagate

import otel_llm
from otel_llm import _attributes
from otel_llm._settings import resolve
from otel_llm.testing import Capture
from tests.helpers import run_python

Declare = Callable[..., None]


@pytest.fixture
def declare() -> Iterator[Declare]:
    """Apply dimension/baggage settings the way configure() does; restore the defaults after."""

    def apply(dimensions: Iterable[str] = ("feature",), baggage: bool = False) -> None:
        _attributes.configure(dimensions=dimensions, baggage=baggage)

    yield apply
    _attributes.configure(dimensions=_attributes.DEFAULT_METRIC_DIMENSIONS, baggage=False)


def _chat(tokens: int = 3) -> None:
    with otel_llm.generation(model="gpt-4o-mini", provider="openai") as g:
        g.set_response(input_tokens=tokens, output_tokens=1)


DIMENSIONAL = ("gen_ai.client.operation.duration", "gen_ai.client.token.usage", "otel_llm.cost")


def test_declared_dimensions_label_duration_token_and_cost_metrics(
    otel_capture: Capture, declare: Declare
) -> None:
    """Declared keys become labels of the three metrics; undeclared extras do not."""
    declare(["feature", "tenant_tier"])
    with otel_llm.attributes(feature="summarise", tenant_tier="gold", region="eu-west"):
        _chat()
    for name in DIMENSIONAL:
        points = otel_capture.metric_points(name)
        assert points, name
        for point in points:
            assert point.attributes["otel_llm.feature"] == "summarise", name
            assert point.attributes["tenant_tier"] == "gold", name
            assert "region" not in point.attributes, name
    assert (otel_capture.span("chat gpt-4o-mini").attributes or {})["region"] == "eu-west"


def test_no_dimensions_means_no_request_labels(otel_capture: Capture, declare: Declare) -> None:
    """metric_dimensions=[] keeps even `feature` off the metrics (spans still have it)."""
    declare([])
    with otel_llm.attributes(feature="summarise"):
        _chat()
    for name in DIMENSIONAL:
        for point in otel_capture.metric_points(name):
            assert "otel_llm.feature" not in point.attributes, name
    assert (otel_capture.span("chat gpt-4o-mini").attributes or {})["otel_llm.feature"] == (
        "summarise"
    )


def test_dimensions_are_read_when_the_operation_starts(
    otel_capture: Capture, declare: Declare
) -> None:
    """The labels are those active at the generation's start, even if it ends outside."""
    declare(["feature"])
    with otel_llm.attributes(feature="search"):
        g = otel_llm.generation(model="gpt-4o-mini", provider="openai").start()
    g.set_response(input_tokens=2, output_tokens=1)
    g.end()
    assert otel_capture.metric_sum("otel_llm.cost", otel_llm_feature="search") > 0
    assert otel_capture.histogram_count("gen_ai.client.operation.duration") == 1


def test_dimension_value_over_the_length_limit_raises_at_the_call(declare: Declare) -> None:
    """A dimension value is a label: over 64 characters or a float is a ValueError."""
    declare(["feature", "tenant_tier"])
    with pytest.raises(ValueError, match="tenant_tier is a metric dimension: at most 64"):
        otel_llm.attributes(tenant_tier="t" * 65)
    with pytest.raises(ValueError, match=r"otel_llm\.feature is a metric dimension: a str, int"):
        otel_llm.attributes(feature=0.5)
    otel_llm.attributes(note="n" * 200, tenant_tier="t" * 64)  # not a dimension / at the limit


@pytest.mark.parametrize(
    ("names", "match"),
    [
        (["user_id"], "'user_id' is an id"),
        (["conversation_id"], "'conversation_id' is an id"),
        (["gen_ai.conversation.id"], "is an id"),
        (["user.id"], "is an id"),
        (["session_id", "feature"], "'session_id' is an id"),
        (["tenantId"], "'tenantId' is an id"),
        (["requestid"], "'requestid' is an id"),
        (["customer_email"], "is an id"),
        (["gen_ai.request.model"], "is reserved"),
        (["error.type"], "is reserved"),
        (["tenant tier"], "not an attribute name"),
        ([""], "not an attribute name"),
        (["a", "b", "c", "d", "e", "f"], "at most 5 dimensions"),
    ],
)
def test_bad_dimension_names_raise_at_configure(names: list[str], match: str) -> None:
    """Ids, reserved and malformed keys, or too many keys, are a ValueError naming the key."""
    with pytest.raises(ValueError, match=match):
        resolve(metric_dimensions=names)


def test_dimension_names_are_resolved_from_argument_env_and_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Default `feature`; the variable is a comma list (`none` empties it); arguments win."""
    assert resolve().metric_dimensions == ("feature",)
    monkeypatch.setenv("OTEL_LLM_METRIC_DIMENSIONS", "feature, tenant_tier,feature")
    assert resolve().metric_dimensions == ("feature", "tenant_tier")
    assert resolve(metric_dimensions=["plan"]).metric_dimensions == ("plan",)
    monkeypatch.setenv("OTEL_LLM_METRIC_DIMENSIONS", "none")
    assert resolve().metric_dimensions == ()


def test_bad_dimension_in_the_environment_warns_once_and_is_ignored(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An id in OTEL_LLM_METRIC_DIMENSIONS: one warning naming it; the good keys are kept."""
    monkeypatch.setenv("OTEL_LLM_METRIC_DIMENSIONS", "feature,user_id,tenant_tier,user.id")
    with caplog.at_level(logging.WARNING, logger="otel_llm"):
        settings = resolve()
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1, warnings
    assert "OTEL_LLM_METRIC_DIMENSIONS" in warnings[0]
    assert "'user_id' is an id" in warnings[0] and "'user.id' is an id" in warnings[0]
    assert settings.metric_dimensions == ("feature", "tenant_tier")


IDS = {"conv-1f3a9", "user-77aa", "req-0042", "sess-xy", "resp-9b1", "call-1"}


def test_ids_never_reach_any_metric_point() -> None:
    """After a workload over every API with ids set, no metric point carries an id."""
    proc = run_python(
        """
        import json
        from opentelemetry import metrics
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        reader = InMemoryMetricReader()
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        import otel_llm
        otel_llm.configure(traces_exporter="none", logs_exporter="none", logging=False,
                           metric_dimensions=["feature", "tenant_tier"], instrument=False)
        with otel_llm.attributes(conversation_id="conv-1f3a9", user_id="user-77aa",
                                 feature="chat", tenant_tier="gold", request_id="req-0042",
                                 session="sess-xy"):
            with otel_llm.route("main") as r:
                with otel_llm.generation(model="gpt-4o-mini", provider="openai") as g:
                    g.set_response(input_tokens=5, output_tokens=2, model="gpt-4o-mini",
                                   response_id="resp-9b1")
                r.select("gpt-4o-mini")
            with otel_llm.stream(model="gpt-4o-mini", provider="openai") as s:
                s.chunk("a"); s.chunk("b")
            try:
                with otel_llm.generation(model="gpt-4o-mini", provider="openai"):
                    raise TimeoutError("request req-0042 timed out")
            except TimeoutError:
                pass
            with otel_llm.tool("search", call_id="call-1"):
                pass
            with otel_llm.cache_lookup("prompts") as c:
                c.miss(reason="expired")
            with otel_llm.tokenize("encode", "o200k_base", text="hello"):
                pass
        points = []
        for rm in reader.get_metrics_data().resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    for p in m.data.data_points:
                        points.append([m.name, dict(p.attributes or {})])
        print(json.dumps(points))
        """
    )
    assert proc.returncode == 0, proc.stderr
    points = json.loads(proc.stdout)
    names = {name for name, _ in points}
    assert {"otel_llm.cost", "gen_ai.client.token.usage", "otel_llm.tool.duration"} <= names
    assert {"otel_llm.cache.lookups", "otel_llm.tokenizer.duration"} <= names
    for name, attributes in points:
        assert not {"gen_ai.conversation.id", "user.id", "request_id", "session"} & set(
            attributes
        ), (name, attributes)
        assert not IDS & {str(v) for v in attributes.values()}, (name, attributes)
    labelled = [a for n, a in points if n == "otel_llm.cost"]
    assert labelled and all(a["tenant_tier"] == "gold" for a in labelled)


def test_dimension_series_are_capped_by_the_cardinality_limit() -> None:
    """200 feature values with a cap of 20: 20 series, then everything in one overflow series."""
    proc = run_python(
        """
        import urllib.request
        import otel_llm
        tel = otel_llm.configure(traces_exporter="none", logs_exporter="none", logging=False,
                                 metrics_exporter="prometheus", prometheus_port=0,
                                 metric_cardinality_limit=20, instrument=False)
        for i in range(200):
            with otel_llm.attributes(feature=f"f{i}"):
                with otel_llm.generation(model="gpt-4o-mini", provider="openai") as g:
                    g.set_response(input_tokens=1, output_tokens=1)
        print(urllib.request.urlopen(tel.prometheus_url, timeout=10).read().decode())
        """
    )
    assert proc.returncode == 0, proc.stderr
    series = [
        line
        for line in proc.stdout.splitlines()
        if line.startswith("gen_ai_client_operation_duration_seconds_count{")
    ]
    overflow = [line for line in series if 'otel_metric_overflow="true"' in line]
    assert len(series) == 21 and len(overflow) == 1, series
    assert overflow[0].endswith(" 180.0"), overflow


def _downstream_headers() -> httpx.Headers:
    """Send one request through the real global propagator; return the headers it carried."""
    seen: list[httpx.Headers] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers)
        return httpx.Response(204)

    def inject(request: httpx.Request) -> None:
        propagate.inject(request.headers)  # what HTTP client instrumentations do

    transport = httpx.MockTransport(handler)
    with httpx.Client(transport=transport, event_hooks={"request": [inject]}) as client:
        client.get("http://downstream.invalid/api")
    return seen[0]


@pytest.mark.parametrize("opted_in", [False, True])
def test_baggage_header_only_when_opted_in(
    otel_capture: Capture, declare: Declare, opted_in: bool
) -> None:
    """With baggage on, attributes() values reach downstream services in `baggage`."""
    declare(baggage=opted_in)
    with otel_llm.attributes(user_id="u-42", feature="summarise", tenant_tier="gold"):
        with otel_llm.tool("call_downstream"):
            headers = _downstream_headers()
    after = _downstream_headers()
    assert "traceparent" in headers
    assert "baggage" not in after, "the baggage ends with the block"
    if not opted_in:
        assert "baggage" not in headers
        return
    entries = dict(pair.split("=", 1) for pair in headers["baggage"].split(","))
    assert entries == {"user.id": "u-42", "otel_llm.feature": "summarise", "tenant_tier": "gold"}
