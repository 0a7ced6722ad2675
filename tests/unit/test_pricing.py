"""Pricing table: Decimal costs, snapshot resolution, overrides, bad files, cost telemetry."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

import otel_llm
from otel_llm._pricing import (
    PricingError,
    PricingTable,
    Usage,
    configure_pricing,
    get_table,
    load_table,
    set_table,
)
from otel_llm.testing import Capture

SOURCE = "https://example.test/pricing"


@pytest.fixture(autouse=True)
def _fresh_table(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts without OTEL_LLM_PRICING_FILE and with the packaged table reloaded."""
    monkeypatch.delenv("OTEL_LLM_PRICING_FILE", raising=False)
    set_table(None)
    yield
    set_table(None)


def write(tmp_path: Path, text: str) -> str:
    """Write a pricing file and return its path."""
    path = tmp_path / "prices.json"
    path.write_text(text, encoding="utf-8")
    return str(path)


def entry(**fields: object) -> dict[str, object]:
    """A valid models entry with ``fields`` replaced."""
    base: dict[str, object] = {
        "provider": "acme",
        "model": "m1",
        "input": "1.00",
        "output": "2.00",
        "date": "2025-01-01",
        "source": SOURCE,
    }
    base.update(fields)
    return base


# -- costs -----------------------------------------------------------------------------------
def test_gpt4o_cost_with_cached_and_reasoning_tokens_matches_hand_computation() -> None:
    """Cached input at the cached rate, reasoning at the output rate when no reasoning rate."""
    cost = load_table().cost(
        "openai",
        "gpt-4o",
        Usage(input_tokens=1000, output_tokens=500, cache_read_input_tokens=200,
              reasoning_output_tokens=100),
    )  # fmt: skip
    assert cost is not None
    # 800 plain input x $2.50/1M, 200 cached x $1.25/1M, 400 output + 100 reasoning x $10/1M
    assert cost.by_token_type == {
        "input": Decimal("0.002"),
        "cache_read": Decimal("0.00025"),
        "output": Decimal("0.004"),
        "reasoning": Decimal("0.001"),
    }
    assert cost.total == Decimal("0.00725")
    assert cost.usd == cost.total
    assert (cost.currency, cost.model) == ("USD", "gpt-4o")


def test_anthropic_cache_read_and_cache_write_are_priced_separately() -> None:
    """Input includes cache reads and writes; each part gets its own rate."""
    cost = load_table().cost(
        "anthropic",
        "claude-sonnet-4-20250514",
        Usage(input_tokens=10_000, output_tokens=1_000, cache_read_input_tokens=6_000,
              cache_creation_input_tokens=2_000),
    )  # fmt: skip
    assert cost is not None
    # 2000 x $3 + 6000 x $0.30 + 2000 x $3.75 + 1000 x $15, all per 1M tokens
    assert cost.by_token_type == {
        "input": Decimal("0.006"),
        "cache_read": Decimal("0.0018"),
        "cache_creation": Decimal("0.0075"),
        "output": Decimal("0.015"),
    }
    assert cost.total == Decimal("0.0303")
    assert cost.model == "claude-sonnet-4"


def test_reasoning_rate_is_used_when_the_table_has_one() -> None:
    """A row with a reasoning price bills reasoning tokens at it, the rest at the output rate."""
    table = load_table(
        overrides={"models": [entry(output="4", reasoning="8", cached_input="0.25")]}
    )
    cost = table.cost(
        "acme",
        "m1",
        Usage(input_tokens=3_000_000, output_tokens=1_000_000, cache_read_input_tokens=1_000_000,
              reasoning_output_tokens=250_000),
    )  # fmt: skip
    assert cost is not None
    assert cost.by_token_type == {
        "input": Decimal(2),
        "cache_read": Decimal("0.25"),
        "output": Decimal(3),
        "reasoning": Decimal(2),
    }
    assert cost.total == Decimal("7.25")


def test_missing_cached_rate_falls_back_to_input_rate_never_zero() -> None:
    """Cached tokens of a model without a cached price cost the full input rate."""
    cost = load_table().cost(
        "gcp.gemini", "gemini-2.5-flash", Usage(input_tokens=1000, cache_read_input_tokens=1000)
    )
    assert cost is not None
    assert cost.by_token_type == {"cache_read": Decimal("0.0003")}


def test_inconsistent_cache_counts_clamp_plain_input_at_zero() -> None:
    """Cache counts above input_tokens price the cache counts and no negative plain input."""
    cost = load_table().cost("openai", "gpt-4o", Usage(input_tokens=10, cache_read_input_tokens=40))
    assert cost is not None
    assert cost.by_token_type == {"cache_read": Decimal("0.00005")}


def test_zero_usage_of_a_known_model_costs_zero() -> None:
    """A known model with no tokens is a real zero, with no parts."""
    cost = load_table().cost("openai", "gpt-4o-mini", Usage())
    assert cost is not None
    assert (cost.total, dict(cost.by_token_type)) == (Decimal(0), {})


def test_usage_rejects_negative_and_non_int_counts() -> None:
    """Negative or non-integer token counts are a ValueError naming the field."""
    with pytest.raises(ValueError, match="output_tokens"):
        Usage(output_tokens=-1)
    with pytest.raises(ValueError, match="input_tokens"):
        Usage(input_tokens=1.5)  # type: ignore[arg-type]


# -- resolution ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("provider", "model", "family"),
    [
        ("openai", "gpt-4o-2024-08-06", "gpt-4o"),
        ("openai", "gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),  # an exact row beats the family
        ("openai", "gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("openai", "gpt-3.5-turbo-0125", "gpt-3.5-turbo"),
        ("openai", "GPT-4o", "gpt-4o"),
        ("openai", "openai/gpt-4o-mini", "gpt-4o-mini"),
        ("azure.ai.openai", "gpt-4o-2024-11-20", "gpt-4o"),
        ("anthropic", "claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
        ("anthropic", "claude-3-5-sonnet-latest", "claude-3-5-sonnet"),
        ("anthropic", "claude-sonnet-4-0", "claude-sonnet-4"),
        ("gcp.vertex_ai", "gemini-2.0-flash", "gemini-2.0-flash"),
    ],
)
def test_snapshots_resolve_to_their_family_by_explicit_rules(
    provider: str, model: str, family: str
) -> None:
    """Dated snapshots, aliases, prefixes and provider aliases map to one table row."""
    price = load_table().resolve(provider, model)
    assert price is not None
    assert price.model == family


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("openai", "gpt-4o-mini-search"),  # a different product, not a snapshot
        ("openai", "gpt-4o-2024-08-06-ft"),  # suffix not at the end
        ("anthropic", "gpt-4o"),  # right model, wrong provider
        ("openai", "gpt-4o-2024-08-06-2024-08-06"),  # only one suffix is removed
    ],
)
def test_names_that_only_look_similar_are_not_guessed(provider: str, model: str) -> None:
    """Resolution never approximates: anything outside the rules is unknown."""
    assert load_table().resolve(provider, model) is None


# -- overrides -------------------------------------------------------------------------------
def test_override_file_from_env_replaces_and_extends_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OTEL_LLM_PRICING_FILE rows replace packaged rows and add new models and suffix rules."""
    path = write(
        tmp_path,
        json.dumps(
            {
                "version": "acme-2025-06",
                "snapshot_suffixes": ["-v\\d+"],
                "models": [
                    entry(provider="openai", model="gpt-4o", input="2", output="8"),
                    entry(model="acme-large"),
                ],
            }
        ),
    )
    monkeypatch.setenv("OTEL_LLM_PRICING_FILE", path)
    table = get_table()
    assert table.version.endswith("+acme-2025-06")
    assert table.sources[-1] == path
    cost = table.cost("openai", "gpt-4o-2024-08-06", Usage(input_tokens=1_000_000))
    assert cost is not None and cost.total == Decimal(2)
    new = table.cost("acme", "acme-large-v3", Usage(input_tokens=500_000, output_tokens=500_000))
    assert new is not None and new.total == Decimal("1.5")
    assert table.resolve("openai", "gpt-4o-mini") is not None  # untouched rows stay


def test_overrides_mapping_wins_over_the_file(tmp_path: Path) -> None:
    """configure(pricing=...) style overrides apply after the file."""
    path = write(tmp_path, json.dumps({"models": [entry(input="1")]}))
    table = load_table(path, overrides={"models": [entry(input="3")]})
    price = table.resolve("acme", "m1")
    assert price is not None and price.input == Decimal(3)
    assert table.sources == ("otel_llm/pricing.json", path, "configure(pricing=...)")


def test_non_usd_prices_convert_with_the_tables_exchange_rate() -> None:
    """A EUR row is priced in EUR and converted to USD for the telemetry."""
    table = load_table(
        overrides={"exchange_rates": {"EUR": "1.10"}, "models": [entry(currency="eur")]}
    )
    cost = table.cost("acme", "m1", Usage(input_tokens=1_000_000))
    assert cost is not None
    assert (cost.total, cost.currency, cost.usd) == (Decimal(1), "EUR", Decimal("1.10"))


def test_configure_pricing_loads_eagerly_and_sets_the_table(tmp_path: Path) -> None:
    """A path, a mapping or a table becomes the process table; a bad file raises at once."""
    path = write(tmp_path, json.dumps({"models": [entry(input="7")]}))
    assert configure_pricing(path) is get_table()
    assert get_table().resolve("acme", "m1") is not None
    table = configure_pricing({"models": [entry(model="m2")]})
    assert get_table() is table and table.resolve("acme", "m1") is None
    assert configure_pricing(table) is table
    with pytest.raises(PricingError, match=r"prices\.json:1: not valid JSON"):
        configure_pricing(write(tmp_path, "[,]"))
    assert get_table() is table  # a failed configure keeps the previous table


# -- bad input -------------------------------------------------------------------------------
def test_invalid_json_names_file_and_line(tmp_path: Path) -> None:
    """A syntax error is reported with the file and the line it is on."""
    path = write(tmp_path, '{\n  "models": [\n    {"provider": "a",}\n  ]\n}\n')
    with pytest.raises(PricingError, match=rf"^{path}:3: not valid JSON"):
        load_table(path)


BAD_ENTRIES = [
    ({"input": "-1"}, "input must be a finite non-negative number"),
    ({"output": "lots"}, "output must be a number"),
    ({"cached_input": True}, "cached_input must be a number"),
    ({"currency": "XYZ"}, "unknown currency 'XYZ'"),
    ({"currency": "EUR"}, "prices in EUR need an exchange rate"),
    ({"date": "yesterday"}, "date must be YYYY-MM-DD"),
    ({"source": ""}, "source must be a non-empty string"),
    ({"cached_inptu": "1"}, "unknown field(s) cached_inptu"),
    ({"model": None}, "model must be a non-empty string"),
]


@pytest.mark.parametrize(("fields", "message"), BAD_ENTRIES)
def test_bad_entry_names_the_line_of_the_entry(
    tmp_path: Path, fields: dict[str, object], message: str
) -> None:
    """Each invalid row is reported as file:line of the row with what is wrong."""
    good = json.dumps(entry(model="ok"))
    bad = json.dumps(entry(**fields))
    path = write(tmp_path, f'{{\n  "models": [\n    {good},\n    {bad}\n  ]\n}}\n')
    with pytest.raises(PricingError) as caught:
        load_table(path)
    assert str(caught.value).startswith(f"{path}:4: ")
    assert message in str(caught.value)


def test_missing_field_and_duplicate_rows_are_reported(tmp_path: Path) -> None:
    """A row without a price, and a model priced twice, name the offending lines."""
    row = entry()
    del row["output"]
    path = write(tmp_path, json.dumps({"models": [row]}, indent=1))
    with pytest.raises(PricingError, match=r":3: missing required field 'output'"):
        load_table(path)
    dup = write(tmp_path, '{"models": [\n' + json.dumps(entry()) + ",\n" + json.dumps(entry(
        model="M1")) + "\n]}")  # fmt: skip
    with pytest.raises(PricingError, match=r":3: acme/M1 is already priced at .*:2"):
        load_table(dup)


def test_top_level_problems_are_reported(tmp_path: Path) -> None:
    """Unknown top-level keys, schemas, and a missing file are clear errors."""
    with pytest.raises(PricingError, match=r":1: unknown key\(s\) model;"):
        load_table(write(tmp_path, '{"model": []}'))
    with pytest.raises(PricingError, match="unsupported schema 2"):
        load_table(write(tmp_path, '{"schema": 2}'))
    with pytest.raises(PricingError, match="cannot read pricing file"):
        load_table(str(tmp_path / "missing.json"))
    with pytest.raises(PricingError, match=r"^configure\(pricing=...\) models\[0\]: input"):
        load_table(overrides={"models": [entry(input=-2)]})


def test_bad_env_file_on_lazy_load_logs_and_keeps_the_packaged_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Without configure(), a broken OTEL_LLM_PRICING_FILE never breaks the app later."""
    monkeypatch.setenv("OTEL_LLM_PRICING_FILE", write(tmp_path, "{nope"))
    with caplog.at_level(logging.ERROR, logger="otel_llm.pricing"):
        table = get_table()
    assert table.resolve("openai", "gpt-4o") is not None
    assert "ignored the pricing file" in caplog.text and "prices.json:1" in caplog.text


def test_packaged_table_rows_all_carry_date_source_and_usd() -> None:
    """Every shipped price has a date, a source and a currency; the table is versioned."""
    table = load_table(path="")
    assert isinstance(table, PricingTable) and table.version
    assert len(table) >= 30
    for price in table:
        assert price.source.startswith("https://")
        assert price.currency == "USD"
        assert price.input >= 0 and price.output >= 0


# -- unknown models --------------------------------------------------------------------------
def test_unknown_model_gets_no_cost_and_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    """None, never zero; the warning names the env var and is not repeated."""
    table = load_table()
    with caplog.at_level(logging.WARNING, logger="otel_llm.pricing"):
        assert table.cost("acme", "mystery-1", Usage(input_tokens=5)) is None
        assert table.cost("acme", "mystery-1", Usage(input_tokens=9)) is None
        assert table.cost("acme", "mystery-2", Usage(input_tokens=9)) is None
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "'mystery-1'" in messages[0] and "OTEL_LLM_PRICING_FILE" in messages[0]


# -- telemetry through generation() -------------------------------------------------------------
def test_generation_gets_cost_attribute_and_cost_counter(otel_capture: Capture) -> None:
    """The span carries otel_llm.cost.usd; the counter splits by token type, resolved model."""
    with otel_llm.generation(model="gpt-4o-mini", provider="openai") as g:
        g.set_response(model="gpt-4o-mini-2024-07-18", input_tokens=2000, output_tokens=1000,
                       cache_read_input_tokens=1000)  # fmt: skip
    span = otel_capture.span("chat gpt-4o-mini")
    # 1000 x 0.15 + 1000 x 0.075 + 1000 x 0.60, per 1M tokens
    assert span.attributes is not None
    assert span.attributes["otel_llm.cost.usd"] == pytest.approx(0.000825)
    points = otel_capture.metric_points("otel_llm.cost")
    by_type = {p.attributes["gen_ai.token.type"]: p.value for p in points}
    assert by_type == pytest.approx({"input": 0.00015, "cache_read": 0.000075, "output": 0.0006})
    assert {p.attributes["gen_ai.request.model"] for p in points} == {"gpt-4o-mini"}
    assert {p.attributes["gen_ai.provider.name"] for p in points} == {"openai"}


def test_served_snapshot_with_its_own_price_is_priced_as_served(otel_capture: Capture) -> None:
    """A response model with its own row (gpt-4o-2024-05-13) beats the requested family."""
    with otel_llm.generation(model="gpt-4o", provider="openai") as g:
        g.set_response(model="gpt-4o-2024-05-13", input_tokens=1000, output_tokens=1000)
    span = otel_capture.span("chat gpt-4o")
    assert span.attributes is not None
    assert span.attributes["otel_llm.cost.usd"] == pytest.approx(0.02)  # $5 + $15 per 1M
    points = otel_capture.metric_points("otel_llm.cost")
    assert {p.attributes["gen_ai.request.model"] for p in points} == {"gpt-4o-2024-05-13"}


def test_unknown_model_generation_has_no_cost_telemetry(otel_capture: Capture) -> None:
    """No attribute and no counter point: an unknown price is never a silent zero."""
    with otel_llm.generation(model="house-model", provider="vllm") as g:
        g.set_response(input_tokens=10, output_tokens=5)
    span = otel_capture.span("chat house-model")
    assert "otel_llm.cost.usd" not in (span.attributes or {})
    assert otel_capture.metric_points("otel_llm.cost") == []


def test_cost_is_counted_once_for_nested_generations(otel_capture: Capture) -> None:
    """A user span around an instrumented call does not double the spend."""
    with otel_llm.generation(model="gpt-4o", provider="openai") as outer:
        with otel_llm.generation(model="gpt-4o", provider="openai") as inner:
            inner.set_response(input_tokens=1_000_000)
        outer.set_response(input_tokens=1_000_000)
    assert otel_capture.metric_sum("otel_llm.cost") == pytest.approx(2.5)
    with_cost = [s for s in otel_capture.spans() if "otel_llm.cost.usd" in (s.attributes or {})]
    assert len(with_cost) == 1
