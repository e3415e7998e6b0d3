"""Store layout: Ollama's relative paths from names and digests, and nothing else."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from ollama_actors.domain.digests import Digest
from ollama_actors.domain.names import parse_name
from ollama_actors.management import domain
from ollama_actors.management.domain import (
    blob_relpath,
    digest_from_blob_filename,
    is_blob_temp_name,
    is_manifest_temp_name,
    manifest_relpath,
    manifest_temp_prefix,
    name_from_manifest_parts,
    normalized_blob_filename,
)

HEX = "ab" * 32


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ("llama3.2", "manifests/registry.ollama.ai/library/llama3.2/latest"),
        ("Alice/M:V1", "manifests/registry.ollama.ai/Alice/M/V1"),
        ("localhost:5000/ns/m:v1", "manifests/localhost:5000/ns/m/v1"),
        ("http://localhost:5000/ns/m:v1", "manifests/localhost:5000/ns/m/v1"),
    ],
)
def test_manifest_relpath_is_ollamas_layout(raw: str, path: str) -> None:
    assert manifest_relpath(parse_name(raw)) == PurePosixPath(path)


def test_blob_relpath_uses_the_dash_form() -> None:
    assert blob_relpath(Digest(HEX)) == PurePosixPath(f"blobs/sha256-{HEX}")


@pytest.mark.parametrize(
    ("parts", "full"),
    [
        (("registry.ollama.ai", "library", "m", "latest"), "registry.ollama.ai/library/m:latest"),
        (("localhost:5000", "ns", "m", "v1"), "localhost:5000/ns/m:v1"),
        (("h", "ns", "m"), None),
        (("h", "ns", "m", "t", "x"), None),
        (("h", "ns", "m", ".t.abc.tmp"), None),
        (("h", "..", "m", "t"), None),
        (("h", "ns", "bad name", "t"), None),
    ],
)
def test_name_from_manifest_parts(parts: tuple[str, ...], full: str | None) -> None:
    name = name_from_manifest_parts(parts)
    assert (name.full if name else None) == full


@pytest.mark.parametrize(
    ("filename", "canonical", "normalized"),
    [
        (f"sha256-{HEX}", True, None),
        (f"sha256:{HEX}", False, f"sha256-{HEX}"),
        (f"sha256-{HEX.upper()}", False, f"sha256-{HEX}"),
        (f"sha256-{HEX}-partial", False, None),
        (f"sha256-{HEX}-partial-0", False, None),
        ("sha256-123456.tmp", False, None),
        ("notes.txt", False, None),
    ],
)
def test_blob_file_names(filename: str, canonical: bool, normalized: str | None) -> None:
    assert (digest_from_blob_filename(filename) is not None) == canonical
    assert normalized_blob_filename(filename) == normalized


def test_temp_names_are_recognised_and_never_valid_blobs_or_tags() -> None:
    assert is_blob_temp_name("sha256-k2j3h4.tmp")
    assert not is_blob_temp_name(f"sha256-{HEX}")
    assert not is_blob_temp_name("sha256-.tmp")
    prefix = manifest_temp_prefix("latest")
    assert is_manifest_temp_name(prefix + "x1y2.tmp")
    assert not is_manifest_temp_name("latest")
    assert name_from_manifest_parts(("h", "n", "m", prefix + "x1y2.tmp")) is None


def test_package_all_is_sorted_and_exported() -> None:
    assert domain.__all__ == sorted(domain.__all__)
    assert all(hasattr(domain, item) for item in domain.__all__)
