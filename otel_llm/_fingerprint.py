"""Error fingerprints: one short, stable id per kind of failure, for grouping and alerting.

The fingerprint hashes the error type, the operation and the message with secrets
redacted and volatile parts (UUIDs, ids, hex, numbers, quoted values) replaced, so
"429 for request req_8f3a..." and "429 for request req_91bc..." share one fingerprint.
It goes on span exception events and error log records, never on metrics.
"""

from __future__ import annotations

import hashlib
import re

from ._redact import Redactor

__all__ = ["fingerprint", "normalise"]

_REDACTOR = Redactor()
_HEX = r"[0-9a-fA-F]"
_VOLATILE: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(rf"\b{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}\b"), "<uuid>"),
    (re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`"), "<value>"),
    (re.compile(r"\b[A-Za-z]+[-_](?=[A-Za-z0-9]*\d)[A-Za-z0-9]{6,}\b"), "<id>"),
    (re.compile(rf"\b(?:0x)?(?={_HEX}*\d)(?={_HEX}*[a-fA-F]){_HEX}{{6,}}\b"), "<hex>"),
    (re.compile(r"\d+(?:\.\d+)?"), "<n>"),
    (re.compile(r"\s+"), " "),
)
_MAX_MESSAGE = 2000


def normalise(message: str) -> str:
    """The message with secrets redacted and ids, numbers and quoted values replaced."""
    text = _REDACTOR.text(message[:_MAX_MESSAGE])
    for pattern, replacement in _VOLATILE:
        text = pattern.sub(replacement, text)
    return text.strip()


def fingerprint(error_type: str, operation: str, message: str) -> str:
    """16 hex digits identifying this kind of error in this operation."""
    key = f"{error_type}\x1f{operation}\x1f{normalise(message)}"
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:16]
