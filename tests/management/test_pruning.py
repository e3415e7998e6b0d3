"""Prune plans (§3.5): never a referenced blob, never a young file, always stale garbage."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from ollama_actors.domain.digests import Digest
from ollama_actors.domain.manifests import MEDIA_TYPE_CONFIG, MEDIA_TYPE_MODEL, Layer, Manifest
from ollama_actors.management.domain import (
    BlobFile,
    digest_from_blob_filename,
    is_stale,
    prune_plan,
    unreferenced,
    unreferenced_after_delete,
)

NOW = 1_800_000_000.0
HOUR = 3600.0


def _digest(seed: int) -> Digest:
    return Digest(hashlib.sha256(str(seed).encode()).hexdigest())


def test_table_of_prune_decisions() -> None:
    kept, orphan, young = _digest(1), _digest(2), _digest(3)
    files = [
        BlobFile(kept.filename, NOW - 10 * HOUR),  # referenced: stays however old
        BlobFile(orphan.filename, NOW - HOUR),  # unreferenced, exactly at the grace: goes
        BlobFile(young.filename, NOW - HOUR + 1),  # unreferenced but young: stays
        BlobFile(f"{orphan.filename}-partial", NOW - 2 * HOUR),  # invalid name, stale: goes
        BlobFile("sha256-abc123.tmp", NOW - 60),  # temp in progress: stays
        BlobFile("sha256-def456.tmp", NOW - 2 * HOUR),  # temp left by a crash: goes
        BlobFile(f"sha256:{kept.hex}", NOW - 2 * HOUR),  # non-canonical spelling: goes
        BlobFile(_digest(4).filename, NOW + HOUR),  # from the future: stays
    ]
    assert prune_plan({kept}, files, NOW) == (
        orphan.filename,
        f"{orphan.filename}-partial",
        "sha256-def456.tmp",
        f"sha256:{kept.hex}",
    )
    without_grace = set(prune_plan({kept}, files, NOW, grace_seconds=0))
    assert without_grace == set(prune_plan({kept}, files, NOW)) | {young.filename, "sha256-abc123.tmp"}


def test_is_stale_uses_the_grace_period() -> None:
    assert is_stale(NOW - HOUR, NOW, HOUR)
    assert not is_stale(NOW - HOUR + 0.5, NOW, HOUR)
    assert not is_stale(NOW + 5, NOW, 0)


def _manifest(*seeds: int) -> Manifest:
    return Manifest(
        config=Layer(MEDIA_TYPE_CONFIG, _digest(seeds[0]), 1),
        layers=tuple(Layer(MEDIA_TYPE_MODEL, _digest(seed), 1) for seed in seeds[1:]),
    )


def test_unreferenced_after_delete_keeps_shared_blobs() -> None:
    deleted = _manifest(10, 1, 2, 3, 3)
    others = [_manifest(11, 1), _manifest(12, 3)]
    assert unreferenced_after_delete(deleted, others) == (_digest(2), _digest(10))
    assert unreferenced_after_delete(deleted, []) == deleted.all_digests
    assert unreferenced([_digest(1), _digest(1), _digest(2)], {_digest(2)}) == (_digest(1),)


_SEEDS = st.integers(min_value=0, max_value=30)
_NAMES = st.one_of(
    _SEEDS.map(lambda seed: _digest(seed).filename),
    _SEEDS.map(lambda seed: _digest(seed).filename + "-partial"),
    st.text(alphabet="abcdef0123456789-.:sha", min_size=1, max_size=20),
)
_FILES = st.lists(
    st.builds(BlobFile, _NAMES, st.floats(min_value=NOW - 5 * HOUR, max_value=NOW + HOUR)),
    max_size=30,
    unique_by=lambda blob: blob.name,
)


@given(st.sets(_SEEDS.map(_digest)), _FILES, st.floats(min_value=0, max_value=4 * HOUR))
def test_prune_plan_properties(referenced: set[Digest], files: list[BlobFile], grace: float) -> None:
    plan = prune_plan(referenced, files, NOW, grace)
    by_name = {blob.name: blob for blob in files}
    assert set(plan) <= set(by_name)
    for name in plan:
        assert NOW - by_name[name].mtime >= grace  # nothing young goes
        assert digest_from_blob_filename(name) not in referenced  # nothing referenced goes
    for blob in files:  # everything stale and unreferenced or misnamed goes
        digest = digest_from_blob_filename(blob.name)
        if NOW - blob.mtime >= grace and (digest is None or digest not in referenced):
            assert blob.name in plan


@given(st.lists(st.lists(_SEEDS, min_size=1, max_size=5), max_size=5), st.lists(_SEEDS, min_size=1, max_size=5))
def test_unreferenced_after_delete_properties(remaining_seeds: list[list[int]], deleted_seeds: list[int]) -> None:
    deleted = _manifest(*deleted_seeds)
    remaining = [_manifest(*seeds) for seeds in remaining_seeds]
    doomed = unreferenced_after_delete(deleted, remaining)
    still_used = {digest for manifest in remaining for digest in manifest.all_digests}
    assert set(doomed) == set(deleted.all_digests) - still_used
    assert len(doomed) == len(set(doomed))
