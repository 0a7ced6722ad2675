"""Error fingerprints and routing savings."""

from __future__ import annotations

from decimal import Decimal

import pytest

import otel_llm
from otel_llm._fingerprint import fingerprint
from otel_llm._pricing import Usage, get_table
from otel_llm.testing import Capture


def test_fingerprint_ignores_ids_numbers_and_secrets() -> None:
    """Messages differing only in ids, numbers, quoted values or keys share a fingerprint."""
    a = fingerprint("RateLimitError", "generation", "limit for req_8f3a1b2c9d after 1.5s, 'x'")
    b = fingerprint("RateLimitError", "generation", "limit for req_91bcde77f0 after 20s, 'y'")
    c = fingerprint(
        "RateLimitError",
        "generation",
        "limit for req_91bcde77f0 after 20s sk-proj-AAAAAAAAAAAAAAAAAAAA",
    )
    d = fingerprint(
        "RateLimitError",
        "generation",
        "limit for req_91bcde77f0 after 20s sk-proj-BBBBBBBBBBBBBBBBBBBB",
    )
    assert a == b and c == d
    assert len(a) == 16


def test_fingerprint_differs_across_types_and_operations() -> None:
    """Different error types or operations give different fingerprints."""
    base = fingerprint("RateLimitError", "generation", "boom")
    assert base != fingerprint("TimeoutError", "generation", "boom")
    assert base != fingerprint("RateLimitError", "tool", "boom")
    assert base != fingerprint("RateLimitError", "generation", "another failure")


def test_fingerprint_on_exception_event_not_metrics(otel_capture: Capture) -> None:
    """The exception event carries the fingerprint; metric points never do."""
    with pytest.raises(TimeoutError), otel_llm.generation(model="m", provider="p"):
        raise TimeoutError("upstream 504 after 30s")
    (event,) = otel_capture.span("chat m").events
    expected = fingerprint("TimeoutError", "generation", "upstream 504 after 30s")
    assert (event.attributes or {})["otel_llm.error.fingerprint"] == expected
    for point in otel_capture.metric_points("gen_ai.client.operation.duration"):
        assert "otel_llm.error.fingerprint" not in point.attributes


def test_routing_savings_match_hand_computed_prices(otel_capture: Capture) -> None:
    """Serving gpt-4o-mini instead of the requested gpt-4o records the price difference."""
    with otel_llm.route("r", candidates=["gpt-4o", "gpt-4o-mini"], requested_model="gpt-4o") as r:
        with otel_llm.generation(model="gpt-4o-mini", provider="openai") as g:
            g.set_response(input_tokens=1000, output_tokens=500)
        r.select("gpt-4o-mini", reason="cheaper")
    table = get_table()
    usage = Usage(input_tokens=1000, output_tokens=500)
    requested = table.cost("openai", "gpt-4o", usage)
    actual = table.cost("openai", "gpt-4o-mini", usage)
    assert requested is not None and actual is not None
    expected = float(requested.total - actual.total)
    assert expected > 0 and Decimal(str(expected)) < requested.total
    attrs = otel_capture.span("route r").attributes or {}
    assert attrs["otel_llm.cost.savings.usd"] == pytest.approx(expected)
    assert attrs["otel_llm.cost.savings.estimated"] is True
    (point,) = otel_capture.metric_points("otel_llm.cost.savings")
    assert point.value == pytest.approx(expected)
    assert point.attributes["otel_llm.route.requested_model"] == "gpt-4o"


def test_no_savings_when_requested_model_served(otel_capture: Capture) -> None:
    """A route that serves what was asked records no savings."""
    with otel_llm.route("r", requested_model="gpt-4o") as r:
        with otel_llm.generation(model="gpt-4o", provider="openai") as g:
            g.set_response(input_tokens=10, output_tokens=5)
        r.select("gpt-4o")
    assert "otel_llm.cost.savings.usd" not in (otel_capture.span("route r").attributes or {})
    assert otel_capture.metric_points("otel_llm.cost.savings") == []


def test_fingerprint_on_error_log_records() -> None:
    """An exception logged with its traceback carries the fingerprint of its kind."""
    from tests.helpers import run_python

    proc = run_python(
        """
        import otel_llm
        otel_llm.configure(traces_exporter="none", metrics_exporter="none",
                           logs_exporter="none", log_format="json", instrument=False)
        log = otel_llm.get_logger("app")
        for n in (42, 43):
            try:
                raise ValueError(f"bad order {n}")
            except ValueError:
                log.exception("order failed")
        """
    )
    assert proc.returncode == 0, proc.stderr
    import json

    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    prints = [
        line["otel_llm.error.fingerprint"] for line in lines if line["event"] == "order failed"
    ]
    assert prints == [fingerprint("ValueError", "app", "bad order 42")] * 2
