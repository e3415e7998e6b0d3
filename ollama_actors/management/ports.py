"""What the management context needs from the world: the ``ModelStore`` port.

A store holds manifests (one per model tag) and content-addressed blobs in
Ollama's layout and semantics. Implementations: ``FileSystemModelStore`` (the real
one, Ollama's on-disk layout) and, for tests, an in-memory fake implementing the
whole port. Every method is synchronous and is called from one thread only, the
ModelManager actor's (the store's single writer); none is safe to call
concurrently.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from ollama_actors.domain.digests import Digest
from ollama_actors.domain.manifests import Manifest
from ollama_actors.domain.names import ModelName
from ollama_actors.management.domain.stored import StoredManifest

__all__ = ["ModelStore", "Quantizer"]


class ModelStore(Protocol):
    """Manifests and blobs, written atomically, a manifest only after its blobs."""

    @property
    def root(self) -> Path:
        """The store's root directory (``OLLAMA_MODELS``)."""
        ...

    # -- blobs ---------------------------------------------------------------

    def blob_path(self, digest: Digest) -> Path:
        """Where the blob lives (``show`` prints it in the FROM line); may not exist."""
        ...

    def has_blob(self, digest: Digest) -> bool:
        """Whether the blob is present."""
        ...

    def blob_size(self, digest: Digest) -> int:
        """Size in bytes. Raises ``BlobNotFoundError``."""
        ...

    def touch_blob(self, digest: Digest) -> None:
        """Refresh the blob's mtime so the prune grace restarts. Raises ``BlobNotFoundError``."""
        ...

    def new_blob_temp(self) -> Path:
        """A fresh, empty temp file in the blob folder for a streamed write."""
        ...

    def commit_blob(self, temp: Path, expected: Digest | None = None) -> Digest:
        """Hash ``temp`` and move it into place. Raises ``DigestMismatchError`` (temp removed)."""
        ...

    def commit_new_blob(self, temp: Path) -> tuple[Digest, bool]:
        """Hash ``temp`` and move it into place; also say whether the blob is new to the store."""
        ...

    def discard_blob_temp(self, temp: Path) -> None:
        """Remove an abandoned temp file (an upload that failed half-way)."""
        ...

    def write_blob_bytes(self, data: bytes) -> Digest:
        """Store ``data`` as a blob; an existing one is touched."""
        ...

    def import_blob(self, src: Path) -> Digest:
        """Copy a file in as a blob, hashing while copying."""
        ...

    def read_blob_bytes(self, digest: Digest) -> bytes:
        """A small blob's content. Raises ``BlobNotFoundError``."""
        ...

    # -- manifests -------------------------------------------------------------

    def resolve(self, name: ModelName) -> ModelName:
        """``name`` in the casing already stored, part by part; unchanged where nothing matches."""
        ...

    def read_manifest(self, name: ModelName) -> StoredManifest:
        """Raises ``ModelNotFoundError`` (absent) or ``InvalidManifestError`` (corrupt)."""
        ...

    def write_manifest(self, name: ModelName, manifest: Manifest) -> StoredManifest:
        """Write Ollama's bytes for ``manifest``. Raises ``BlobNotFoundError`` if a blob is missing."""
        ...

    def write_manifest_raw(self, name: ModelName, raw: bytes) -> StoredManifest:
        """Write ``raw`` byte for byte (pulls, copies). Raises ``InvalidManifestError``, ``BlobNotFoundError``."""
        ...

    def delete_manifest(self, name: ModelName) -> ModelName:
        """Remove the manifest and its empty folders; blobs stay. Raises ``ModelNotFoundError``."""
        ...

    def list_manifests(self) -> list[StoredManifest]:
        """Every readable manifest, newest first; corrupt ones are logged and skipped."""
        ...

    # -- garbage -----------------------------------------------------------------

    def referenced_digests(self) -> set[Digest]:
        """Every digest some stored manifest references."""
        ...

    def remove_blobs_if_unreferenced(self, digests: Iterable[Digest]) -> list[Digest]:
        """Delete those of ``digests`` no manifest references; returns the ones removed."""
        ...

    def prune(self, grace_seconds: float = 3600.0, now: float | None = None) -> list[str]:
        """The startup prune (§3.5); returns the removed paths relative to ``root``."""
        ...

    def remove_empty_manifest_dirs(self) -> None:
        """Remove empty folders under ``manifests/``."""
        ...


class Quantizer(Protocol):
    """Rewrites a GGUF model with its tensors quantized (llama.cpp's quantizer).

    Called from the ModelManager's thread; blocks for as long as the quantization
    runs (seconds per GB) and writes nothing but ``target``.
    """

    def quantize(self, source: Path, target: Path, file_type: str) -> None:
        """Write ``source`` quantized to ``file_type`` (``Q8_0``, ``Q4_K_M``…) into ``target``.

        Raises:
            QuantizationError: llama.cpp failed, or ``file_type`` is not one it knows.
        """
        ...
