"""Pure domain of the management context: store layout, pruning plans, stored manifests.

(Other modules of this package, such as ``capabilities`` and ``show``, are
re-exported here by their owners.)
"""

from __future__ import annotations

from ollama_actors.management.domain.layout import (
    BLOB_TEMP_PREFIX,
    BLOB_TEMP_SUFFIX,
    BLOBS_DIR,
    MANIFEST_TEMP_SUFFIX,
    MANIFESTS_DIR,
    blob_relpath,
    digest_from_blob_filename,
    is_blob_temp_name,
    is_manifest_temp_name,
    manifest_relpath,
    manifest_temp_prefix,
    name_from_manifest_parts,
    normalized_blob_filename,
)
from ollama_actors.management.domain.mounts import mount_sources
from ollama_actors.management.domain.parts import Part, PartsState, plan_parts
from ollama_actors.management.domain.pruning import (
    DEFAULT_PRUNE_GRACE_SECONDS,
    BlobFile,
    is_stale,
    prune_plan,
    unreferenced,
    unreferenced_after_delete,
)
from ollama_actors.management.domain.stored import StoredManifest

__all__ = [
    "BLOBS_DIR",
    "BLOB_TEMP_PREFIX",
    "BLOB_TEMP_SUFFIX",
    "BlobFile",
    "DEFAULT_PRUNE_GRACE_SECONDS",
    "MANIFESTS_DIR",
    "MANIFEST_TEMP_SUFFIX",
    "Part",
    "PartsState",
    "StoredManifest",
    "blob_relpath",
    "digest_from_blob_filename",
    "is_blob_temp_name",
    "is_manifest_temp_name",
    "is_stale",
    "manifest_relpath",
    "manifest_temp_prefix",
    "mount_sources",
    "name_from_manifest_parts",
    "normalized_blob_filename",
    "plan_parts",
    "prune_plan",
    "unreferenced",
    "unreferenced_after_delete",
]
