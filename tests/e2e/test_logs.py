"""Trace-correlated logs in Elasticsearch, and secrets kept out of every backend.

The loopback stack posts each OTLP/JSON logs request into the `otel-logs` index as one document
(collector-config/loopback.yaml), so records are found by walking
resourceLogs[].scopeLogs[].logRecords[] of each document.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import pytest

from tests.e2e.conftest import DEMO_SERVICE, DemoRun, python_workload, wait_for
from tests.e2e.stack import ES_LOGS_INDEX, Stack, get_json, http

pytestmark = pytest.mark.e2e

# Shaped like real credentials so both the SDK's and the collector's patterns match them.
OPENAI_KEY = "sk-proj-E2eSecretDoNotLeak0123456789abcdef"
BEARER = "Bearer e2eSecretBearerTokenDoNotLeak0123456789"


def log_records(stack: Stack) -> list[dict[str, Any]]:
    """Every OTLP log record stored in the logs index, with its service name."""
    http("POST", f"{stack.elasticsearch}/{ES_LOGS_INDEX}/_refresh")
    status, body = http(
        "GET", f"{stack.elasticsearch}/{ES_LOGS_INDEX}/_search?size=1000", timeout=10
    )
    if status != 200 or not isinstance(body, dict):
        return []
    records = []
    for hit in body["hits"]["hits"]:
        for resource_logs in hit["_source"].get("resourceLogs", []):
            resource = {
                a["key"]: a["value"].get("stringValue")
                for a in resource_logs.get("resource", {}).get("attributes", [])
            }
            for scope_logs in resource_logs.get("scopeLogs", []):
                for record in scope_logs.get("logRecords", []):
                    records.append({**record, "service": resource.get("service.name")})
    return records


def body_text(record: dict[str, Any]) -> str:
    """A log record's body as text."""
    return json.dumps(record.get("body", {}))


def test_demo_logs_carry_the_trace_ids_jaeger_shows(stack: Stack, demo: DemoRun) -> None:
    """Each demo request's 'request received' record is in ES with its trace id (hex)."""
    wanted = set(demo.trace_ids)

    def found() -> set[str]:
        ids = {
            r.get("traceId", "").lower()
            for r in log_records(stack)
            if r["service"] == DEMO_SERVICE and "request received" in body_text(r)
        }
        return ids if wanted <= ids else set()

    assert wait_for("the demo's log records in Elasticsearch", found, deadline_s=60)
    jaeger_trace = get_json(f"{stack.jaeger}/api/traces/{demo.trace_ids[0]}")["data"][0]
    assert jaeger_trace["traceID"] == demo.trace_ids[0]


SDK_WORKLOAD = f"""
import otel_llm
tel = otel_llm.configure(
    service_name="e2e-secrets-sdk", traces_exporter="otlp", metrics_exporter="none",
    logs_exporter="otlp", otlp_endpoint=__ENDPOINT__, otlp_protocol="http/protobuf",
)
log = otel_llm.get_logger("e2e")
with otel_llm.generation(model="gpt-4o-mini", provider="openai", operation="chat") as g:
    log.info("calling the model with api key {OPENAI_KEY}", header="{BEARER}")
    g.set_response(model="gpt-4o-mini", input_tokens=3, output_tokens=1)
tel.force_flush()
tel.shutdown()
print("ok")
"""

RAW_WORKLOAD = f"""
# The raw OpenTelemetry SDK: no otel-llm redaction, so only the collector stands in the way.
from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

endpoint = __ENDPOINT__
resource = Resource.create({{"service.name": "e2e-secrets-raw"}})
tp = TracerProvider(resource=resource)
tp.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint + "/v1/traces")))
lp = LoggerProvider(resource=resource)
log_exporter = OTLPLogExporter(endpoint=endpoint + "/v1/logs")
lp.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
logger = lp.get_logger("e2e.raw")
with tp.get_tracer("e2e.raw").start_as_current_span("leaky") as span:
    span.set_attribute("http.request.header.authorization", "{BEARER}")
    span.set_attribute("app.note", "key={OPENAI_KEY}")
    ctx = span.get_span_context()
    logger.emit(  # in the current context: the record carries the span's trace id
        severity_number=SeverityNumber.INFO, severity_text="INFO",
        body="raw record with {OPENAI_KEY} and {BEARER}",
        attributes={{"auth": "{BEARER}"}},
    )
    print(format(ctx.trace_id, "032x"))
tp.shutdown()
lp.shutdown()
"""


def run_workload(stack: Stack, code: str) -> str:
    """Run a secrets workload against the stack; returns its stdout."""
    result = python_workload(code.replace("__ENDPOINT__", repr(stack.otlp_http)), timeout=90)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def secret_free(text: str) -> None:
    """Neither credential (nor its distinctive core) appears in `text`."""
    for secret in ("E2eSecretDoNotLeak", "e2eSecretBearerTokenDoNotLeak"):
        assert secret not in text


def test_secrets_from_the_sdk_reach_no_backend(stack: Stack) -> None:
    """A key logged through otel-llm arrives masked in ES and never in Jaeger."""
    run_workload(stack, SDK_WORKLOAD)
    records = wait_for(
        "the SDK secrets record in Elasticsearch",
        lambda: [r for r in log_records(stack) if r["service"] == "e2e-secrets-sdk"],
    )
    assert "calling the model" in body_text(records[0])
    secret_free(json.dumps(records))
    trace_id = records[0]["traceId"].lower()
    trace = wait_for(
        "the SDK secrets trace in Jaeger",
        lambda: get_json(f"{stack.jaeger}/api/traces/{trace_id}")["data"],
    )
    secret_free(json.dumps(trace))


def test_collector_masks_secrets_the_app_did_not(stack: Stack) -> None:
    """Defence in depth: credentials sent raw (no SDK redaction) are masked by the collector."""
    trace_id = run_workload(stack, RAW_WORKLOAD).strip()
    records = wait_for(
        "the raw secrets record in Elasticsearch",
        lambda: [r for r in log_records(stack) if r["service"] == "e2e-secrets-raw"],
    )
    secret_free(json.dumps(records))
    assert "raw record with" in body_text(records[0])
    assert records[0]["traceId"].lower() == trace_id
    query = urllib.parse.quote(trace_id)
    trace = wait_for(
        "the raw secrets trace in Jaeger",
        lambda: get_json(f"{stack.jaeger}/api/traces/{query}")["data"],
    )
    secret_free(json.dumps(trace))
