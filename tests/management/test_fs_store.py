"""FileSystemModelStore against a store written as Ollama writes one, and against crashes."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from ollama_actors.domain.digests import Digest, digest_of_bytes, parse_digest
from ollama_actors.domain.errors import (
    BlobNotFoundError,
    DigestMismatchError,
    InvalidManifestError,
    ModelNotFoundError,
)
from ollama_actors.domain.manifests import (
    MEDIA_TYPE_CONFIG,
    MEDIA_TYPE_MODEL,
    MEDIA_TYPE_SYSTEM,
    Layer,
    Manifest,
    ModelConfig,
)
from ollama_actors.domain.names import parse_name
from ollama_actors.management.adapters.fs_store import FileSystemModelStore
from ollama_actors.management.ports import ModelStore
from tests.fixtures.ollama_store import DEFAULT_MTIME, OllamaStoreFixture, build_ollama_store

HOUR = 3600.0
LATER = DEFAULT_MTIME + 10 * HOUR  # every fixture file is stale by then


@pytest.fixture
def ollama_store(tmp_path: Path) -> OllamaStoreFixture:
    return build_ollama_store(tmp_path / "models")


@pytest.fixture
def store(ollama_store: OllamaStoreFixture) -> FileSystemModelStore:
    return FileSystemModelStore(ollama_store.root)


def _snapshot(root: Path) -> dict[str, tuple[bytes, int, int]]:
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns, stat.S_IMODE(p.stat().st_mode))
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _manifest_for(store: FileSystemModelStore, *contents: bytes) -> Manifest:
    config = store.write_blob_bytes(ModelConfig(model_format="gguf").to_json())
    layers = tuple(Layer(MEDIA_TYPE_MODEL, store.write_blob_bytes(data), len(data)) for data in contents)
    return Manifest(config=Layer(MEDIA_TYPE_CONFIG, config, store.blob_size(config)), layers=layers)


# -- reading a store Ollama wrote ------------------------------------------------------


def test_fixture_store_is_read_as_is_newest_first(ollama_store: OllamaStoreFixture) -> None:
    before = _snapshot(ollama_store.root)
    store = FileSystemModelStore(ollama_store.root)
    listed = store.list_manifests()
    assert [item.name.display for item in listed] == [
        "localhost:5000/ns/m:v1",
        "alice/tiny-assistant:latest",
        "tinyllama:latest",
    ]
    for item in listed:
        expected = ollama_store.models[item.name.full]
        assert item.raw == expected.manifest_bytes
        assert item.digest == expected.manifest_digest == hashlib.sha256(item.raw).hexdigest()
        assert item.size == expected.size
        assert item.modified_at == datetime.fromtimestamp(expected.mtime).astimezone()
        assert item.modified_at.tzinfo is not None
        assert item.manifest.to_json() == item.raw  # our encoder writes Ollama's bytes
        assert str(item.manifest.config.digest) == expected.config_digest
        assert [str(d) for d in (layer.digest for layer in item.manifest.layers)] == list(expected.layer_digests)
        config_bytes = store.read_blob_bytes(item.manifest.config.digest)
        assert ModelConfig.from_json(config_bytes).to_json() == config_bytes
    assert _snapshot(ollama_store.root) == before  # opening and listing change nothing


def test_fixture_blobs_are_served_by_digest(ollama_store: OllamaStoreFixture, store: FileSystemModelStore) -> None:
    for raw, data in ollama_store.blobs.items():
        digest = parse_digest(raw)
        assert store.has_blob(digest)
        assert store.blob_size(digest) == len(data)
        assert store.read_blob_bytes(digest) == data
        assert store.blob_path(digest) == ollama_store.root / "blobs" / digest.filename
    weights = store.read_manifest(parse_name("tinyllama")).manifest.layer_of(MEDIA_TYPE_MODEL)
    assert weights is not None and store.read_blob_bytes(weights.digest).startswith(b"GGUF")
    alice = store.read_manifest(parse_name("alice/tiny-assistant")).manifest.layer_of(MEDIA_TYPE_MODEL)
    assert alice is not None and alice.from_ == "tinyllama:latest" and alice.digest == weights.digest


def test_the_adapter_satisfies_the_port(store: FileSystemModelStore) -> None:
    port: ModelStore = store
    assert port.root == store.root


def test_missing_model_and_blob_raise_not_found(store: FileSystemModelStore) -> None:
    with pytest.raises(ModelNotFoundError) as info:
        store.read_manifest(parse_name("nope"))
    assert str(info.value) == "model 'nope:latest' not found" and info.value.status == 404
    missing = digest_of_bytes(b"missing")
    for call in (store.blob_size, store.touch_blob, store.read_blob_bytes):
        with pytest.raises(BlobNotFoundError) as blob_info:
            call(missing)
        assert str(blob_info.value) == f'blob "{missing}" not found'
    assert not store.has_blob(missing)


# -- case-insensitive names -------------------------------------------------------------


@pytest.mark.parametrize(
    ("asked", "stored"),
    [
        ("TinyLlama:LATEST", "registry.ollama.ai/library/tinyllama:latest"),
        ("Registry.Ollama.AI/Library/TINYLLAMA", "registry.ollama.ai/library/tinyllama:latest"),
        ("ALICE/Tiny-Assistant", "registry.ollama.ai/alice/tiny-assistant:latest"),
        ("LOCALHOST:5000/NS/M:V1", "localhost:5000/ns/m:v1"),
        ("TINYLLAMA:V2", "registry.ollama.ai/library/tinyllama:V2"),  # new tag joins the stored model
        ("Bob/Other:X", "registry.ollama.ai/Bob/Other:X"),  # nothing stored: unchanged
    ],
)
def test_resolve_returns_the_stored_casing(store: FileSystemModelStore, asked: str, stored: str) -> None:
    assert store.resolve(parse_name(asked)).full == stored


def test_reads_writes_and_deletes_match_case_insensitively(store: FileSystemModelStore) -> None:
    assert store.read_manifest(parse_name("TINYLLAMA")).name.full == "registry.ollama.ai/library/tinyllama:latest"
    manifest = store.read_manifest(parse_name("tinyllama")).manifest
    written = store.write_manifest(parse_name("TinyLlama:Copy"), manifest)
    assert written.name.full == "registry.ollama.ai/library/tinyllama:Copy"
    assert (store.root / "manifests/registry.ollama.ai/library/tinyllama/Copy").is_file()
    assert store.delete_manifest(parse_name("TINYLLAMA:COPY")) == written.name
    assert len(store.list_manifests()) == 3


def test_an_exact_case_match_wins_over_other_casings(store: FileSystemModelStore) -> None:
    manifest = store.read_manifest(parse_name("tinyllama")).manifest
    shadow = store.root / "manifests/registry.ollama.ai/library/TinyLlama/latest"
    shadow.parent.mkdir()
    shadow.write_bytes(manifest.to_json())
    assert store.resolve(parse_name("TinyLlama")).model == "TinyLlama"
    assert store.resolve(parse_name("tinyllama")).model == "tinyllama"
    assert store.resolve(parse_name("TINYLLAMA")).model == "TinyLlama"  # first in sorted order


# -- writing ----------------------------------------------------------------------------


def test_blob_writes_are_atomic_content_addressed_and_0644(store: FileSystemModelStore) -> None:
    digest = store.write_blob_bytes(b"hello")
    assert digest == digest_of_bytes(b"hello")
    path = store.blob_path(digest)
    assert path.read_bytes() == b"hello" and stat.S_IMODE(path.stat().st_mode) == 0o644
    os.utime(path, (DEFAULT_MTIME, DEFAULT_MTIME))
    assert store.write_blob_bytes(b"hello") == digest  # existing: only touched
    assert path.stat().st_mtime > DEFAULT_MTIME
    assert not [name for name in _files(store.root / "blobs") if name.endswith(".tmp")]


def test_import_blob_copies_and_hashes(store: FileSystemModelStore, tmp_path: Path) -> None:
    src = tmp_path / "model.gguf"
    data = b"GGUF" + bytes(range(256)) * 9000  # spans several copy chunks
    src.write_bytes(data)
    digest = store.import_blob(src)
    assert digest == digest_of_bytes(data) and store.read_blob_bytes(digest) == data
    assert src.read_bytes() == data


def test_streamed_blob_commit_checks_the_expected_digest(store: FileSystemModelStore) -> None:
    temp = store.new_blob_temp()
    assert temp.parent == store.root / "blobs" and temp.name.startswith("sha256-") and temp.exists()
    temp.write_bytes(b"uploaded")
    assert store.commit_blob(temp, digest_of_bytes(b"uploaded")) == digest_of_bytes(b"uploaded")
    assert not temp.exists() and store.has_blob(digest_of_bytes(b"uploaded"))


def test_digest_mismatch_leaves_nothing_behind(store: FileSystemModelStore) -> None:
    before = _files(store.root / "blobs")
    temp = store.new_blob_temp()
    temp.write_bytes(b"tampered")
    claimed = digest_of_bytes(b"original")
    with pytest.raises(DigestMismatchError) as info:
        store.commit_blob(temp, claimed)
    assert str(info.value) == f'digest mismatch, expected "{claimed}", got "{digest_of_bytes(b"tampered")}"'
    assert info.value.status == 400
    assert _files(store.root / "blobs") == before


def test_committing_an_existing_blob_drops_the_temp_and_touches(store: FileSystemModelStore) -> None:
    digest = store.write_blob_bytes(b"same")
    os.utime(store.blob_path(digest), (DEFAULT_MTIME, DEFAULT_MTIME))
    temp = store.new_blob_temp()
    temp.write_bytes(b"same")
    assert store.commit_blob(temp) == digest
    assert not temp.exists() and store.blob_path(digest).stat().st_mtime > DEFAULT_MTIME


def test_foreign_paths_are_refused_as_temps(store: FileSystemModelStore, tmp_path: Path) -> None:
    outside = tmp_path / "sha256-x.tmp"
    outside.write_bytes(b"x")
    blob = store.blob_path(store.write_blob_bytes(b"kept"))
    for path in (outside, blob, store.root / "blobs" / ".." / "sha256-x.tmp"):
        with pytest.raises(ValueError):
            store.commit_blob(path)
        with pytest.raises(ValueError):
            store.discard_blob_temp(path)
    assert outside.exists() and blob.exists()
    temp = store.new_blob_temp()
    store.discard_blob_temp(temp)
    assert not temp.exists()


def test_manifest_write_round_trips_byte_for_byte(store: FileSystemModelStore) -> None:
    manifest = _manifest_for(store, b"GGUF weights")
    stored = store.write_manifest(parse_name("bob/new:v1"), manifest)
    path = store.root / "manifests/registry.ollama.ai/bob/new/v1"
    assert path.read_bytes() == manifest.to_json() == stored.raw
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE(path.parent.stat().st_mode) & 0o700 == 0o700
    assert stored.digest == hashlib.sha256(stored.raw).hexdigest()
    assert store.read_manifest(parse_name("bob/new:v1")) == stored
    assert store.list_manifests()[0].name.display == "bob/new:v1"


def test_raw_manifests_are_kept_byte_for_byte(store: FileSystemModelStore) -> None:
    manifest = _manifest_for(store, b"pulled weights")
    pretty = json.dumps(manifest.to_dict(), indent=2).encode()  # a registry's formatting
    stored = store.write_manifest_raw(parse_name("localhost:5000/ns/pulled:1"), pretty)
    assert stored.raw == pretty and stored.manifest == manifest
    assert (store.root / "manifests/localhost:5000/ns/pulled/1").read_bytes() == pretty
    assert stored.digest == hashlib.sha256(pretty).hexdigest()


def test_a_manifest_is_refused_until_its_blobs_are_present(store: FileSystemModelStore) -> None:
    before = _snapshot(store.root)
    missing = digest_of_bytes(b"not uploaded")
    manifest = Manifest(
        config=store.read_manifest(parse_name("tinyllama")).manifest.config,
        layers=(Layer(MEDIA_TYPE_MODEL, missing, 12),),
    )
    with pytest.raises(BlobNotFoundError):
        store.write_manifest(parse_name("ghost"), manifest)
    with pytest.raises(BlobNotFoundError):
        store.write_manifest_raw(parse_name("ghost"), manifest.to_json())
    assert _snapshot(store.root) == before
    assert not (store.root / "manifests/registry.ollama.ai/library/ghost").exists()


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b'{"config":{"mediaType":"m","digest":"sha256:../../../../tmp/pwned","size":1},"layers":[]}',
        b'{"config":{"mediaType":"m","digest":"sha256-' + b"a" * 64 + b'","size":1},'
        b'"layers":[{"mediaType":"m","digest":"sha256:' + b"." * 64 + b'","size":1}]}',
    ],
)
def test_hostile_raw_manifests_are_refused_before_touching_disk(store: FileSystemModelStore, raw: bytes) -> None:
    before = _snapshot(store.root)
    with pytest.raises(InvalidManifestError):
        store.write_manifest_raw(parse_name("evil"), raw)
    assert _snapshot(store.root) == before


# -- crashes ------------------------------------------------------------------------------


class _Crash(Exception):
    pass


def _crash(*_args: object, **_kwargs: object) -> None:
    raise _Crash()


def test_a_failure_before_rename_leaves_no_partial_files(
    store: FileSystemModelStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = store.read_manifest(parse_name("tinyllama")).manifest
    before = _snapshot(store.root)
    monkeypatch.setattr(os, "replace", _crash)
    with pytest.raises(_Crash):
        store.write_blob_bytes(b"never lands")
    with pytest.raises(_Crash):
        store.write_manifest(parse_name("tinyllama:other"), manifest)
    with pytest.raises(_Crash):
        store.write_manifest(parse_name("alice/tiny-assistant"), manifest)  # overwriting
    monkeypatch.undo()
    assert _snapshot(store.root) == before


_CRASH_SCRIPT = """
import os, sys
from pathlib import Path
from ollama_actors.domain.names import parse_name
from ollama_actors.management.adapters import fs_store
store = fs_store.FileSystemModelStore(Path(sys.argv[1]))
manifest = store.read_manifest(parse_name("tinyllama")).manifest
def die(*args):
    os._exit(3)  # the process dies between fsync and rename, as on power loss or SIGKILL
fs_store.os.replace = die
if sys.argv[2] == "blob":
    store.write_blob_bytes(b"half written")
else:
    store.write_manifest(parse_name("tinyllama:crashed"), manifest)
"""


@pytest.mark.parametrize("what", ["blob", "manifest"])
def test_a_crash_mid_write_leaves_a_loadable_store_and_a_temp_that_prune_removes(
    ollama_store: OllamaStoreFixture, what: str
) -> None:
    before = _snapshot(ollama_store.root)
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_CRASH_SCRIPT), str(ollama_store.root), what],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 3, result.stderr.decode()
    leftovers = sorted(set(_snapshot(ollama_store.root)) - set(before))
    assert len(leftovers) == 1 and leftovers[0].endswith(".tmp")
    assert not any(name.endswith("crashed") for name in leftovers)

    with capture_logs() as logs:
        store = FileSystemModelStore(ollama_store.root)
        assert len(store.list_manifests()) == 3
    assert not [entry for entry in logs if entry["event"] == "manifest_skipped"]

    assert store.prune() == []  # the temp is young: a write might still be in progress
    temp_mtime = (ollama_store.root / leftovers[0]).stat().st_mtime
    assert store.prune(now=temp_mtime + HOUR) == leftovers
    assert _snapshot(ollama_store.root) == before


# -- delete and prune ------------------------------------------------------------------------


def test_delete_removes_the_manifest_empty_folders_and_only_unreferenced_blobs(
    ollama_store: OllamaStoreFixture, store: FileSystemModelStore
) -> None:
    alice = store.read_manifest(parse_name("alice/tiny-assistant"))
    tiny = store.read_manifest(parse_name("tinyllama"))
    assert store.delete_manifest(parse_name("alice/tiny-assistant")) == alice.name
    assert not (store.root / "manifests/registry.ollama.ai/alice").exists()
    removed = store.remove_blobs_if_unreferenced(alice.manifest.all_digests)
    shared = set(tiny.manifest.all_digests)
    assert set(removed) == set(alice.manifest.all_digests) - shared
    assert len(removed) == 3  # its own system, params and config
    assert all(store.has_blob(digest) for digest in shared)

    store.delete_manifest(parse_name("tinyllama"))
    assert set(store.remove_blobs_if_unreferenced(tiny.manifest.all_digests)) == shared
    assert _files(store.root / "manifests") == ["localhost:5000"]
    local = ollama_store.model("localhost:5000/ns/m:v1")
    assert len(_files(store.root / "blobs")) == len(local.layer_digests) + 1


def test_deleting_a_missing_model_is_not_found(store: FileSystemModelStore) -> None:
    with pytest.raises(ModelNotFoundError) as info:
        store.delete_manifest(parse_name("nope:v9"))
    assert str(info.value) == "model 'nope:v9' not found"


def test_deleting_the_last_model_keeps_the_manifests_folder(store: FileSystemModelStore) -> None:
    for item in store.list_manifests():
        store.delete_manifest(item.name)
    assert (store.root / "manifests").is_dir() and _files(store.root / "manifests") == []


def test_prune_respects_grace_and_references(store: FileSystemModelStore) -> None:
    blobs = store.root / "blobs"
    referenced = _files(blobs)
    orphan_old = store.write_blob_bytes(b"orphan, old")
    orphan_young = store.write_blob_bytes(b"orphan, young")
    partial = blobs / f"{digest_of_bytes(b'download').filename}-partial"
    partial.write_bytes(b"half")
    for path in (store.blob_path(orphan_old), partial, *(blobs / name for name in referenced)):
        os.utime(path, (DEFAULT_MTIME, DEFAULT_MTIME))
    os.utime(store.blob_path(orphan_young), (LATER - 60, LATER - 60))
    (store.root / "manifests/registry.ollama.ai/empty/dir").mkdir(parents=True)

    removed = store.prune(now=LATER)
    assert sorted(removed) == sorted([f"blobs/{orphan_old.filename}", f"blobs/{partial.name}"])
    assert _files(blobs) == sorted([*referenced, orphan_young.filename])
    assert not (store.root / "manifests/registry.ollama.ai/empty").exists()
    assert len(store.list_manifests()) == 3


def test_prune_is_skipped_when_a_manifest_does_not_parse(store: FileSystemModelStore) -> None:
    orphan = store.write_blob_bytes(b"orphan")
    os.utime(store.blob_path(orphan), (DEFAULT_MTIME, DEFAULT_MTIME))
    corrupt = store.root / "manifests/registry.ollama.ai/library/broken/latest"
    corrupt.parent.mkdir()
    corrupt.write_bytes(b'{"config": truncated')
    with capture_logs() as logs:
        assert store.prune(now=LATER) == []
    assert [entry["event"] for entry in logs] == ["prune_skipped"]
    assert store.has_blob(orphan)


def test_corrupt_and_misnamed_manifests_are_skipped_and_logged(store: FileSystemModelStore) -> None:
    corrupt = store.root / "manifests/registry.ollama.ai/library/broken/latest"
    corrupt.parent.mkdir()
    corrupt.write_bytes(b"\x00garbage")
    misnamed = store.root / "manifests/registry.ollama.ai/-bad/m/latest"
    misnamed.parent.mkdir(parents=True)
    misnamed.write_bytes(store.read_manifest(parse_name("tinyllama")).raw)
    (store.root / "manifests/registry.ollama.ai/stray-file").write_bytes(b"ignored: wrong depth")
    with capture_logs() as logs:
        listed = store.list_manifests()
    assert len(listed) == 3
    skipped = sorted(entry["path"] for entry in logs if entry["event"] == "manifest_skipped")
    assert skipped == sorted([str(corrupt), str(misnamed)])
    with pytest.raises(InvalidManifestError):
        store.read_manifest(parse_name("broken"))


def test_a_corrupt_manifest_still_protects_the_blobs_it_names(store: FileSystemModelStore) -> None:
    kept = store.write_blob_bytes(b"only the corrupt manifest uses me")
    corrupt = store.root / "manifests/registry.ollama.ai/library/broken/latest"
    corrupt.parent.mkdir()
    corrupt.write_bytes(f'{{"layers":[{{"digest":"{kept}"'.encode())
    assert kept in store.referenced_digests()
    assert store.remove_blobs_if_unreferenced([kept]) == []
    assert store.has_blob(kept)


def test_opening_renames_colon_and_uppercase_blob_names(tmp_path: Path) -> None:
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    colon, upper = digest_of_bytes(b"colon"), digest_of_bytes(b"upper")
    (blobs / f"sha256:{colon.hex}").write_bytes(b"colon")
    (blobs / f"sha256-{upper.hex.upper()}").write_bytes(b"upper")
    store = FileSystemModelStore(tmp_path)
    assert _files(blobs) == sorted([colon.filename, upper.filename])
    assert store.read_blob_bytes(colon) == b"colon" and store.read_blob_bytes(upper) == b"upper"
    assert (tmp_path / "manifests").is_dir()


def test_a_fresh_store_is_empty(tmp_path: Path) -> None:
    store = FileSystemModelStore(tmp_path / "new")
    assert store.list_manifests() == [] and store.referenced_digests() == set()
    assert store.prune(now=LATER) == []
    assert store.root == (tmp_path / "new").absolute()


def test_system_layers_replace_by_digest_without_duplicates(store: FileSystemModelStore) -> None:
    """Writing the same content twice yields one blob; manifests share it by digest."""
    first = store.write_blob_bytes(b"You are terse.")
    second = store.write_blob_bytes(b"You are terse.")
    assert first == second == Digest(hashlib.sha256(b"You are terse.").hexdigest())
    base = store.read_manifest(parse_name("tinyllama")).manifest
    layers = tuple(
        Layer(MEDIA_TYPE_SYSTEM, first, 14) if layer.media_type == MEDIA_TYPE_SYSTEM else layer for layer in base.layers
    )
    stored = store.write_manifest(parse_name("terse"), Manifest(config=base.config, layers=layers))
    assert stored.manifest.layer_of(MEDIA_TYPE_SYSTEM) == Layer(MEDIA_TYPE_SYSTEM, first, 14)
