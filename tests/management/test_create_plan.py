"""Plan of /api/create against an in-memory blob store: layers, config, statuses, errors."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import pytest

from ollama_actors.domain.chat import ChatMessage
from ollama_actors.domain.digests import Digest, digest_of_bytes
from ollama_actors.domain.errors import BadRequestError, BlobNotFoundError, InvalidDigestError, InvalidRequestError
from ollama_actors.domain.manifests import (
    MEDIA_TYPE_ADAPTER,
    MEDIA_TYPE_CONFIG,
    MEDIA_TYPE_LICENSE,
    MEDIA_TYPE_MESSAGES,
    MEDIA_TYPE_MODEL,
    MEDIA_TYPE_PARAMS,
    MEDIA_TYPE_PROMPT,
    MEDIA_TYPE_SYSTEM,
    MEDIA_TYPE_TEMPLATE,
    Layer,
    Manifest,
    ModelConfig,
)
from ollama_actors.management.domain.create_plan import CreatePlan, Quantized, plan_create
from ollama_actors.management.messages import CreateRequest

GGUF = b"GGUF\x03\x00\x00\x00" + b"\x00" * 56
GGUF_DIGEST = digest_of_bytes(GGUF)
ADAPTER = b"GGUF-adapter-bytes"
ADAPTER_DIGEST = digest_of_bytes(ADAPTER)


@dataclass(frozen=True)
class Facts:
    architecture: str = "llama"
    parameter_size: str = "22.71M"
    file_type: str = "Q8_0"
    general_type: str = "model"


@dataclass
class MemoryStore:
    """Blobs in a dict; GGUF facts for the digests registered as GGUF."""

    blobs: dict[Digest, bytes] = field(default_factory=dict)
    ggufs: dict[Digest, Facts] = field(default_factory=dict)

    def put(self, data: bytes) -> Digest:
        digest = digest_of_bytes(data)
        self.blobs[digest] = data
        return digest

    def gguf_info(self, digest: Digest) -> Facts:
        if digest not in self.ggufs:
            raise ValueError("not a GGUF")
        return self.ggufs[digest]

    def plan(self, request: CreateRequest, base: Manifest | None = None, base_name: str | None = None) -> CreatePlan:
        return plan_create(
            request,
            base=base,
            base_name=base_name,
            read_blob=lambda d: self.blobs[d],
            blob_exists=lambda d: d in self.blobs,
            gguf_info=self.gguf_info,
            blob_size=lambda d: len(self.blobs[d]),
        )

    def plan_quantized(self, request: CreateRequest, quantized: Quantized) -> CreatePlan:
        fresh = quantized.digest if quantized.created else None
        return plan_create(
            request,
            base=None,
            base_name=None,
            read_blob=lambda d: self.blobs[d],
            blob_exists=lambda d: d in self.blobs and d != fresh,
            gguf_info=self.gguf_info,
            blob_size=lambda d: len(self.blobs[d]),
            quantized=quantized,
        )

    def layer(self, media_type: str, data: bytes) -> Layer:
        return Layer(media_type, self.put(data), len(data))


@pytest.fixture
def store() -> MemoryStore:
    memory = MemoryStore()
    memory.put(GGUF)
    memory.ggufs[GGUF_DIGEST] = Facts()
    memory.put(ADAPTER)
    memory.ggufs[ADAPTER_DIGEST] = Facts(general_type="adapter")
    return memory


def _config_of(plan: CreatePlan) -> dict[str, Any]:
    config_bytes = next(b for b in plan.new_blobs if digest_of_bytes(b) == plan.manifest.config.digest)
    loaded: dict[str, Any] = json.loads(config_bytes)
    return loaded


def _base_model(store: MemoryStore) -> Manifest:
    """A stored base model: GGUF, template, system, params, license, messages."""
    layers = (
        Layer(MEDIA_TYPE_MODEL, GGUF_DIGEST, len(GGUF)),
        store.layer(MEDIA_TYPE_TEMPLATE, b"{{ .Prompt }}"),
        store.layer(MEDIA_TYPE_SYSTEM, b"base system"),
        store.layer(MEDIA_TYPE_PARAMS, b'{"temperature":0.1,"stop":["<|end|>"]}'),
        store.layer(MEDIA_TYPE_LICENSE, b"base license"),
        store.layer(MEDIA_TYPE_MESSAGES, b'[{"role":"user","content":"old"}]'),
    )
    config = ModelConfig(
        model_format="gguf", model_family="llama", model_families=("llama",), model_type="22.71M",
        file_type="Q8_0", renderer="base-renderer",
    ).to_json()
    return Manifest(config=store.layer(MEDIA_TYPE_CONFIG, config), layers=layers)


def test_from_files_creates_a_model_layer_and_a_gguf_config(store: MemoryStore) -> None:
    plan = store.plan(CreateRequest(model="m", files={"model.gguf": str(GGUF_DIGEST)}))
    assert plan.manifest.layers == (Layer(MEDIA_TYPE_MODEL, GGUF_DIGEST, len(GGUF)),)
    config = _config_of(plan)
    assert config["model_format"] == "gguf"
    assert config["model_family"] == "llama"
    assert config["model_families"] == ["llama"]
    assert config["model_type"] == "22.71M"
    assert config["file_type"] == "Q8_0"
    assert config["rootfs"] == {"type": "layers", "diff_ids": [str(GGUF_DIGEST)]}
    assert (config["architecture"], config["os"]) == ("amd64", "linux")


def test_the_config_blob_is_written_and_its_digest_is_the_manifests_config(store: MemoryStore) -> None:
    plan = store.plan(CreateRequest(model="m", files={"model.gguf": str(GGUF_DIGEST)}))
    config = plan.manifest.config
    assert config.media_type == MEDIA_TYPE_CONFIG
    matches = [b for b in plan.new_blobs if digest_of_bytes(b) == config.digest]
    assert len(matches) == 1
    assert config.size == len(matches[0])
    assert ModelConfig.from_json(matches[0]).model_format == "gguf"


def test_from_files_reports_parsing_then_the_existing_uploaded_layer(store: MemoryStore) -> None:
    plan = store.plan(CreateRequest(model="m", files={"model.gguf": str(GGUF_DIGEST)}))
    assert plan.statuses == ("parsing GGUF", f"using existing layer {GGUF_DIGEST}")


def test_a_digest_with_a_dash_is_accepted(store: MemoryStore) -> None:
    plan = store.plan(CreateRequest(model="m", files={"model.gguf": GGUF_DIGEST.filename}))
    assert plan.manifest.layers[0].digest == GGUF_DIGEST


def test_neither_from_nor_files_is_a_bad_request(store: MemoryStore) -> None:
    with pytest.raises(InvalidRequestError, match=r"^neither 'from' or 'files' was specified$"):
        store.plan(CreateRequest(model="m", system="only a system prompt"))


@pytest.mark.parametrize(
    "filename", ["/abs", "/abs/model.gguf", "../x", "a/../b", "a/./b", "./a", "a//b", "", "a\\b"]
)
def test_a_file_name_that_is_not_a_clean_relative_path_is_rejected(store: MemoryStore, filename: str) -> None:
    with pytest.raises(InvalidRequestError, match=r"^file path must be relative$"):
        store.plan(CreateRequest(model="m", files={filename: str(GGUF_DIGEST)}))


@pytest.mark.parametrize("filename", ["model.gguf", "dir/model.gguf", "a.b/c-d_e.gguf"])
def test_clean_relative_file_names_are_accepted(store: MemoryStore, filename: str) -> None:
    assert store.plan(CreateRequest(model="m", files={filename: str(GGUF_DIGEST)})).manifest.layers


@pytest.mark.parametrize("digest", ["", "sha256:xyz", "md5:" + "a" * 64, "sha256:" + "a" * 63])
def test_an_invalid_digest_is_an_invalid_digest_format_error(store: MemoryStore, digest: str) -> None:
    with pytest.raises((InvalidRequestError, InvalidDigestError), match=r"^invalid digest format$") as caught:
        store.plan(CreateRequest(model="m", files={"model.gguf": digest}))
    assert caught.value.status == 400


def test_a_missing_blob_is_blob_not_found(store: MemoryStore) -> None:
    missing = digest_of_bytes(b"never uploaded")
    with pytest.raises(BlobNotFoundError) as caught:
        store.plan(CreateRequest(model="m", files={"model.gguf": str(missing)}))
    assert str(caught.value) == f'blob "{missing}" not found'
    assert caught.value.status == 404


def test_a_blob_that_is_not_gguf_is_rejected(store: MemoryStore) -> None:
    digest = store.put(b"just text")
    with pytest.raises(InvalidRequestError, match=r"^supplied file was not in GGUF format$"):
        store.plan(CreateRequest(model="m", files={"notes.gguf": str(digest)}))


def test_a_missing_adapter_blob_is_blob_not_found(store: MemoryStore) -> None:
    missing = digest_of_bytes(b"no adapter")
    with pytest.raises(BlobNotFoundError):
        store.plan(
            CreateRequest(model="m", files={"m.gguf": str(GGUF_DIGEST)}, adapters={"a.gguf": str(missing)})
        )


def test_an_adapter_becomes_an_adapter_layer_after_the_model(store: MemoryStore) -> None:
    plan = store.plan(
        CreateRequest(model="m", files={"m.gguf": str(GGUF_DIGEST)}, adapters={"lora.gguf": str(ADAPTER_DIGEST)})
    )
    assert [layer.media_type for layer in plan.manifest.layers] == [MEDIA_TYPE_MODEL, MEDIA_TYPE_ADAPTER]
    assert plan.manifest.layers[1] == Layer(MEDIA_TYPE_ADAPTER, ADAPTER_DIGEST, len(ADAPTER))


def test_from_a_base_inherits_every_layer_marked_with_the_base_name(store: MemoryStore) -> None:
    base = _base_model(store)
    plan = store.plan(CreateRequest(model="mine", from_="base"), base=base, base_name="base:latest")
    assert [(layer.media_type, layer.digest, layer.size) for layer in plan.manifest.layers] == [
        (layer.media_type, layer.digest, layer.size) for layer in base.layers
    ]
    assert {layer.from_ for layer in plan.manifest.layers} == {"base:latest"}


def test_an_inherited_layer_keeps_the_origin_it_already_had(store: MemoryStore) -> None:
    base = _base_model(store)
    first = base.layers[0]
    inherited = Layer(first.media_type, first.digest, first.size, "grandparent:1b")
    base = Manifest(config=base.config, layers=(inherited, *base.layers[1:]))
    plan = store.plan(CreateRequest(model="mine", from_="base"), base=base, base_name="base:latest")
    assert plan.manifest.layers[0].from_ == "grandparent:1b"
    assert plan.manifest.layers[1].from_ == "base:latest"


def test_from_a_base_reports_every_inherited_layer_as_existing(store: MemoryStore) -> None:
    base = _base_model(store)
    plan = store.plan(CreateRequest(model="mine", from_="base"), base=base, base_name="base:latest")
    assert plan.statuses == tuple(f"using existing layer {layer.digest}" for layer in base.layers)


def test_from_a_base_inherits_its_config_fields(store: MemoryStore) -> None:
    plan = store.plan(CreateRequest(model="mine", from_="base"), base=_base_model(store), base_name="base:latest")
    config = _config_of(plan)
    assert (config["model_family"], config["renderer"]) == ("llama", "base-renderer")
    assert config["rootfs"]["diff_ids"] == [str(layer.digest) for layer in plan.manifest.layers]


def _only(plan: CreatePlan, media_type: str) -> bytes:
    layers = plan.manifest.layers_of(media_type)
    assert len(layers) == 1, layers
    data = next(b for b in plan.new_blobs if digest_of_bytes(b) == layers[0].digest)
    assert layers[0].size == len(data)
    return data


def test_request_parameters_are_merged_over_the_base_parameters(store: MemoryStore) -> None:
    plan = store.plan(
        CreateRequest(model="mine", from_="base", parameters={"temperature": 0.9, "top_k": 5}),
        base=_base_model(store),
        base_name="base:latest",
    )
    assert json.loads(_only(plan, MEDIA_TYPE_PARAMS)) == {"temperature": 0.9, "stop": ["<|end|>"], "top_k": 5}
    assert plan.manifest.layer_of(MEDIA_TYPE_PARAMS).from_ is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("changes", "media_type", "data"),
    [
        ({"template": "{{ .System }} {{ .Prompt }}"}, MEDIA_TYPE_TEMPLATE, b"{{ .System }} {{ .Prompt }}"),
        ({"system": "new system"}, MEDIA_TYPE_SYSTEM, b"new system"),
        (
            {"messages": (ChatMessage(role="user", content="hi"), ChatMessage(role="assistant", content="yo"))},
            MEDIA_TYPE_MESSAGES,
            b'[{"role":"user","content":"hi"},{"role":"assistant","content":"yo"}]\n',
        ),
    ],
)
def test_template_system_and_messages_replace_the_base_layer(
    store: MemoryStore, changes: dict[str, Any], media_type: str, data: bytes
) -> None:
    plan = store.plan(
        CreateRequest(model="mine", from_="base", **changes), base=_base_model(store), base_name="base:latest"
    )
    assert _only(plan, media_type) == data
    layer = plan.manifest.layer_of(media_type)
    assert layer is not None and layer.from_ is None
    assert f"creating new layer {layer.digest}" in plan.statuses


def test_licenses_replace_all_base_licenses_one_layer_each(store: MemoryStore) -> None:
    plan = store.plan(
        CreateRequest(model="mine", from_="base", license=("MIT", "Apache-2.0")),
        base=_base_model(store),
        base_name="base:latest",
    )
    licenses = plan.manifest.layers_of(MEDIA_TYPE_LICENSE)
    assert [layer.digest for layer in licenses] == [digest_of_bytes(b"MIT"), digest_of_bytes(b"Apache-2.0")]
    assert digest_of_bytes(b"base license") not in plan.manifest.all_digests


def test_a_new_template_also_replaces_a_legacy_prompt_layer(store: MemoryStore) -> None:
    base = _base_model(store)
    legacy = Manifest(
        config=base.config,
        layers=(base.layers[0], store.layer(MEDIA_TYPE_PROMPT, b"{{ .Prompt }} legacy")),
    )
    request = CreateRequest(model="mine", from_="base", template="new")
    plan = store.plan(request, base=legacy, base_name="base:latest")
    assert [layer.media_type for layer in plan.manifest.layers] == [MEDIA_TYPE_MODEL, MEDIA_TYPE_TEMPLATE]


def test_an_unchanged_text_layer_that_already_exists_is_reported_as_existing(store: MemoryStore) -> None:
    base = _base_model(store)
    plan = store.plan(CreateRequest(model="mine", from_="base", system="base system"), base=base, base_name="b")
    assert f"using existing layer {digest_of_bytes(b'base system')}" in plan.statuses
    assert not any(s.startswith("creating new layer") for s in plan.statuses)


def test_new_files_replace_the_base_model_layer_and_reset_the_config(store: MemoryStore) -> None:
    other = b"GGUF\x03other model"
    other_digest = store.put(other)
    store.ggufs[other_digest] = Facts(architecture="qwen2", parameter_size="494M", file_type="F16")
    plan = store.plan(
        CreateRequest(model="mine", from_="base", files={"new.gguf": str(other_digest)}),
        base=_base_model(store),
        base_name="base:latest",
    )
    models = plan.manifest.layers_of(MEDIA_TYPE_MODEL)
    assert models == (Layer(MEDIA_TYPE_MODEL, other_digest, len(other)),)
    assert plan.manifest.layers[0] == models[0]
    config = _config_of(plan)
    assert (config["model_family"], config["model_type"], config["file_type"]) == ("qwen2", "494M", "F16")


def test_statuses_list_every_layer_and_new_blobs_hold_every_new_layer(store: MemoryStore) -> None:
    plan = store.plan(
        CreateRequest(
            model="m",
            files={"m.gguf": str(GGUF_DIGEST)},
            template="T",
            system="S",
            parameters={"num_ctx": 4096},
            license=("L",),
        )
    )
    layer_statuses = [s for s in plan.statuses if s.endswith(tuple(str(l.digest) for l in plan.manifest.layers))]
    assert len(layer_statuses) == len(plan.manifest.layers)
    new = {digest_of_bytes(b) for b in plan.new_blobs}
    for layer in plan.manifest.layers:
        if f"creating new layer {layer.digest}" in plan.statuses:
            assert layer.digest in new
    assert plan.manifest.config.digest in new
    assert plan.statuses[0] == "parsing GGUF"


def test_planning_writes_nothing_to_the_store(store: MemoryStore) -> None:
    base = _base_model(store)
    before = dict(store.blobs)
    store.plan(
        CreateRequest(model="mine", from_="base", system="changed", parameters={"top_k": 1}),
        base=base,
        base_name="base:latest",
    )
    assert store.blobs == before


F16 = b"GGUF f16 model"
F16_DIGEST = digest_of_bytes(F16)
Q8 = b"GGUF q8_0 model"
Q8_DIGEST = digest_of_bytes(Q8)


@pytest.fixture
def f16_store(store: MemoryStore) -> MemoryStore:
    store.put(F16)
    store.ggufs[F16_DIGEST] = Facts(file_type="F16")
    store.put(Q8)
    store.ggufs[Q8_DIGEST] = Facts(file_type="Q8_0")
    return store


def test_a_quantize_request_plans_the_quantization_of_the_model_layer(f16_store: MemoryStore) -> None:
    plan = f16_store.plan(CreateRequest(model="m", files={"m.gguf": str(F16_DIGEST)}, quantize="q8_0"))
    assert plan.quantization is not None
    assert (plan.quantization.source, plan.quantization.file_type) == (F16_DIGEST, "Q8_0")
    assert plan.quantization.status == "quantizing F16 model to Q8_0"
    assert plan.parse_statuses == ("parsing GGUF",)


def test_the_quantized_blob_replaces_the_model_layer_and_the_file_type(f16_store: MemoryStore) -> None:
    plan = f16_store.plan_quantized(
        CreateRequest(model="m", files={"m.gguf": str(F16_DIGEST)}, quantize="q8_0"),
        Quantized(source=F16_DIGEST, digest=Q8_DIGEST, created=True),
    )
    assert plan.quantization is None
    assert plan.manifest.layers == (Layer(MEDIA_TYPE_MODEL, Q8_DIGEST, len(Q8)),)
    assert plan.layer_statuses == (f"creating new layer {Q8_DIGEST}",)
    assert _config_of(plan)["file_type"] == "Q8_0"


def test_a_quantized_blob_that_was_already_stored_is_reported_as_existing(f16_store: MemoryStore) -> None:
    plan = f16_store.plan_quantized(
        CreateRequest(model="m", files={"m.gguf": str(F16_DIGEST)}, quantize="q8_0"),
        Quantized(source=F16_DIGEST, digest=Q8_DIGEST, created=False),
    )
    assert plan.layer_statuses == (f"using existing layer {Q8_DIGEST}",)


def test_quantizing_a_model_already_of_that_type_is_a_no_op(f16_store: MemoryStore) -> None:
    plan = f16_store.plan(CreateRequest(model="m", files={"m.gguf": str(F16_DIGEST)}, quantize="f16"))
    assert plan.quantization is None
    assert plan.manifest.layers[0].digest == F16_DIGEST


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"quantize": "q5_1"},
         re.escape("unsupported quantization type Q5_1 - supported types are F32, F16, Q4_K_S, Q4_K_M, Q8_0")),
        ({"template": "{{ .Prompt"}, r"template error: template: :1(:\d+)?: unclosed action"),
        ({"parameters": {"num_ctx": "big"}}, re.escape('option "num_ctx" must be of type integer')),
        ({"adapters": {"a.gguf": str(ADAPTER_DIGEST), "b.gguf": str(GGUF_DIGEST)}},
         "only one adapter is currently supported"),
    ],
)
def test_bad_input_fails_the_plan_with_ollamas_words(store: MemoryStore, changes: dict[str, Any], error: str) -> None:
    with pytest.raises(BadRequestError) as caught:
        store.plan(CreateRequest(model="m", files={"m.gguf": str(GGUF_DIGEST)}, **changes))
    assert caught.value.status == 400
    assert re.fullmatch(error, str(caught.value)), str(caught.value)


def test_an_adapter_that_is_not_gguf_is_rejected(store: MemoryStore) -> None:
    digest = store.put(b"not an adapter")
    with pytest.raises(InvalidRequestError, match=r"^supplied file was not in GGUF format$"):
        store.plan(CreateRequest(model="m", files={"m.gguf": str(GGUF_DIGEST)}, adapters={"a.gguf": str(digest)}))


def test_an_adapter_gguf_among_the_files_becomes_an_adapter_layer(store: MemoryStore) -> None:
    plan = store.plan(CreateRequest(model="m", files={"m.gguf": str(GGUF_DIGEST), "a.gguf": str(ADAPTER_DIGEST)}))
    assert [l.media_type for l in plan.manifest.layers] == [MEDIA_TYPE_MODEL, MEDIA_TYPE_ADAPTER]


def test_layers_with_the_same_digest_appear_once(store: MemoryStore) -> None:
    plan = store.plan(CreateRequest(model="m", files={"m.gguf": str(GGUF_DIGEST)}, license=("MIT", "MIT")))
    assert len(plan.manifest.layers_of(MEDIA_TYPE_LICENSE)) == 1
    assert len(plan.new_blobs) == len(set(plan.new_blobs))


def test_params_are_written_as_gos_json_encoder_writes_them(store: MemoryStore) -> None:
    plan = store.plan(CreateRequest(
        model="m", files={"m.gguf": str(GGUF_DIGEST)},
        parameters={"temperature": 0.5, "stop": ["<|im_end|>"], "num_ctx": 4096},
    ))
    assert _only(plan, MEDIA_TYPE_PARAMS) == b'{"num_ctx":4096,"stop":["\\u003c|im_end|\\u003e"],"temperature":0.5}\n'
