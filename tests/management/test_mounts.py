"""Which repository of the same registry a push can mount each blob from (pure)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone

from ollama_actors.domain.digests import Digest
from ollama_actors.domain.manifests import Manifest
from ollama_actors.domain.names import parse_name
from ollama_actors.management.domain.mounts import mount_sources
from ollama_actors.management.domain.stored import StoredManifest


def _digest(text: str) -> Digest:
    return Digest(hashlib.sha256(text.encode()).hexdigest())


def _stored(name: str, *blobs: str, origin: str | None = None) -> StoredManifest:
    layers = [{"mediaType": "application/vnd.ollama.image.model", "digest": str(_digest(b)), "size": 1,
               **({"from": origin} if origin else {})} for b in blobs]
    raw = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                      "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                                 "digest": str(_digest("config-" + name)), "size": 1},
                      "layers": layers}).encode()
    manifest = Manifest.from_json(raw)
    return StoredManifest(parse_name(name), manifest, raw, hashlib.sha256(raw).hexdigest(),
                          datetime.now(timezone.utc), manifest.total_size)


def test_a_blob_of_another_model_on_the_same_host_is_mounted_from_its_repository() -> None:
    pushing = _stored("reg:5000/ns/b:latest", "shared", "new")
    others = [_stored("reg:5000/ns/a:v1", "shared"), _stored("other:5000/ns/c:latest", "new"),
              _stored("reg:5000/ns/b:old", "new"), pushing]
    assert mount_sources(pushing, others) == ((str(_digest("shared")), "ns/a"),)


def test_a_layers_from_on_the_same_host_is_a_source_too() -> None:
    pushing = _stored("reg:5000/me/mine:latest", "base", origin="reg:5000/library/base:latest")
    assert mount_sources(pushing, [pushing]) == ((str(_digest("base")), "library/base"),)
    elsewhere = _stored("reg:5000/me/mine:latest", "base", origin="llama3")
    assert mount_sources(elsewhere, [elsewhere]) == ()
