"""Ollama's store layout as pure path arithmetic (§3.2): where a name or digest lives.

Invariant: every path returned here is relative, has no empty, ``.`` or ``..``
component and no separator inside a component, because it is built only from a
validated ``ModelName`` or ``Digest``. The file-system adapter joins these under
its root and nowhere else.

    manifests/<host>/<namespace>/<model>/<tag>    one manifest per tag
    blobs/sha256-<hex>                            content-addressed blobs
    blobs/sha256-<random>.tmp                     our in-progress blob writes
    manifests/…/<model>/.<tag>.<random>.tmp       our in-progress manifest writes
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath

from ollama_actors.domain.digests import Digest, is_valid_digest, parse_digest
from ollama_actors.domain.errors import InvalidModelNameError
from ollama_actors.domain.names import DEFAULT_SCHEME, ModelName

__all__ = [
    "BLOBS_DIR",
    "BLOB_TEMP_PREFIX",
    "BLOB_TEMP_SUFFIX",
    "MANIFESTS_DIR",
    "MANIFEST_TEMP_SUFFIX",
    "blob_relpath",
    "digest_from_blob_filename",
    "is_blob_temp_name",
    "is_manifest_temp_name",
    "manifest_relpath",
    "manifest_temp_prefix",
    "name_from_manifest_parts",
    "normalized_blob_filename",
]

MANIFESTS_DIR = "manifests"
BLOBS_DIR = "blobs"
# Ollama's own temp blobs are ``sha256-<random>``; ours add a suffix so that they
# can never be mistaken for a finished blob, and both are invalid digest names
# that the startup prune removes once stale.
BLOB_TEMP_PREFIX = "sha256-"
BLOB_TEMP_SUFFIX = ".tmp"
MANIFEST_TEMP_SUFFIX = ".tmp"


def _checked(parts: Sequence[str]) -> PurePosixPath:
    """Join parts, refusing any that could step outside the store (defence in depth)."""
    for part in parts:
        if part in ("", ".", "..") or "/" in part or "\\" in part or "\x00" in part:
            raise InvalidModelNameError()
    return PurePosixPath(*parts)


def manifest_relpath(name: ModelName) -> PurePosixPath:
    """``manifests/<host>/<namespace>/<model>/<tag>``, case as given."""
    return _checked((MANIFESTS_DIR, *name.manifest_parts))


def blob_relpath(digest: Digest) -> PurePosixPath:
    """``blobs/sha256-<hex>``."""
    return PurePosixPath(BLOBS_DIR, digest.filename)


def name_from_manifest_parts(parts: Sequence[str]) -> ModelName | None:
    """The name a manifest path denotes (parts below ``manifests/``), or ``None``.

    Mirrors Ollama's ``ParseNameFromFilepath``: exactly four parts, each valid.
    """
    if len(parts) != 4:
        return None
    try:
        return ModelName(DEFAULT_SCHEME, *parts)
    except InvalidModelNameError:
        return None


def digest_from_blob_filename(filename: str) -> Digest | None:
    """The digest a blob file name stands for, only if it is the canonical ``sha256-<hex>``.

    Other spellings (colon, uppercase hex) are not blobs we serve: the store renames
    them to the canonical form when it opens.
    """
    if not is_valid_digest(filename):
        return None
    digest = parse_digest(filename)
    return digest if digest.filename == filename else None


def normalized_blob_filename(filename: str) -> str | None:
    """The canonical name for a blob file spelled ``sha256:<hex>`` or with uppercase hex.

    ``None`` when the name is already canonical or is not a digest at all. Ollama
    renames colon names at start-up (``fixBlobs``); we also lower the hex, since
    ``Digest`` is always lowercase.
    """
    if not is_valid_digest(filename):
        return None
    canonical = parse_digest(filename).filename
    return None if canonical == filename else canonical


def is_blob_temp_name(filename: str) -> bool:
    """Whether ``filename`` is one of our in-progress blob files."""
    return (
        filename.startswith(BLOB_TEMP_PREFIX)
        and filename.endswith(BLOB_TEMP_SUFFIX)
        and "/" not in filename
        and len(filename) > len(BLOB_TEMP_PREFIX) + len(BLOB_TEMP_SUFFIX)
    )


def manifest_temp_prefix(tag: str) -> str:
    """Prefix of an in-progress manifest file; tags never start with ``.``, so no clash."""
    return f".{tag}."


def is_manifest_temp_name(filename: str) -> bool:
    """Whether ``filename`` (a leaf under a model directory) is one of our manifest temps."""
    return filename.startswith(".") and filename.endswith(MANIFEST_TEMP_SUFFIX)
