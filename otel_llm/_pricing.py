"""The pricing table: load and validate it, resolve model snapshots, price usage in Decimal.

The table ships inside the package (``otel_llm/pricing.json``) so nothing is downloaded at
startup. A file named by ``OTEL_LLM_PRICING_FILE`` (or ``configure(pricing=...)``) extends
or overrides it entry by entry. Every problem in a table is reported at load time as
``<file>:<line>: <what is wrong>``; once loaded, pricing a call cannot fail.

Token semantics (semconv ``gen_ai.usage.*``): ``input_tokens`` INCLUDES the cache-read and
cache-creation tokens (OpenAI style), and ``output_tokens`` INCLUDES the reasoning tokens.
Each part is priced at its own rate when the table has one, otherwise at the plain input or
output rate (never at zero).
"""

from __future__ import annotations

import bisect
import json
import json.decoder
import json.scanner
import logging
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import Any, Final

from . import semconv
from ._fork import fork_safe_lock

__all__ = [
    "Cost",
    "Price",
    "PricingError",
    "PricingTable",
    "Usage",
    "configure_pricing",
    "get_table",
    "load_table",
    "set_table",
]

_log = logging.getLogger("otel_llm.pricing")

_MILLION: Final = Decimal(1_000_000)
_PACKAGED: Final = "pricing.json"
_SCHEMA: Final = 1
_MAX_CACHED_RESOLUTIONS: Final = 4096
_MAX_WARNED: Final = 1024

TOKEN_TYPES: Final = ("input", "cache_read", "cache_creation", "output", "reasoning")
"""Keys of ``Cost.by_token_type`` and values of ``gen_ai.token.type`` on ``otel_llm.cost``."""

CURRENCIES: Final = frozenset(
    "USD EUR GBP JPY CNY INR CAD AUD CHF SEK NOK DKK PLN CZK HUF RON BGN KRW SGD HKD NZD "
    "TWD THB IDR MYR PHP VND BRL MXN CLP COP ARS PEN ZAR NGN KES EGP TRY ILS AED SAR QAR "
    "RUB UAH".split()
)
"""ISO 4217 codes a table may use; anything else is rejected as an unknown currency."""

_TOP_FIELDS: Final = frozenset(
    {"schema", "version", "currency", "snapshot_suffixes", "provider_aliases", "exchange_rates",
     "models"}
)  # fmt: skip
_PRICE_FIELDS: Final = ("input", "output", "cached_input", "cache_write", "reasoning")
_ENTRY_FIELDS: Final = frozenset(
    {"provider", "model", "aliases", "currency", "date", "source", *_PRICE_FIELDS}
)


class PricingError(ValueError):
    """A pricing table is malformed; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage of one call, as the ``gen_ai.usage.*`` attributes report it.

    ``input_tokens`` includes ``cache_read_input_tokens`` and
    ``cache_creation_input_tokens``; ``output_tokens`` includes ``reasoning_output_tokens``.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    reasoning_output_tokens: int = 0

    def __post_init__(self) -> None:
        for name in self.__slots__:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative int, got {value!r}")

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens (cached and reasoning tokens are already inside them)."""
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class Cost:
    """The price of one call: total and parts per token type, in ``currency``."""

    total: Decimal
    by_token_type: Mapping[str, Decimal]
    currency: str
    model: str
    """The table entry that priced the call (the resolved family, e.g. ``gpt-4o``)."""
    provider: str = ""
    usd: Decimal = field(default=Decimal(0))
    """``total`` converted to US dollars (equal to ``total`` for a USD price)."""


@dataclass(frozen=True, slots=True)
class Price:
    """One row of the table: per-1M-token prices of a model, with their date and source."""

    provider: str
    model: str
    input: Decimal
    output: Decimal
    currency: str
    date: date
    source: str
    cached_input: Decimal | None = None
    cache_write: Decimal | None = None
    reasoning: Decimal | None = None
    aliases: tuple[str, ...] = ()
    origin: str = ""
    """``file:line`` the row was read from (for error messages and ``otel-llm doctor``)."""

    def cost(self, usage: Usage, usd_rate: Decimal = Decimal(1)) -> Cost:
        """Price ``usage`` with this row's rates (exact Decimal arithmetic)."""
        cache_read = usage.cache_read_input_tokens
        cache_creation = usage.cache_creation_input_tokens
        # A report whose cache counts exceed input_tokens is inconsistent; the cache counts
        # are priced as reported and plain input is clamped at zero rather than negative.
        plain_input = max(usage.input_tokens - cache_read - cache_creation, 0)
        reasoning = min(usage.reasoning_output_tokens, usage.output_tokens)
        plain_output = usage.output_tokens - reasoning
        rates = (
            ("input", plain_input, self.input),
            ("cache_read", cache_read, _or(self.cached_input, self.input)),
            ("cache_creation", cache_creation, _or(self.cache_write, self.input)),
            ("output", plain_output, self.output),
            ("reasoning", reasoning, _or(self.reasoning, self.output)),
        )
        parts = {kind: tokens * rate / _MILLION for kind, tokens, rate in rates if tokens}
        total = sum(parts.values(), Decimal(0))
        return Cost(
            total=total,
            by_token_type=parts,
            currency=self.currency,
            model=self.model,
            provider=self.provider,
            usd=total * usd_rate,
        )


def _or(value: Decimal | None, default: Decimal) -> Decimal:
    return default if value is None else value


class PricingTable:
    """Validated prices plus the explicit rules that map a model name to a row.

    Resolution, in order: (1) the provider alias (``azure.ai.openai`` prices as
    ``openai``); (2) a ``provider/`` prefix on the model is dropped (``openai/gpt-4o``);
    (3) an exact row or alias; (4) the name with ONE snapshot suffix removed
    (``gpt-4o-2024-08-06`` -> ``gpt-4o``), trying the table's ``snapshot_suffixes`` in
    order. Nothing else: an unmatched model is unknown, never approximated.
    """

    def __init__(
        self,
        prices: Sequence[Price],
        *,
        version: str,
        snapshot_suffixes: Sequence[str] = (),
        provider_aliases: Mapping[str, str] | None = None,
        exchange_rates: Mapping[str, Decimal] | None = None,
        sources: Sequence[str] = (),
    ) -> None:
        self.version = version
        self.sources = tuple(sources)
        self.snapshot_suffixes = tuple(snapshot_suffixes)
        self._suffixes = [re.compile(f"(?:{s})$") for s in self.snapshot_suffixes]
        self.provider_aliases: Mapping[str, str] = dict(provider_aliases or {})
        self.exchange_rates: Mapping[str, Decimal] = {"USD": Decimal(1), **(exchange_rates or {})}
        self._prices = tuple(prices)
        self._index: dict[tuple[str, str], Price] = {}
        for price in self._prices:
            for name in (price.model, *price.aliases):
                self._index[(price.provider.lower(), name.lower())] = price
        self._resolved: dict[tuple[str, str], Price | None] = {}
        self._warned: set[tuple[str, str]] = set()
        self._lock = fork_safe_lock()

    def __len__(self) -> int:
        return len(self._prices)

    def __iter__(self) -> Iterator[Price]:
        return iter(self._prices)

    def __repr__(self) -> str:
        return f"PricingTable(version={self.version!r}, models={len(self._prices)})"

    def resolve(self, provider: str, model: str) -> Price | None:
        """The row that prices ``model`` of ``provider``, or None (no warning)."""
        key = (provider, model)
        try:
            return self._resolved[key]
        except KeyError:
            pass
        found = self._resolve(provider.lower(), model.lower())
        if len(self._resolved) < _MAX_CACHED_RESOLUTIONS:
            self._resolved[key] = found
        return found

    def _resolve(self, provider: str, model: str) -> Price | None:
        provider = self.provider_aliases.get(provider, provider)
        for prefix in {provider, *(k for k, v in self.provider_aliases.items() if v == provider)}:
            if model.startswith(prefix + "/"):
                model = model[len(prefix) + 1 :]
                break
        index = self._index
        found = index.get((provider, model))
        if found is not None:
            return found
        for suffix in self._suffixes:
            family = suffix.sub("", model, count=1)
            if family != model:
                found = index.get((provider, family))
                if found is not None:
                    return found
        return None

    def cost(self, provider: str, model: str, usage: Usage) -> Cost | None:
        """Price one call; None (and one warning per provider and model) if unknown."""
        price = self.resolve(provider, model)
        if price is None:
            self._warn_unknown(provider, model)
            return None
        return price.cost(usage, self.exchange_rates[price.currency])

    def _warn_unknown(self, provider: str, model: str) -> None:
        key = (provider, model)
        with self._lock:
            if key in self._warned or len(self._warned) >= _MAX_WARNED:
                return
            self._warned.add(key)
        _log.warning(
            "otel-llm has no price for model %r of provider %r, so its calls get no cost; "
            "add it to the file named by %s (table version %s)",
            model,
            provider,
            semconv.ENV_LLM_PRICING_FILE,
            self.version,
        )


# -- loading ---------------------------------------------------------------------------
class _Located(dict[str, Any]):
    """A JSON object that remembers the line it started on."""

    line: int = 0


def _decode(text: str, source: str) -> Any:
    """Parse JSON with Decimal numbers, remembering each object's line; reject duplicates."""
    newlines = [i for i, ch in enumerate(text) if ch == "\n"]
    decoder = json.JSONDecoder(parse_float=Decimal, parse_int=Decimal)

    def parse_object(s_and_end: tuple[str, int], strict: bool, scan_once: Any, hook: Any,
                     pairs_hook: Any, memo: Any = None) -> tuple[_Located, int]:  # fmt: skip
        line = bisect.bisect_left(newlines, s_and_end[1]) + 1
        pairs, end = json.decoder.JSONObject(  # type: ignore[attr-defined]
            s_and_end, strict, scan_once, hook, list, memo
        )
        obj = _Located()
        obj.line = line
        for key, value in pairs:
            if key in obj:
                raise PricingError(f"{source}:{line}: duplicate key {key!r}")
            obj[key] = value
        return obj, end

    decoder.parse_object = parse_object  # type: ignore[attr-defined]
    decoder.scan_once = json.scanner.py_make_scanner(decoder)  # type: ignore[attr-defined]
    try:
        return decoder.decode(text)
    except json.JSONDecodeError as exc:
        raise PricingError(
            f"{source}:{exc.lineno}: not valid JSON: {exc.msg} (column {exc.colno})"
        ) from None


def _decimal(value: Any, where: str, what: str) -> Decimal:
    if isinstance(value, bool):
        raise PricingError(f"{where}: {what} must be a number, got {value!r}")
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise PricingError(f"{where}: {what} must be a number, got {value!r}") from None
    if not number.is_finite() or number < 0:
        raise PricingError(f"{where}: {what} must be a finite non-negative number, got {value!r}")
    return number


def _string(value: Any, where: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PricingError(f"{where}: {what} must be a non-empty string, got {value!r}")
    return value.strip()


def _currency(value: Any, where: str) -> str:
    code = _string(value, where, "currency").upper()
    if code not in CURRENCIES:
        raise PricingError(f"{where}: unknown currency {value!r} (use an ISO 4217 code like USD)")
    return code


def _line(obj: Any, source: str, fallback: str | None = None) -> str:
    """``file:line`` of a parsed JSON object; for a Python mapping, ``fallback`` or the source."""
    line = getattr(obj, "line", None)
    if line is not None:
        return f"{source}:{line}"
    return fallback or source


@dataclass
class _Parsed:
    version: str | None = None
    currency: str | None = None
    suffixes: list[str] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)
    rates: dict[str, Decimal] = field(default_factory=dict)
    prices: list[Price] = field(default_factory=list)


def _parse(data: Any, source: str, default_currency: str) -> _Parsed:
    """Validate one table document (file or mapping) into rows and rules."""
    where = _line(data, source)
    if not isinstance(data, Mapping):
        raise PricingError(f"{where}: a pricing table must be a JSON object")
    unknown = sorted(set(data) - _TOP_FIELDS)
    if unknown:
        raise PricingError(
            f"{where}: unknown key(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(_TOP_FIELDS))}"
        )
    parsed = _Parsed()
    schema = data.get("schema", _SCHEMA)
    if schema != _SCHEMA:
        raise PricingError(f"{where}: unsupported schema {schema} (this otel-llm reads 1)")
    if "version" in data:
        parsed.version = _string(data["version"], where, "version")
    if "currency" in data:
        parsed.currency = _currency(data["currency"], where)
    currency = parsed.currency or default_currency
    for suffix in data.get("snapshot_suffixes", []):
        text = _string(suffix, where, "each snapshot_suffixes entry")
        try:
            re.compile(text)
        except re.error as exc:
            raise PricingError(f"{where}: bad snapshot suffix pattern {text!r}: {exc}") from None
        parsed.suffixes.append(text)
    aliases = data.get("provider_aliases", {})
    if not isinstance(aliases, Mapping):
        raise PricingError(f"{where}: provider_aliases must be an object")
    for alias, target in aliases.items():
        parsed.aliases[alias.lower()] = _string(
            target, where, f"provider_aliases[{alias!r}]"
        ).lower()
    rates = data.get("exchange_rates", {})
    if not isinstance(rates, Mapping):
        raise PricingError(f"{where}: exchange_rates must be an object")
    for code, rate in rates.items():
        parsed.rates[_currency(code, where)] = _decimal(rate, where, f"exchange_rates[{code!r}]")
    models = data.get("models", [])
    if not isinstance(models, Sequence) or isinstance(models, str):
        raise PricingError(f"{where}: models must be a list of objects")
    seen: dict[tuple[str, str], str] = {}
    for index, entry in enumerate(models):
        price = _parse_entry(entry, _line(entry, source, f"{source} models[{index}]"), currency)
        for name in (price.model, *price.aliases):
            key = (price.provider.lower(), name.lower())
            if key in seen:
                raise PricingError(
                    f"{price.origin}: {price.provider}/{name} is already priced at {seen[key]}"
                )
            seen[key] = price.origin
        parsed.prices.append(price)
    return parsed


def _parse_entry(entry: Any, where: str, currency: str) -> Price:
    if not isinstance(entry, Mapping):
        raise PricingError(f"{where}: each models entry must be an object, got {entry!r}")
    unknown = sorted(set(entry) - _ENTRY_FIELDS)
    if unknown:
        raise PricingError(
            f"{where}: unknown field(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(_ENTRY_FIELDS))}"
        )
    for required in ("provider", "model", "input", "output", "date", "source"):
        if required not in entry:
            raise PricingError(f"{where}: missing required field {required!r}")
    provider = _string(entry["provider"], where, "provider")
    model = _string(entry["model"], where, "model")
    try:
        when = date.fromisoformat(_string(entry["date"], where, "date"))
    except ValueError:
        raise PricingError(f"{where}: date must be YYYY-MM-DD, got {entry['date']!r}") from None
    aliases = entry.get("aliases", [])
    if not isinstance(aliases, list):
        raise PricingError(f"{where}: aliases must be a list of model names")
    optional = {
        name: _decimal(entry[name], where, name)
        for name in ("cached_input", "cache_write", "reasoning")
        if entry.get(name) is not None
    }
    return Price(
        provider=provider,
        model=model,
        input=_decimal(entry["input"], where, "input"),
        output=_decimal(entry["output"], where, "output"),
        currency=_currency(entry["currency"], where) if "currency" in entry else currency,
        date=when,
        source=_string(entry["source"], where, "source"),
        aliases=tuple(_string(a, where, "each alias") for a in aliases),
        origin=where,
        **optional,
    )


def _read(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise PricingError(f"{path}:0: cannot read pricing file: {exc.strerror or exc}") from None
    return _decode(text, path)


def _packaged() -> Any:
    text = resources.files("otel_llm").joinpath(_PACKAGED).read_text(encoding="utf-8")
    return _decode(text, f"otel_llm/{_PACKAGED}")


def load_table(path: str | None = None, overrides: Mapping[str, Any] | None = None) -> PricingTable:
    """Build a table: the packaged prices, then ``path`` (default: ``$OTEL_LLM_PRICING_FILE``),
    then ``overrides`` (a mapping in the file's format). Later rows replace earlier rows of
    the same provider and model; suffix rules and aliases are added.

    Raises ``PricingError`` (a ``ValueError``) naming the file and line of the first problem.
    """
    documents: list[tuple[Any, str]] = [(_packaged(), f"otel_llm/{_PACKAGED}")]
    path = path if path is not None else os.environ.get(semconv.ENV_LLM_PRICING_FILE) or None
    if path:
        documents.append((_read(path), path))
    if overrides is not None:
        documents.append((overrides, "configure(pricing=...)"))
    version = ""
    currency = "USD"
    suffixes: list[str] = []
    aliases: dict[str, str] = {}
    rates: dict[str, Decimal] = {}
    rows: dict[tuple[str, str], Price] = {}
    for data, source in documents:
        parsed = _parse(data, source, currency)
        currency = parsed.currency or currency
        label = parsed.version or source.rsplit("/", 1)[-1]
        version = label if not version else f"{version}+{label}"
        suffixes.extend(s for s in parsed.suffixes if s not in suffixes)
        aliases.update(parsed.aliases)
        rates.update(parsed.rates)
        for price in parsed.prices:
            # A later row replaces the earlier row of the same provider and model (and with
            # it that row's aliases); later rows also win alias clashes in the index.
            rows[(price.provider.lower(), price.model.lower())] = price
    prices = list(rows.values())
    for price in prices:
        if price.currency not in rates and price.currency != "USD":
            raise PricingError(
                f"{price.origin}: prices in {price.currency} need an exchange rate "
                f'("exchange_rates": {{"{price.currency}": <USD per unit>}})'
            )
    return PricingTable(
        prices,
        version=version,
        snapshot_suffixes=suffixes,
        provider_aliases=aliases,
        exchange_rates=rates,
        sources=[source for _, source in documents],
    )


# -- the process-wide table -------------------------------------------------------------
_table: PricingTable | None = None
_table_lock = fork_safe_lock()


def get_table() -> PricingTable:
    """The table in use: set by ``configure()``, else loaded on first use.

    On first use a bad ``OTEL_LLM_PRICING_FILE`` is logged as an error and the packaged
    table is used, so a running app never fails because of its pricing file;
    ``configure()`` loads the table eagerly and raises instead.
    """
    table = _table
    if table is not None:
        return table
    with _table_lock:
        if _table is not None:
            return _table
        try:
            table = load_table()
        except PricingError as exc:
            _log.error("otel-llm ignored the pricing file: %s", exc)
            table = load_table(path="")
        set_table(table)
        return table


def set_table(table: PricingTable | None) -> None:
    """Use ``table`` for every later price (None: reload lazily on next use)."""
    global _table
    _table = table


def configure_pricing(
    pricing: str | Mapping[str, Any] | PricingTable | None = None,
) -> PricingTable:
    """What ``configure(pricing=...)`` does: load the table now and use it from now on.

    ``pricing`` is a file path, a mapping in the file's format (applied over the packaged
    table and ``OTEL_LLM_PRICING_FILE``), a ready ``PricingTable``, or None (packaged table
    plus ``OTEL_LLM_PRICING_FILE``). A bad table raises ``PricingError`` here, at startup.
    """
    if isinstance(pricing, PricingTable):
        table = pricing
    elif isinstance(pricing, str):
        table = load_table(pricing)
    else:
        table = load_table(overrides=pricing)
    set_table(table)
    return table
