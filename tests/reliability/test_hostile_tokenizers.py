"""Hostile and odd tokenizer input: tiktoken and Hugging Face tokenizers return (or raise)
exactly what they do without otel-llm.

Real cl100k_base (built offline) and a locally built Hugging Face fast tokenizer (no
torch), uninstrumented then instrumented (``conftest.Differential``). Inputs: any Unicode
(lone surrogates, special-token text), wrong types, generators and other one-shot
iterables, nested and empty batches, invalid token ids, odd truncation/padding options,
odd chat conversations. Each call runs at the top level or under an application span.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from opentelemetry import trace

from otel_llm._offline import offline_encoding
from otel_llm.instrumentation.tiktoken import TiktokenInstrumentor
from otel_llm.instrumentation.transformers import TransformersInstrumentor
from tests.instrumentation.conftest_tokenizers import build_hf_tokenizer
from tests.reliability.conftest import Differential, error

EXAMPLES = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

ANY_TEXT = st.one_of(
    st.text(st.characters(codec=None), max_size=40),
    st.sampled_from(["", "<|endoftext|>", "a<|fim_prefix|>b", "\ud800", "\x00", "hello world"]),
    st.text(alphabet="hello world the fox", max_size=200),
)
"""Strings a caller may pass: any code points (surrogates too), special-token text."""


def _normal(value: Any) -> Any:
    """A comparable form: arrays and tensors as lists, mappings as dicts."""
    if hasattr(value, "tolist"):
        return ("array", type(value).__name__, _normal(value.tolist()))
    if hasattr(value, "keys") and hasattr(value, "__getitem__"):
        return ("mapping", type(value).__name__, {k: _normal(value[k]) for k in value})
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [_normal(v) for v in value])
    return (type(value).__name__, repr(value))


class Arg:
    """A recipe for one argument: built afresh for each run (generators are one-shot)."""

    def __init__(self, value: Any, one_shot: bool = False) -> None:
        self.value = value
        self.one_shot = one_shot

    def build(self) -> Any:
        """The argument (a new generator over the value if one-shot)."""
        return iter(list(self.value)) if self.one_shot else self.value

    def __repr__(self) -> str:
        return f"iter({self.value!r})" if self.one_shot else repr(self.value)


def _args(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Arg]:
    """A plain value, or a one-shot iterator over a list value."""
    return st.one_of(
        values.map(Arg),
        values.filter(lambda v: isinstance(v, (list, tuple))).map(lambda v: Arg(v, True)),
    )


def _run(call: Callable[[], Any], parent: bool) -> Callable[[], Any]:
    def case() -> Any:
        scope = (
            trace.get_tracer("app").start_as_current_span("app")
            if parent
            else contextlib.nullcontext()
        )
        with scope:
            try:
                return _normal(call())
            except Exception as exc:
                return error(exc)

    return case


# -- tiktoken ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cl100k() -> Any:
    """The real cl100k_base encoding, built offline."""
    return offline_encoding("cl100k_base")


TOKEN_IDS = st.lists(
    st.one_of(
        st.integers(0, 100_255),
        st.sampled_from([100_257, 100_276, 100_277, 200_000, -1, 2**40]),
        st.sampled_from([None, "1", 1.5, True]),
    ),
    max_size=12,
)
TEXTS = st.one_of(ANY_TEXT, st.sampled_from([None, 7, b"bytes", ["a", "b"]]))
SPECIAL = st.fixed_dictionaries(
    {},
    optional={
        "allowed_special": st.sampled_from(["all", set(), {"<|endoftext|>"}, frozenset()]),
        "disallowed_special": st.sampled_from(["all", (), {"<|fim_prefix|>"}]),
    },
)
TIKTOKEN_CALLS = st.one_of(
    st.tuples(st.sampled_from(["encode", "encode_to_numpy"]), _args(TEXTS), SPECIAL),
    st.tuples(st.just("encode_ordinary"), _args(TEXTS), st.just({})),
    st.tuples(st.just("decode"), _args(TOKEN_IDS), st.just({})),
    st.tuples(
        st.sampled_from(["encode_batch", "encode_ordinary_batch"]),
        _args(st.lists(TEXTS, max_size=4) | st.tuples(ANY_TEXT, ANY_TEXT)),
        st.just({}),
    ),
    st.tuples(st.just("decode_batch"), _args(st.lists(TOKEN_IDS, max_size=3)), st.just({})),
)


@EXAMPLES
@given(call=TIKTOKEN_CALLS, parent=st.booleans())
@example(call=("encode_batch", Arg(["hello", "world"], one_shot=True), {}), parent=False)
@example(call=("decode_batch", Arg([[15339], [1917]], one_shot=True), {}), parent=True)
def test_tiktoken(call: tuple[str, Arg, dict[str, Any]], parent: bool, cl100k: Any,
                  differential: Callable[..., Differential]) -> None:  # fmt: skip
    """Every Encoding method with any text, wrong types, one-shot iterables, invalid ids:
    the same result or error, and not one telemetry error."""
    method, arg, kwargs = call
    diff = differential(TiktokenInstrumentor())
    diff.check(
        _run(lambda: getattr(cl100k, method)(arg.build(), **kwargs), parent), expect_no_errors=True
    )


# -- Hugging Face tokenizers -----------------------------------------------------------------
@pytest.fixture(scope="module")
def hf(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A word-level fast tokenizer built locally (model_max_length 64, ChatML template)."""
    pytest.importorskip("transformers")
    return build_hf_tokenizer(tmp_path_factory.mktemp("hostile-tok"))


OPTIONS = st.fixed_dictionaries(
    {},
    optional={
        "truncation": st.sampled_from([True, False, "longest_first", "only_second", None]),
        "max_length": st.sampled_from([None, 0, 1, 3, 64, 10**20]),
        "padding": st.sampled_from([True, False, "max_length", "longest"]),
        "return_tensors": st.sampled_from([None, "np"]),
        "add_special_tokens": st.booleans(),
        "is_split_into_words": st.booleans(),
        "stride": st.sampled_from([0, 2]),
        "return_overflowing_tokens": st.booleans(),
    },
)
BATCH = st.lists(ANY_TEXT, max_size=4)
HF_TEXT = st.one_of(
    ANY_TEXT, BATCH, st.lists(BATCH, max_size=2), st.sampled_from([None, 5, [], [[]], b"x"])
)
MESSAGE = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["user", "assistant", "system", "tool", ""]),
        "content": st.one_of(
            ANY_TEXT,
            st.none(),
            st.just(7),
            st.lists(
                st.fixed_dictionaries({"type": st.just("text"), "text": ANY_TEXT | st.none()}),
                max_size=2,
            ),
        ),
    }
)
CONVERSATION = st.one_of(
    st.lists(MESSAGE, max_size=3),
    st.lists(st.lists(MESSAGE, min_size=1, max_size=2), min_size=1, max_size=2),
    st.sampled_from([None, "text", [], {}]),
)
CHAT_OPTIONS = st.fixed_dictionaries(
    {},
    optional={
        "tokenize": st.booleans(),
        "add_generation_prompt": st.booleans(),
        "truncation": st.sampled_from([True, False]),
        "max_length": st.sampled_from([None, 1, 4, 64]),
        "return_dict": st.booleans(),
        "padding": st.booleans(),
    },
)
HF_IDS = st.one_of(TOKEN_IDS, st.lists(TOKEN_IDS, max_size=2))
HF_CALLS = st.one_of(
    st.tuples(st.just("__call__"), _args(HF_TEXT), OPTIONS),
    st.tuples(st.just("encode"), _args(HF_TEXT), OPTIONS),
    st.tuples(st.just("apply_chat_template"), _args(CONVERSATION), CHAT_OPTIONS),
    st.tuples(
        st.sampled_from(["decode", "batch_decode"]),
        _args(HF_IDS),
        st.fixed_dictionaries({}, optional={"skip_special_tokens": st.booleans()}),
    ),
)


@EXAMPLES
@given(call=HF_CALLS, parent=st.booleans())
@example(
    call=("apply_chat_template", Arg([{"role": "user", "content": "hello"}], True), {}),
    parent=False,
)
def test_hf_tokenizer(call: tuple[str, Arg, dict[str, Any]], parent: bool, hf: Any,
                      differential: Callable[..., Differential]) -> None:  # fmt: skip
    """__call__, encode, decode, batch_decode and apply_chat_template with odd text, wrong
    types, one-shot iterables, nested batches and every truncation/padding combination:
    the same result or error, and not one telemetry error."""
    method, arg, kwargs = call
    diff = differential(TransformersInstrumentor())
    diff.check(
        _run(lambda: getattr(hf, method)(arg.build(), **kwargs), parent), expect_no_errors=True
    )


@pytest.fixture(autouse=True)
def _quiet_transformers() -> Iterator[None]:
    """transformers logs advice for odd options; keep it out of the test output."""
    import logging

    logger = logging.getLogger("transformers")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)
