"""Redaction: a corpus of secret shapes never reaches rendered lines, LogRecords or spans."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, Status, StatusCode

from otel_llm import semconv
from otel_llm._logging import get_logger, setup_logging, teardown_logging
from otel_llm._redact import (
    REDACTED,
    Redactor,
    pattern_error,
    wrap_log_exporter,
    wrap_span_exporter,
)

CUSTOM = r"\bcust_[0-9a-f]{12}\b"
"""A user-configured pattern (an internal customer token format)."""

# (name, text carrying a secret, the secret part that must never be exported)
CORPUS: list[tuple[str, str, str]] = [
    ("openai-legacy", "key sk-4f9aB2cD8eF1gH3iJ5kL7mN9oP0qR2sT4uV6wX8yZ0aB1cD", "4f9aB2cD8eF1gH3"),
    ("openai-project", "key sk-proj-Zx9_Yw8-Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa", "Zx9_Yw8-Vu7Ts6Rq"),
    ("openai-service", "key sk-svcacct-Qq1Ww2Ee3Rr4Tt5Yy6Uu7Ii8Oo9Pp0", "Qq1Ww2Ee3Rr4Tt5"),
    ("openai-admin", "key sk-admin-Aa1Bb2Cc3Dd4Ee5Ff6Gg7Hh8", "Aa1Bb2Cc3Dd4Ee5"),
    (
        "anthropic",
        "key sk-ant-api03-Jk8Lm9Np0Qr1St2Uv3Wx4Yz5Ab6Cd7Ef8Gh9-Ij0KlAA",
        "Jk8Lm9Np0Qr1St2",
    ),
    ("aws-access-key", "aws id AKIAIOSFODNN7EXAMPLE in env", "IOSFODNN7EXAMPLE"),
    ("aws-session-key", "aws id ASIAY34FZKBOKMUTVV7A in env", "Y34FZKBOKMUTVV7A"),
    (
        "aws-secret-pair",
        "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY loaded",
        "wJalrXUtnFEMI",
    ),
    ("authorization-bearer", "Authorization: Bearer abc123.def456-ghi789", "abc123.def456"),
    ("authorization-basic", "authorization: Basic dXNlcjpodW50ZXIy", "dXNlcjpodW50ZXIy"),
    ("bearer-anywhere", "retry with bearer 9f8e7d6c5b4a3f2e1d0c", "9f8e7d6c5b4a3f2e1d0c"),
    ("bearer-letters", "sent Bearer abcDEFghiJKLmnop today", "abcDEFghiJKLmnop"),
    (
        "jwt",
        "session eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dBjftJeZ4CVPmB92K27uhbUJU1p1r",
        "eyJzdWIiOiIxMjM0NTY3ODkwIn0",
    ),
    ("url-password", "connect postgres://app:hunter2@db.internal:5432/chat now", "hunter2"),
    ("url-password-https", "fetch https://admin:S3cr3t!x@example.com/path", "S3cr3t!x"),
    ("password-pair", "login failed password=Tr0ub4dor&3", "Tr0ub4dor"),
    ("json-api-key", 'body {"api_key": "zq81-mm20-secret-value"}', "zq81-mm20"),
    ("x-api-key-header", "x-api-key: 7c1d8e9f0a1b2c3d", "7c1d8e9f0a1b2c3d"),
    ("client-secret", "client_secret=Cs_9988776655 sent", "Cs_9988776655"),
    ("token-pair", "token=tkn_77a5c0ffee11 expired", "tkn_77a5c0ffee11"),
    ("github", "push with ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8", "A1b2C3d4E5f6G7h8"),
    ("google", "maps AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY ok", "SyD-9tSrke72PouQ"),
    ("slack", "hook xoxb-123456789012-abcdefghijkl ok", "123456789012-abcdef"),
    ("huggingface", "hub hf_AbCdEfGhIjKlMnOpQrStUvWxYz012345 ok", "AbCdEfGhIjKlMnOp"),
    ("stripe", "pay sk_live_4eC39HqLyjWDarjtT1zdp7dc ok", "4eC39HqLyjWDarjtT1zdp7dc"),
    (
        "pem",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7x\n-----END RSA PRIVATE KEY-----",
        "MIIEowIBAAKCAQEA7x",
    ),
    ("custom-pattern", "customer cust_0a1b2c3d4e5f checked", "cust_0a1b2c3d4e5f"),
]

# Field-name rules: the values look ordinary, only the name says they are secret.
SECRET_FIELDS = {
    "password": "plainpassword1",
    "api_key": "plainapikey2",
    "token": "plaintoken3",
    "secret": "plainsecret4",
    "authorization": "plainauth5",
    "x-api-key": "plainheader6",
    "customer_pin": "plainpin7",  # configured with fields=
}

ORDINARY = [
    "the tokenizer counted 512 tokens for max_tokens=512",
    "bearer bonds and basic income are topics",
    "Basic Authentication and Bearer Tokens, explained",
    "see https://example.com/docs?page=2 for details",
    "model sk-short returned finish_reason=stop",
    "AKIA is a prefix, and so is eyJ",
    "password reset email sent to the user",
]


@pytest.fixture
def redactor() -> Redactor:
    """The redactor under test: built-in rules plus one custom pattern and one field."""
    return Redactor(patterns=[CUSTOM], fields=["customer_pin"])


def _assert_clean(output: str) -> None:
    leaked = [name for name, _, secret in CORPUS if secret in output]
    leaked += [name for name, value in SECRET_FIELDS.items() if value in output]
    assert not leaked, f"secrets leaked: {leaked}"


def test_corpus_has_at_least_twenty_shapes() -> None:
    """The corpus covers at least 20 distinct secret shapes."""
    assert len({name for name, _, _ in CORPUS}) >= 20


@pytest.mark.parametrize(("name", "text", "secret"), CORPUS, ids=[c[0] for c in CORPUS])
def test_text_redacts_each_shape(redactor: Redactor, name: str, text: str, secret: str) -> None:
    """Each secret shape is replaced by [REDACTED]; the words around it survive."""
    assert secret in text
    result = redactor.text(text)
    assert secret not in result
    assert REDACTED in result
    if name != "pem":  # a PEM block is all secret, its header words included
        kept = [word for word in text.split() if secret not in word]
        assert kept
        assert all(word in result for word in kept), result


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_text_is_unchanged(redactor: Redactor, text: str) -> None:
    """Text without secrets passes through byte for byte."""
    assert redactor.text(text) == text


def test_secret_fields_are_redacted_whole(redactor: Redactor) -> None:
    """Values of secret-named fields are replaced whatever they look like, nested too."""
    value = redactor.value({"user": "ann", "nested": {**SECRET_FIELDS}, "count": 3}, None)
    assert value["user"] == "ann"
    assert value["count"] == 3
    assert all(v == REDACTED for v in value["nested"].values())
    assert redactor.value("plainpassword1", "Password") == REDACTED
    assert redactor.value("x", "http.request.header.authorization") == REDACTED
    assert redactor.value(["sk-proj-Zx9_Yw8-Vu7Ts6Rq5Po4Nm3"], "keys") == [REDACTED]
    assert redactor.value(None, "password") is None


def test_custom_pattern_needs_configuration() -> None:
    """The custom pattern only applies when configured (the default redactor keeps it)."""
    assert Redactor().text("customer cust_0a1b2c3d4e5f") == "customer cust_0a1b2c3d4e5f"
    compiled = Redactor(patterns=[re.compile(r"(?i)internal-\d+")])
    assert compiled.text("see INTERNAL-42 now") == f"see {REDACTED} now"


def test_invalid_patterns_are_rejected() -> None:
    """A broken or empty-matching regex fails at construction with the pattern named."""
    with pytest.raises(ValueError, match=r"invalid redaction pattern '\('"):
        Redactor(patterns=["("])
    with pytest.raises(ValueError, match="matches the empty string"):
        Redactor(patterns=["x*"])


# -- logs -------------------------------------------------------------------------------


@pytest.fixture
def log_pipeline() -> Iterator[tuple[InMemoryLogRecordExporter, LoggerProvider]]:
    """A local LoggerProvider exporting through wrap_log_exporter to memory."""
    exporter = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    provider = LoggerProvider()
    provider.add_log_record_processor(
        SimpleLogRecordProcessor(wrap_log_exporter(exporter, Redactor([CUSTOM], ["customer_pin"])))
    )
    yield exporter, provider
    teardown_logging()
    provider.shutdown()


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_logs_never_carry_secrets(
    log_pipeline: tuple[InMemoryLogRecordExporter, LoggerProvider], redactor: Redactor, fmt: str
) -> None:
    """Secrets in messages, fields, stdlib records and exceptions are absent from lines and
    LogRecords, while the ordinary text of each message is still there."""
    exporter, provider = log_pipeline
    stream = io.StringIO()
    setup_logging(
        logger_provider=provider,
        service_name="svc",
        fmt=fmt,  # type: ignore[arg-type]
        redactor=redactor,
        stream=stream,
    )
    log = get_logger("app")
    for name, text, _ in CORPUS:
        log.info(f"case {name}: {text}", detail=text, nested={"inner": [text]})
        logging.getLogger("library").warning("case %s: %s", name, text)
    log.info("fields", **SECRET_FIELDS)
    try:
        raise RuntimeError(" ".join(text for _, text, _ in CORPUS))
    except RuntimeError:
        log.exception("upstream call failed")
    rendered = stream.getvalue()
    records = exporter.get_finished_logs()
    exported = "\n".join(r.to_json() for r in records)
    _assert_clean(rendered)
    _assert_clean(exported)
    for name, _, _ in CORPUS:
        assert f"case {name}:" in rendered
        assert f"case {name}:" in exported
    assert "upstream call failed" in rendered
    assert "RuntimeError" in rendered
    assert "RuntimeError" in exported
    assert len(records) == 2 * len(CORPUS) + 2


def test_log_exporter_wrapper_redacts_foreign_records(
    log_pipeline: tuple[InMemoryLogRecordExporter, LoggerProvider],
) -> None:
    """Records emitted straight to the LoggerProvider (not through our logging) are redacted
    by the exporter wrapper: body, attributes and structured bodies."""
    exporter, provider = log_pipeline
    otel_logger = provider.get_logger("foreign")
    for _, text, _ in CORPUS:
        otel_logger.emit(body=f"said {text}", attributes={"detail": text, "n": 1})
    otel_logger.emit(body={"request": dict(SECRET_FIELDS)}, attributes=dict(SECRET_FIELDS))
    otel_logger.emit(body="clean", attributes={"n": 2})
    records = exporter.get_finished_logs()
    assert len(records) == len(CORPUS) + 2
    _assert_clean("\n".join(r.to_json() for r in records))
    assert records[0].log_record.body.startswith("said key ")
    assert records[0].log_record.attributes is not None
    assert records[0].log_record.attributes["n"] == 1
    assert records[-1].log_record.body == "clean"


def test_unwrapped_log_exporter_would_leak() -> None:
    """Control: the same foreign record reaches an unwrapped exporter with its secret."""
    exporter = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    provider.get_logger("foreign").emit(body=CORPUS[0][1])
    with pytest.raises(AssertionError, match="openai-legacy"):
        _assert_clean(exporter.get_finished_logs()[0].to_json())
    provider.shutdown()


# -- spans ------------------------------------------------------------------------------


def _spans(redactor: Redactor) -> InMemorySpanExporter:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(wrap_span_exporter(memory, redactor)))
    tracer = provider.get_tracer("test")
    for name, text, _ in CORPUS:
        with tracer.start_as_current_span(f"case {name}") as span:
            span.set_attribute("gen_ai.prompt", f"prompt: {text}")
            span.set_attribute("otel_llm.tokenizer.tokens", 7)
            span.set_attribute("args", [text, "plain"])
            span.add_event("gen_ai.user.message", {"content": text, "index": 0})
    with tracer.start_as_current_span("fields") as span:
        span.set_attributes(SECRET_FIELDS)
    with tracer.start_as_current_span(
        "linked", links=[Link(span.get_span_context(), {"t": CORPUS[0][1]})]
    ):
        pass
    try:
        with tracer.start_as_current_span("failing") as span:
            raise ConnectionError(" ".join(text for _, text, _ in CORPUS))
    except ConnectionError:
        pass
    with tracer.start_as_current_span("status") as span:
        span.set_status(Status(StatusCode.ERROR, f"auth failed: {CORPUS[8][1]}"))
    provider.shutdown()
    return memory


def _dump(exporter: InMemorySpanExporter) -> str:
    return "\n".join(span.to_json() for span in exporter.get_finished_spans())


def test_spans_never_carry_secrets(redactor: Redactor) -> None:
    """Span attributes, event attributes (exception message and stacktrace included), link
    attributes and status descriptions are redacted on the way to the exporter."""
    memory = _spans(redactor)
    spans = {span.name: span for span in memory.get_finished_spans()}
    _assert_clean(_dump(memory))
    first = spans["case openai-legacy"]
    assert first.attributes is not None
    assert first.attributes["gen_ai.prompt"] == f"prompt: key {REDACTED}"
    assert first.attributes["otel_llm.tokenizer.tokens"] == 7
    assert first.attributes["args"] == (f"key {REDACTED}", "plain")
    assert first.events[0].attributes == {"content": f"key {REDACTED}", "index": 0}
    failing = spans["failing"]
    assert failing.status.status_code is StatusCode.ERROR
    exception = failing.events[0].attributes or {}
    assert exception["exception.type"] == "ConnectionError"
    assert "connect postgres://app:[REDACTED]@db.internal" in str(exception["exception.message"])
    assert "Traceback" in str(exception["exception.stacktrace"])
    assert spans["status"].status.description == f"auth failed: Authorization: Bearer {REDACTED}"
    assert spans["case openai-legacy"].context == first.context  # ids are untouched


def test_clean_spans_pass_through_unchanged(redactor: Redactor) -> None:
    """A span with nothing to redact reaches the wrapped exporter as the very same object."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("t").start_as_current_span("clean") as span:
        span.set_attribute("gen_ai.request.model", "gpt-4o-mini")
    with provider.get_tracer("t").start_as_current_span("dirty") as span:
        span.set_attribute("gen_ai.request.model", CORPUS[0][1])
    clean, dirty = memory.get_finished_spans()
    inner = InMemorySpanExporter()
    wrap_span_exporter(inner, redactor).export([clean, dirty])
    passed_clean, passed_dirty = inner.get_finished_spans()
    assert passed_clean is clean
    assert passed_dirty is not dirty
    assert json.loads(passed_clean.to_json())["attributes"] == {
        "gen_ai.request.model": "gpt-4o-mini"
    }
    assert passed_dirty.attributes == {"gen_ai.request.model": f"key {REDACTED}"}
    provider.shutdown()


def test_unwrapped_span_exporter_would_leak(redactor: Redactor) -> None:
    """Control: without the wrapper the same spans do carry the secrets."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("t").start_as_current_span("s") as span:
        span.set_attribute("k", CORPUS[0][1])
    with pytest.raises(AssertionError, match="openai-legacy"):
        _assert_clean(_dump(memory))


def test_pattern_error_explains_bad_patterns() -> None:
    """pattern_error names the problem for configuration checks and accepts good patterns."""
    assert pattern_error(CUSTOM) is None
    assert "invalid redaction pattern '[a-'" in str(pattern_error("[a-"))
    assert "matches the empty string" in str(pattern_error("(secret)?"))
    with pytest.raises(ValueError, match="matches the empty string"):
        Redactor(patterns=[re.compile("a*")])


@pytest.mark.parametrize(("name", "text", "secret"), CORPUS, ids=[c[0] for c in CORPUS])
def test_redaction_is_idempotent(redactor: Redactor, name: str, text: str, secret: str) -> None:
    """Redacting already-redacted text changes nothing (exporters may see it twice)."""
    once = redactor.text(text)
    assert redactor.text(once) == once


@given(st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_redaction_never_fails_and_is_stable(text: str) -> None:
    """Any text is handled without error, and a second pass is a no-op."""
    redactor = Redactor(patterns=[CUSTOM], fields=["customer_pin"])
    once = redactor.text(text)
    assert redactor.text(once) == once
    if "[REDACTED]" not in once:
        assert once == text


@given(st.lists(st.sampled_from([t for _, t, _ in CORPUS] + ORDINARY + ["=", ":", '"', "@"])))
@settings(max_examples=200, deadline=None)
def test_mixed_secrets_never_survive(parts: list[str]) -> None:
    """Secrets glued together with ordinary text and separators are all redacted."""
    redactor = Redactor(patterns=[CUSTOM], fields=["customer_pin"])
    text = " ".join(parts)
    once = redactor.text(text)
    _assert_clean(once)
    assert redactor.text(once) == once


def test_own_telemetry_names_are_never_redacted(redactor: Redactor) -> None:
    """No otel-llm attribute or metric name counts as a secret field or contains one."""
    names = [v for k, v in vars(semconv).items() if k.isupper() and isinstance(v, str)]
    assert len(names) > 50
    assert [n for n in names if redactor.is_secret_field(n)] == []
    assert [n for n in names if redactor.text(n) != n] == []
