"""Shared pieces of the tokenizer and litellm instrumentation tests.

Plain helpers imported by the test modules (this is not a pytest conftest): the test
modules define their fixtures with them. ``instrumented`` always uninstruments, so other
tests see pristine library classes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
"""A ChatML template, set in code (the local tokenizer ships none)."""

WORDS = (
    "hello world the quick brown fox jumps over lazy dog a an of to in is it you that "
    "he was for on are as with his they at be this have from or one had by word but not "
    "what all were we when your can said there use each which she do how their if will up"
).split()


def instrumented(instrumentor: BaseInstrumentor) -> Iterator[BaseInstrumentor]:
    """Instrument for the duration of a fixture; uninstrument in teardown, always."""
    instrumentor.instrument()
    try:
        yield instrumentor
    finally:
        instrumentor.uninstrument()


def build_hf_tokenizer(directory: Path) -> Any:
    """A word-level Hugging Face fast tokenizer built locally with ``tokenizers`` (no download)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[PAD]": 0, "[UNK]": 1, "<|im_start|>": 2, "<|im_end|>": 3}
    for word in [*WORDS, "user", "assistant", "system", "\n"]:
        vocab.setdefault(word, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    directory.mkdir(parents=True, exist_ok=True)
    backend.save(str(directory / "tokenizer.json"))
    (directory / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 64}))
    tok = PreTrainedTokenizerFast(
        tokenizer_file=str(directory / "tokenizer.json"),
        pad_token="[PAD]",
        unk_token="[UNK]",
        model_max_length=64,
        name_or_path="local/wordlevel",
    )
    tok.chat_template = CHAT_TEMPLATE
    return tok
