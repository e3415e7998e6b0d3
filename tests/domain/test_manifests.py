"""Manifests and config blobs: Ollama's exact bytes out, tolerant but safe parsing in."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ollama_actors.domain import manifests
from ollama_actors.domain.digests import Digest, parse_digest
from ollama_actors.domain.errors import InvalidManifestError
from ollama_actors.domain.manifests import (
    MEDIA_TYPE_CONFIG,
    MEDIA_TYPE_LICENSE,
    MEDIA_TYPE_MANIFEST,
    MEDIA_TYPE_MODEL,
    MEDIA_TYPE_PARAMS,
    MEDIA_TYPE_SYSTEM,
    MEDIA_TYPE_TEMPLATE,
    Layer,
    Manifest,
    ModelConfig,
    RootFS,
    go_json,
)

CONFIG = "34bb5ab01051a11372a91f95f3fbbc51173eed8e7f13ec395b9ae9b8bd0e242b"
MODEL = "dde5aa3fc5ffc17176b5e8bdc82f587b24b2678c6c66101bf7da77af9f7ccdff"
TEMPLATE = "966de95ca8a62200913e3f8bfbf84c8494536f1b94b49166851e76644e966396"
LICENSE1 = "fcc5a6bec9daf9b561a68827b67ab6088e1dba9d1fa2a50d7bbcc8384e0a265d"
LICENSE2 = "a70ff7e570d97baaf4e62ac6e6ad9975e04caa6d900d3742d37698494479e0cd"
PARAMS = "56bb8bd477a519ffa694fc449c2413c6f0e1d3b1c88fa7e3c9d88d3ae49d4dcb"

# A llama3.2:latest manifest byte for byte as Ollama writes it (compact, newline).
OLLAMA_MANIFEST = (
    '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",'
    f'"config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:{CONFIG}","size":561}},'
    '"layers":['
    f'{{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:{MODEL}","size":2019377376}},'
    f'{{"mediaType":"application/vnd.ollama.image.template","digest":"sha256:{TEMPLATE}","size":1429}},'
    f'{{"mediaType":"application/vnd.ollama.image.license","digest":"sha256:{LICENSE1}","size":7711}},'
    f'{{"mediaType":"application/vnd.ollama.image.license","digest":"sha256:{LICENSE2}","size":6016}},'
    f'{{"mediaType":"application/vnd.ollama.image.params","digest":"sha256:{PARAMS}","size":96}}'
    "]}\n"
).encode()

# A model created FROM llama3.2: inherited layers carry "from".
CREATED_MANIFEST = (
    '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",'
    f'"config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:{CONFIG}","size":485}},'
    '"layers":['
    f'{{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:{MODEL}","size":2019377376,'
    '"from":"llama3.2:latest"},'
    f'{{"mediaType":"application/vnd.ollama.image.system","digest":"sha256:{PARAMS}","size":96}}'
    "]}\n"
).encode()

# A safetensors-style layer with a name, as HEAD writes for MLX models.
NAMED_LAYER_MANIFEST = (
    '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",'
    f'"config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:{CONFIG}","size":485}},'
    f'"layers":[{{"mediaType":"application/vnd.ollama.image.json","digest":"sha256:{PARAMS}","size":96,'
    '"name":"config.json"}]}\n'
).encode()

# The config blob Ollama (classic) writes for a created GGUF model.
CLASSIC_CONFIG = (
    '{"model_format":"gguf","model_family":"llama","model_families":["llama"],"model_type":"3.2B",'
    '"file_type":"Q4_K_M","architecture":"amd64","os":"linux",'
    f'"rootfs":{{"type":"layers","diff_ids":["sha256:{MODEL}","sha256:{TEMPLATE}"]}}}}\n'
).encode()

# HEAD's config with optional fields, no rootfs, and a field this type does not know.
HEAD_CONFIG = (
    b'{"model_format":"gguf","model_family":"qwen3","model_families":["qwen3"],"model_type":"8.2B",'
    b'"file_type":"Q4_K_M","renderer":"qwen3","parser":"qwen3","capabilities":["completion","tools"],'
    b'"context_length":40960,"embedding_length":4096,"draft":{"model":"x"},"architecture":"amd64","os":"linux"}\n'
)


@pytest.mark.parametrize("raw", [OLLAMA_MANIFEST, CREATED_MANIFEST, NAMED_LAYER_MANIFEST])
def test_ollama_manifests_round_trip_byte_for_byte(raw: bytes) -> None:
    assert Manifest.from_json(raw).to_json() == raw


def test_parsed_manifest_fields() -> None:
    manifest = Manifest.from_json(OLLAMA_MANIFEST)
    assert manifest.schema_version == 2
    assert manifest.media_type == MEDIA_TYPE_MANIFEST
    assert manifest.config == Layer(MEDIA_TYPE_CONFIG, Digest(CONFIG), 561)
    assert [layer.media_type for layer in manifest.layers] == [
        MEDIA_TYPE_MODEL,
        MEDIA_TYPE_TEMPLATE,
        MEDIA_TYPE_LICENSE,
        MEDIA_TYPE_LICENSE,
        MEDIA_TYPE_PARAMS,
    ]
    assert manifest.total_size == 561 + 2019377376 + 1429 + 7711 + 6016 + 96
    assert manifest.layer_of(MEDIA_TYPE_MODEL) == Layer(MEDIA_TYPE_MODEL, Digest(MODEL), 2019377376)
    assert manifest.layer_of(MEDIA_TYPE_SYSTEM) is None
    assert [layer.digest.hex for layer in manifest.layers_of(MEDIA_TYPE_LICENSE)] == [LICENSE1, LICENSE2]
    assert manifest.all_digests == tuple(Digest(h) for h in (MODEL, TEMPLATE, LICENSE1, LICENSE2, PARAMS, CONFIG))


def test_from_and_name_are_read_and_written_only_when_set() -> None:
    created = Manifest.from_json(CREATED_MANIFEST)
    assert created.layers[0].from_ == "llama3.2:latest"
    assert created.layers[1].from_ is None
    assert Manifest.from_json(NAMED_LAYER_MANIFEST).layers[0].name == "config.json"
    assert Layer(MEDIA_TYPE_MODEL, Digest(MODEL), 1, from_="", name="").to_dict() == {
        "mediaType": MEDIA_TYPE_MODEL,
        "digest": f"sha256:{MODEL}",
        "size": 1,
    }


def test_all_digests_drops_repeats_and_total_size_counts_them() -> None:
    layer = Layer(MEDIA_TYPE_MODEL, Digest(MODEL), 10)
    manifest = Manifest(config=Layer(MEDIA_TYPE_CONFIG, Digest(MODEL), 5), layers=[layer, layer])  # type: ignore[arg-type]
    assert manifest.all_digests == (Digest(MODEL),)
    assert manifest.total_size == 25
    assert isinstance(manifest.layers, tuple)


def test_parsing_tolerates_extra_fields_whitespace_and_key_case() -> None:
    obj = json.loads(OLLAMA_MANIFEST)
    obj["annotations"] = {"org.example": "x"}
    obj["layers"][0]["urls"] = ["https://example.com"]
    obj["Config"] = obj.pop("config")  # Go matches keys case-insensitively
    pretty = json.dumps(obj, indent=3).encode()
    manifest = Manifest.from_json(pretty)
    assert manifest.to_json() == OLLAMA_MANIFEST
    assert manifest.to_json() != pretty  # so pulled bytes must be stored as received


def test_null_or_missing_layers_are_empty_and_uppercase_digests_are_normalised() -> None:
    config = {"mediaType": MEDIA_TYPE_CONFIG, "digest": f"sha256-{CONFIG.upper()}", "size": 1}
    obj = {"schemaVersion": 2, "config": config}
    manifest = Manifest.from_json(json.dumps({**obj, "layers": None}).encode())
    assert manifest.layers == ()
    assert manifest.config.digest == Digest(CONFIG)
    assert Manifest.from_json(json.dumps(obj).encode()).media_type == ""


BAD_MANIFESTS = [
    b"",
    b"not json",
    b"\xff\xfe",
    b"[]",
    b'{"schemaVersion":2}',  # no config
    b'{"config":"x"}',
    b'{"config":{"mediaType":"m","digest":"sha256:../../../../etc/passwd","size":1},"layers":[]}',
    b'{"config":{"mediaType":"m","digest":"sha256:' + CONFIG.encode() + b'"},"layers":[]}',  # no size
    b'{"config":{"mediaType":"m","digest":"sha256:' + CONFIG.encode() + b'","size":-1},"layers":[]}',
    b'{"config":{"mediaType":"m","digest":"sha256:' + CONFIG.encode() + b'","size":1.5},"layers":[]}',
    b'{"config":{"mediaType":"m","digest":"sha256:' + CONFIG.encode() + b'","size":true},"layers":[]}',
    b'{"config":{"mediaType":"m","digest":"sha256:' + CONFIG.encode() + b'","size":1},"layers":{}}',
    b'{"config":{"mediaType":"m","digest":"sha256:' + CONFIG.encode() + b'","size":1},"layers":[1]}',
    b'{"config":{"mediaType":"m","digest":"sha256:' + CONFIG.encode() + b'","size":1},'
    b'"layers":[{"mediaType":"m","digest":"sha256-' + b"0" * 63 + b'/","size":1}]}',
    b'{"config":{"mediaType":7,"digest":"sha256:' + CONFIG.encode() + b'","size":1},"layers":[]}',
]


@pytest.mark.parametrize("raw", BAD_MANIFESTS)
def test_bad_manifests_raise_invalid_manifest(raw: bytes) -> None:
    with pytest.raises(InvalidManifestError) as info:
        Manifest.from_json(raw)
    assert info.value.status == 500


def test_go_json_escapes_like_go() -> None:
    assert go_json({"stop": ["<|eot_id|>", "a&b"]}) == b'{"stop":["\\u003c|eot_id|\\u003e","a\\u0026b"]}\n'
    assert go_json({"s": "h\u00e9\u2028\u2029\n\t\x01"}) == '{"s":"h\u00e9\\u2028\\u2029\\n\\t\\u0001"}\n'.encode()
    assert go_json([1, None, True]) == b"[1,null,true]\n"


def test_classic_config_round_trips_byte_for_byte() -> None:
    config = ModelConfig.from_json(CLASSIC_CONFIG)
    assert config == ModelConfig(
        model_format="gguf",
        model_family="llama",
        model_families=("llama",),
        model_type="3.2B",
        file_type="Q4_K_M",
        rootfs=RootFS(diff_ids=(f"sha256:{MODEL}", f"sha256:{TEMPLATE}")),
    )
    assert config.to_json() == CLASSIC_CONFIG


def test_head_config_keeps_known_optional_fields_and_drops_unknown_ones() -> None:
    config = ModelConfig.from_json(HEAD_CONFIG)
    assert (config.renderer, config.parser, config.capabilities) == ("qwen3", "qwen3", ("completion", "tools"))
    assert (config.context_length, config.embedding_length, config.rootfs) == (40960, 4096, None)
    assert config.to_json() == HEAD_CONFIG.replace(b'"draft":{"model":"x"},', b"")


def test_default_config_is_what_create_writes_before_filling_in() -> None:
    assert ModelConfig().to_json() == (
        b'{"model_format":"","model_family":"","model_families":null,"model_type":"","file_type":"",'
        b'"architecture":"amd64","os":"linux"}\n'
    )


@pytest.mark.parametrize("raw", [b"[]", b"nope", b'{"model_type":3}', b'{"rootfs":[]}', b'{"capabilities":"x"}'])
def test_bad_configs_raise_invalid_manifest(raw: bytes) -> None:
    with pytest.raises(InvalidManifestError):
        ModelConfig.from_json(raw)


def test_module_all_is_sorted_and_exported() -> None:
    assert manifests.__all__ == sorted(manifests.__all__)
    assert all(hasattr(manifests, item) for item in manifests.__all__)


_TEXT = st.text(max_size=20)
_DIGESTS = st.binary(max_size=8).map(lambda b: parse_digest("sha256:" + hashlib.sha256(b).hexdigest()))
_LAYERS = st.builds(
    Layer,
    media_type=st.sampled_from([MEDIA_TYPE_MODEL, MEDIA_TYPE_TEMPLATE, MEDIA_TYPE_PARAMS, "application/x<&>"]),
    digest=_DIGESTS,
    size=st.integers(min_value=0, max_value=2**53),
    from_=st.one_of(st.none(), st.text(min_size=1, max_size=20)),
    name=st.one_of(st.none(), st.text(min_size=1, max_size=20)),
)
_MANIFESTS = st.builds(
    Manifest,
    config=_LAYERS,
    layers=st.lists(_LAYERS, max_size=5).map(tuple),
)
_CONFIGS = st.builds(
    ModelConfig,
    model_format=_TEXT,
    model_family=_TEXT,
    model_families=st.one_of(st.none(), st.lists(_TEXT, max_size=3).map(tuple)),
    model_type=_TEXT,
    file_type=_TEXT,
    renderer=_TEXT,
    parser=_TEXT,
    capabilities=st.lists(_TEXT, max_size=3).map(tuple),
    context_length=st.integers(min_value=0, max_value=2**31),
    embedding_length=st.integers(min_value=0, max_value=2**31),
    architecture=_TEXT,
    os=_TEXT,
    rootfs=st.one_of(st.none(), st.builds(RootFS, diff_ids=st.lists(_TEXT, max_size=3).map(tuple), type=_TEXT)),
)


@given(_MANIFESTS)
def test_manifest_json_round_trips(manifest: Manifest) -> None:
    raw = manifest.to_json()
    assert raw.endswith(b"}\n") and b"\n" not in raw[:-1]
    assert Manifest.from_json(raw) == manifest
    assert Manifest.from_json(raw).to_json() == raw


@given(_CONFIGS)
def test_config_json_round_trips(config: ModelConfig) -> None:
    raw = config.to_json()
    parsed = ModelConfig.from_json(raw)
    assert parsed.to_json() == raw
    assert parsed == config
