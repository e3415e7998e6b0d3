"""Content digests: the one validated ``sha256`` type every blob path is built from.

Invariant: a ``Digest`` always holds exactly 64 lowercase hex characters, so a file
name derived from it (``sha256-<hex>``) can never contain a path separator or
``..``. Ollama's CVE-2024-37032 ("Probllama") came from building blob paths out of
unvalidated registry digests; every digest that enters the system, from a request
path, a manifest or a registry, goes through :func:`parse_digest` first (§3.4, §8.4).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from ollama_actors.domain.errors import InvalidDigestError

__all__ = ["Digest", "digest_of_bytes", "is_valid_digest", "parse_digest"]

# Ollama's pattern, ``^sha256[:-][0-9a-fA-F]{64}$``; used with ``fullmatch`` because
# Python's ``$`` also matches before a trailing newline and Go's does not.
_DIGEST = re.compile(r"sha256[:-]([0-9a-fA-F]{64})")
_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, order=True)
class Digest:
    """A SHA-256 digest, normalised to lowercase hex.

    ``str(d)`` is the JSON form ``sha256:<hex>``; ``d.filename`` is the blob file
    name ``sha256-<hex>``. Construct with :func:`parse_digest` for outside input.

    Raises:
        InvalidDigestError: ``hex`` is not 64 lowercase hex characters.
    """

    hex: str

    def __post_init__(self) -> None:
        if not isinstance(self.hex, str) or not _HEX.fullmatch(self.hex):
            raise InvalidDigestError()

    def __str__(self) -> str:
        return f"sha256:{self.hex}"

    @property
    def filename(self) -> str:
        """The blob's file name under ``blobs/`` (Ollama uses a dash, not a colon)."""
        return f"sha256-{self.hex}"

    @property
    def short(self) -> str:
        """The first 12 hex characters, as Ollama shows in ``pulling <x>`` and model IDs."""
        return self.hex[:12]


def parse_digest(raw: str) -> Digest:
    """Validate ``raw`` against ``^sha256[:-][0-9a-fA-F]{64}$`` and normalise it.

    Both separators are accepted because Ollama's blob endpoints and file names use
    either; uppercase hex is lowered so one blob has one name.

    Raises:
        InvalidDigestError: anything else, with Ollama's text ``invalid digest format``.
    """
    if not isinstance(raw, str):
        raise InvalidDigestError()
    match = _DIGEST.fullmatch(raw)
    if match is None:
        raise InvalidDigestError()
    return Digest(match.group(1).lower())


def is_valid_digest(raw: str) -> bool:
    """Whether :func:`parse_digest` would accept ``raw``."""
    return isinstance(raw, str) and _DIGEST.fullmatch(raw) is not None


def digest_of_bytes(data: bytes) -> Digest:
    """The SHA-256 digest of ``data``."""
    return Digest(hashlib.sha256(data).hexdigest())
