"""A manifest as found in the store: parsed form, exact bytes and file facts. Pure data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ollama_actors.domain.manifests import Manifest
from ollama_actors.domain.names import ModelName

__all__ = ["StoredManifest"]


@dataclass(frozen=True)
class StoredManifest:
    """One stored manifest.

    ``name`` has the stored casing; ``digest`` is the SHA-256 hex (no prefix) of
    ``raw``, which ``/api/tags`` reports and the CLI shortens to the model ID;
    ``modified_at`` is the manifest file's mtime, timezone-aware in local time;
    ``size`` is the manifest's ``total_size``.
    """

    name: ModelName
    manifest: Manifest
    raw: bytes
    digest: str
    modified_at: datetime
    size: int
