"""Secrets: every shape of the corpus is redacted, look-alikes are not, hostile text is cheap.

The corpus (tests/reliability/secrets_corpus.py) is checked against the redactor itself
here; test_secrets_export.py places it in every kind of telemetry and reads what the
exporters send. Yelp's detect-secrets is an independent oracle: a scanner written by other
people, with its own patterns, must find nothing in redacted text.
"""

from __future__ import annotations

import json
import random
import time

import pytest
from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
from detect_secrets.core.scan import scan_line
from detect_secrets.settings import transient_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_llm._redact import REDACTED, Redactor
from tests.reliability.secrets_corpus import CORPUS, LOOKALIKES, NORMAL_PROMPT, Secret, leaks

REDACTOR = Redactor()


def test_corpus_has_fifty_distinct_shapes_in_every_category() -> None:
    """At least 50 distinct, uniquely named shapes, spread over at least 10 categories."""
    names = [secret.name for secret in CORPUS]
    assert len(set(names)) == len(names) >= 50
    assert len({secret.category for secret in CORPUS}) >= 10


def test_leak_check_sees_every_raw_secret() -> None:
    """Control: the leak check finds every secret in the unredacted corpus, and a slice of 8."""
    assert leaks("\n".join(secret.text for secret in CORPUS)) == [s.name for s in CORPUS]
    core = CORPUS[0].cores[0]
    assert leaks(f"...{core[5:13]}...", CORPUS[:1]) == [CORPUS[0].name]


@pytest.mark.parametrize("secret", CORPUS, ids=[s.name for s in CORPUS])
def test_every_shape_is_redacted_once_and_for_all(secret: Secret) -> None:
    """Each shape leaves no 8-character slice behind, says [REDACTED], and a second pass
    changes nothing (a record may be redacted twice on its way out)."""
    once = REDACTOR.text(secret.text)
    assert leaks(once, [secret]) == [], once
    assert REDACTED in once
    assert REDACTOR.text(once) == once


@pytest.mark.parametrize("text", LOOKALIKES)
def test_lookalikes_are_not_redacted(text: str) -> None:
    """UUIDs, hashes, trace ids, base64 images, model names, prose about keys: unchanged."""
    assert REDACTOR.text(text) == text


def test_normal_prompt_is_unchanged() -> None:
    """The captured prompt used for the cost figures has nothing to redact."""
    assert REDACTOR.value(NORMAL_PROMPT, "gen_ai.input.messages") == NORMAL_PROMPT


def test_the_whole_corpus_in_one_captured_prompt() -> None:
    """All secrets in one chat history, JSON-encoded as content capture records it (quotes
    and newlines escaped: a secret right after "\\n"), interleaved with the look-alikes,
    and once more all in one completion: none leaks, look-alikes stay, JSON stays valid."""
    messages = [
        {"role": "user", "content": f"{LOOKALIKES[i % len(LOOKALIKES)]}\n{secret.text}\nok"}
        for i, secret in enumerate(CORPUS)
    ]
    messages.append({"role": "assistant", "content": "\n".join(s.text for s in CORPUS)})
    once = REDACTOR.text(json.dumps(messages))
    assert leaks(once) == []
    assert all(json.dumps(text)[1:-1] in once for text in LOOKALIKES)
    assert json.loads(once)[0]["role"] == "user"
    assert REDACTOR.text(once) == once


@pytest.mark.parametrize(
    ("before", "after"),
    [("密钥 😀 ", " — ok ✓"), ("\ud800İ ", " İ\udfff"), ("ß" * 5 + "\n", "\nǅ")],
    ids=["cjk-emoji", "surrogates-dotted-i", "sharp-s-titlecase"],
)
def test_non_ascii_around_secrets(before: str, after: str) -> None:
    """Text around a secret that is not ASCII (wide characters, lone surrogates, characters
    whose lower case is longer) moves no position: every shape is still redacted, and the
    text before it is kept."""
    for secret in CORPUS:
        once = REDACTOR.text(before + secret.text + after)
        assert leaks(once, [secret]) == [], secret.name
        assert once.startswith(before)
        assert REDACTOR.text(once) == once


_FRAGMENTS = [
    "sk-", "eyJ", "glpat-", "://", ":", "=", "password", "api_key", '"', "\\", "\\n",
    "-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----",
    "@", " ", "\n", "hooks.slack.com/services/", ":AA", "_", "-", "AKIA", "[REDACTED]", "'",
    ";", "&", "token", "authorization",
]  # fmt: skip


_PARTS = st.sampled_from([s.text for s in CORPUS] + LOOKALIKES + _FRAGMENTS)
_JOINS = st.sampled_from([" ", "\n", "\\n", ", ", "; ", "&", '", "', " | "])


@given(st.lists(st.tuples(_JOINS, _PARTS)))
@settings(max_examples=300, deadline=None)
def test_secrets_among_anything_never_survive(parts: list[tuple[str, str]]) -> None:
    """Corpus secrets next to look-alikes and to the characters every rule keys on (quotes,
    separators, escapes, half rules, [REDACTED] itself), each after a delimiter a log line,
    query string or JSON would have: none leaks, a second pass is a no-op."""
    once = REDACTOR.text("".join(join + part for join, part in parts))
    assert leaks(once) == []
    assert REDACTOR.text(once) == once


def _detect_secrets(text: str) -> list[str]:
    """Secret types Yelp's detect-secrets finds in ``text`` (its pattern plugins: the
    entropy and public-IP plugins flag every trace id and address, so they are left out)."""
    classes: list[type] = list(get_mapping_from_secret_type_to_class().values())
    plugins = [
        {"name": cls.__name__}
        for cls in classes
        if "Entropy" not in cls.__name__ and cls.__name__ != "IPPublicDetector"
    ]
    with transient_settings({"plugins_used": plugins}):
        return [found.type for line in text.splitlines() for found in scan_line(line)]


def test_detect_secrets_finds_nothing_after_redaction() -> None:
    """detect-secrets recognises many raw shapes (control) and none once redacted; it also
    takes no look-alike for a secret."""
    flagged = [secret.name for secret in CORPUS if _detect_secrets(secret.text)]
    assert len(flagged) >= 30, flagged
    assert [s.name for s in CORPUS if _detect_secrets(REDACTOR.text(s.text))] == []
    assert [text for text in LOOKALIKES if _detect_secrets(text)] == []


_MB = 1_000_000


def _fill(unit: str) -> str:
    return (unit * (_MB // len(unit) + 1))[:_MB]


def _hostile() -> dict[str, str]:
    rng = random.Random(7)
    fragments = [
        "sk-", "eyJ", "glpat-", "sntrys_", "://", ":", "=", "password", "api_key", '"', "\\",
        "Bearer ", "basic ", "-----BEGIN ", "PRIVATE KEY-----", "a", "A", "1", ".", "+", "/",
        "@", " ", "hooks.slack.com/services/", ":AA", "0", "_", "-", "AKIA", "key-",
    ]  # fmt: skip
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    return {
        "pem-begin-no-end": _fill("-----BEGIN RSA PRIVATE KEY-----\n"),
        "pem-long-header": "private key-----" + _fill("-----BEGIN " + "A " * 40),
        "url-long-scheme": _fill("a.") + "://",
        "url-userinfo": _fill("a://b:c"),
        "url-user-token": _fill("://a1") + "@",
        "sk-repeated": _fill("sk-a"),
        "sk-one-run": "sk-" + _fill("a"),
        "jwt-parts": _fill("eyJaaaaa."),
        "gitlab-dots": _fill("glpat-a."),
        "sentry-base64": _fill("sntrys_" + "a" * 30 + "+"),
        "pairs-chained": _fill("password="),
        "separators": _fill("=:"),
        "json-keys": _fill('"api_key":'),
        "escapes": _fill('"\\'),
        "bearer-one-run": "Bearer " + _fill("a"),
        "bearer-repeated": _fill("bearer "),
        "authorization-repeated": _fill("authorization: "),
        "telegram": _fill("1234567890:AA"),
        "webhooks": _fill("hooks.slack.com/services/"),
        "discord-shape": _fill("M" + "a" * 24 + ".aaaaaa."),
        "mailgun-shape": _fill("0" * 32 + "-"),
        "base64-megabyte": "".join(rng.choice(alphabet) for _ in range(_MB)),
        "fragments": "".join(rng.choice(fragments) for _ in range(_MB // 5)),
    }


HOSTILE = _hostile()


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_megabyte_is_linear(name: str) -> None:
    """1 MB built to make the patterns backtrack (openings without closings, chained keys,
    long runs) is redacted in well under a second of CPU (measured ~0.1 s; a quadratic
    pattern takes hours), and a second pass is a no-op."""
    text = HOSTILE[name]
    started = time.process_time()
    once = REDACTOR.text(text)
    assert time.process_time() - started < 5.0
    assert REDACTOR.text(once) == once
