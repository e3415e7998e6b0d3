"""Which blobs may go: the startup prune and the after-delete clean-up (§3.5). Pure.

Invariant: a canonical blob a manifest references is never planned for deletion,
and nothing younger than the grace period is: an upload or a create in progress
writes its blobs before the manifest that references them, so a young
unreferenced blob may be one that is about to be referenced.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from ollama_actors.domain.digests import Digest
from ollama_actors.domain.manifests import Manifest
from ollama_actors.management.domain.layout import digest_from_blob_filename

__all__ = [
    "DEFAULT_PRUNE_GRACE_SECONDS",
    "BlobFile",
    "is_stale",
    "prune_plan",
    "unreferenced",
    "unreferenced_after_delete",
]

DEFAULT_PRUNE_GRACE_SECONDS = 3600.0


@dataclass(frozen=True)
class BlobFile:
    """A file found in ``blobs/``: its name and its mtime (seconds since the epoch)."""

    name: str
    mtime: float


def is_stale(mtime: float, now: float, grace_seconds: float) -> bool:
    """Whether a file last modified at ``mtime`` is at least ``grace_seconds`` old.

    A file from the future (clock skew) is never stale.
    """
    return now - mtime >= grace_seconds


def prune_plan(
    referenced: Collection[Digest],
    files: Iterable[BlobFile],
    now: float,
    grace_seconds: float = DEFAULT_PRUNE_GRACE_SECONDS,
) -> tuple[str, ...]:
    """Names of the files in ``blobs/`` the startup prune deletes, in input order.

    A stale file goes when its name is not a canonical digest (stale temp files,
    ``-partial`` leftovers) or when its digest is not in ``referenced``.
    """
    doomed: list[str] = []
    for blob in files:
        if not is_stale(blob.mtime, now, grace_seconds):
            continue
        digest = digest_from_blob_filename(blob.name)
        if digest is None or digest not in referenced:
            doomed.append(blob.name)
    return tuple(doomed)


def unreferenced(candidates: Iterable[Digest], referenced: Collection[Digest]) -> tuple[Digest, ...]:
    """The ``candidates`` not in ``referenced``, without repeats, in order."""
    return tuple(digest for digest in dict.fromkeys(candidates) if digest not in referenced)


def unreferenced_after_delete(deleted: Manifest, remaining: Iterable[Manifest]) -> tuple[Digest, ...]:
    """Blobs of ``deleted`` that no ``remaining`` manifest uses: what delete may remove.

    Also serves create and pull, where ``deleted`` is the tag's previous manifest
    and ``remaining`` includes its replacement.
    """
    still_used = {digest for manifest in remaining for digest in manifest.all_digests}
    return unreferenced(deleted.all_digests, still_used)
