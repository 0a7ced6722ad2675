"""Jaeger's Elasticsearch storage (collector-config/jaeger-elasticsearch.yaml), the documented way
to scale Jaeger out, against the suite's real Elasticsearch: spans are indexed and read back."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.deploy._binaries import CONFIG, jaeger_path
from tests.e2e.conftest import python_workload, wait_for
from tests.e2e.stack import Stack, free_ports, http

pytestmark = pytest.mark.e2e

PREFIX = "e2e-es"

WORKLOAD = """
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

tp = TracerProvider(resource=Resource.create({"service.name": "e2e-jaeger-es"}))
tp.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=%(endpoint)r)))
with tp.get_tracer("e2e").start_as_current_span("route demo-router") as root:
    with tp.get_tracer("e2e").start_as_current_span("chat gpt-4o-mini") as child:
        child.set_attribute("gen_ai.request.model", "gpt-4o-mini")
    print(format(root.get_span_context().trace_id, "032x"))
tp.shutdown()
"""


@pytest.fixture(scope="module")
def jaeger_es(stack: Stack) -> Iterator[dict[str, int]]:
    """A second Jaeger, storing in the suite's Elasticsearch, on its own free ports."""
    ports = free_ports(["grpc", "http", "query", "query_grpc", "health", "health_grpc"])
    env = {
        "JAEGER_OTLP_GRPC_LISTEN": f"127.0.0.1:{ports['grpc']}",
        "JAEGER_OTLP_HTTP_LISTEN": f"127.0.0.1:{ports['http']}",
        "JAEGER_QUERY_HTTP_LISTEN": f"127.0.0.1:{ports['query']}",
        "JAEGER_QUERY_GRPC_LISTEN": f"127.0.0.1:{ports['query_grpc']}",
        "JAEGER_HEALTH_LISTEN": f"127.0.0.1:{ports['health']}",
        "JAEGER_HEALTH_GRPC_LISTEN": f"127.0.0.1:{ports['health_grpc']}",
        "JAEGER_PROMETHEUS_URL": stack.prometheus,
        "JAEGER_ELASTICSEARCH_URL": stack.elasticsearch,
        "JAEGER_ES_INDEX_PREFIX": PREFIX,
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://127.0.0.1:{ports['grpc']}",
        "OTEL_EXPORTER_OTLP_TRACES_INSECURE": "true",
    }
    configs = [CONFIG / "jaeger.yaml", CONFIG / "jaeger-elasticsearch.yaml"]
    stack.start("jaeger-es", [str(jaeger_path()), *(f"--config={c}" for c in configs)], env)
    status_url = f"http://127.0.0.1:{ports['health']}/status"
    try:
        stack.wait_until(
            f"Jaeger (ES storage) health at {status_url}",
            lambda: "StatusOK" in json.dumps(http("GET", status_url)[1]),
            60,
            "jaeger-es",
        )
        yield ports
    finally:
        stack.stop("jaeger-es")


def test_spans_are_indexed_in_elasticsearch_and_served_back(
    stack: Stack, jaeger_es: dict[str, int]
) -> None:
    """A trace sent to Jaeger lands in the jaeger-span index and the query API reads it back."""
    endpoint = f"http://127.0.0.1:{jaeger_es['http']}/v1/traces"
    result = python_workload(WORKLOAD % {"endpoint": endpoint}, timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    trace_id = result.stdout.strip()

    def indexed() -> list[dict[str, object]]:
        http("POST", f"{stack.elasticsearch}/{PREFIX}-jaeger-span-*/_refresh")
        status, body = http(
            "GET", f"{stack.elasticsearch}/{PREFIX}-jaeger-span-*/_search?q=traceID:{trace_id}"
        )
        return body["hits"]["hits"] if status == 200 and isinstance(body, dict) else []

    hits = wait_for("the spans in Elasticsearch", lambda: len(indexed()) == 2 and indexed())
    assert {h["_source"]["operationName"] for h in hits} == {
        "route demo-router",
        "chat gpt-4o-mini",
    }
    query = f"http://127.0.0.1:{jaeger_es['query']}/api/traces/{trace_id}"
    trace = wait_for(
        "the trace through Jaeger's API",
        lambda: (lambda r: r[1]["data"] if r[0] == 200 else None)(http("GET", query)),
    )
    assert len(trace[0]["spans"]) == 2
