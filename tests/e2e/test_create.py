"""/api/create against a real daemon: status stream, quantization through llama.cpp,
LoRA adapters applied by the runner, overrides, and nothing written for bad input."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.daemon import RunningDaemon
from tests.fixtures.daemons import TINY, sha256_file
from tests.fixtures.tiny_gguf import write_tiny_llama_gguf

SUPPORTED = "F32, F16, Q4_K_S, Q4_K_M, Q8_0"


@pytest.fixture
def http(daemon: RunningDaemon) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=daemon.base_url, timeout=120) as client:
        yield client


def _upload(http: httpx.Client, path: Path) -> str:
    digest = sha256_file(path)
    http.post(f"/api/blobs/{digest}", content=path.read_bytes()).raise_for_status()
    return digest


def _lines(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


def _store_files(daemon: RunningDaemon) -> set[str]:
    root: Path = daemon.settings.models  # type: ignore[assignment]
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def _generate(http: httpx.Client, model: str, prompt: str = "hello world") -> str:
    response = http.post("/api/generate", json={
        "model": model, "prompt": prompt, "stream": False, "raw": True,
        "options": {"temperature": 0, "num_predict": 8, "seed": 1},
    })
    assert response.status_code == 200, response.text
    return str(response.json()["response"])


def test_create_quantizes_an_f16_model_to_q8_0_with_ollamas_status_lines(
    http: httpx.Client, tiny_model_path: Path
) -> None:
    digest = _upload(http, tiny_model_path)
    response = http.post("/api/create", json={"model": "tiny-q8", "files": {"m.gguf": digest}, "quantize": "q8_0"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = _lines(response)
    statuses = [line["status"] for line in lines]
    assert statuses[0] == "parsing GGUF"
    quantizing = [line for line in lines if line["status"] == "quantizing F16 model to Q8_0"]
    assert quantizing and quantizing[-1]["completed"] == quantizing[-1]["total"] > 0
    assert quantizing[-1]["digest"] == digest
    assert statuses[statuses.index("verifying conversion") + 1].startswith("creating new layer sha256:")
    assert statuses[-2:] == ["writing manifest", "success"]
    show = http.post("/api/show", json={"model": "tiny-q8"}).json()
    assert show["details"]["quantization_level"] == "Q8_0"
    assert show["model_info"]["general.file_type"] == 7
    assert _generate(http, "tiny-q8")


def test_quantize_type_is_case_insensitive_and_q4_k_is_q4_k_m(http: httpx.Client, tiny_model_path: Path) -> None:
    digest = _upload(http, tiny_model_path)
    response = http.post("/api/create", json={
        "model": "tiny-q4", "files": {"m.gguf": digest}, "quantize": "q4_k", "stream": False,
    })
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "success"}
    assert http.post("/api/show", json={"model": "tiny-q4"}).json()["details"]["quantization_level"] == "Q4_K_M"


def test_creating_the_same_quantized_model_again_reuses_its_layer(http: httpx.Client, tmp_path: Path) -> None:
    digest = _upload(http, write_tiny_llama_gguf(tmp_path / "fresh.gguf", seed=7))
    body = {"model": "tiny-q8-again", "files": {"m.gguf": digest}, "quantize": "Q8_0"}
    first = [line["status"] for line in _lines(http.post("/api/create", json=body))]
    second = [line["status"] for line in _lines(http.post("/api/create", json=body))]
    created = [s for s in first if s.startswith("creating new layer")]
    assert len(created) == 1
    assert created[0].replace("creating new", "using existing") in second
    assert not any(s.startswith("creating new") for s in second)


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"quantize": "q5_0"}, re.escape(f"unsupported quantization type Q5_0 - supported types are {SUPPORTED}")),
        ({"template": "{{ .Prompt"}, r"template error: template: :1(:\d+)?: unclosed action"),
        ({"template": "hi\n{{ if .System }}"}, r"template error: template: :2(:\d+)?: unexpected EOF"),
        ({"parameters": {"temperature": "hot"}}, re.escape('option "temperature" must be of type float32')),
        ({"parameters": {"stop": [1, 2]}}, re.escape('option "stop" must be of an array of strings')),
        ({"adapters": {"a.gguf": "sha256:" + "0" * 64, "b.gguf": "sha256:" + "1" * 64}},
         "only one adapter is currently supported"),
    ],
)
def test_invalid_input_is_a_400_and_writes_nothing(
    http: httpx.Client, daemon: RunningDaemon, tiny_model_path: Path, extra: dict[str, Any], error: str
) -> None:
    digest = _upload(http, tiny_model_path)
    before = _store_files(daemon)
    response = http.post("/api/create", json={"model": "never-made", "files": {"m.gguf": digest}, **extra})
    assert response.status_code == 400
    assert re.fullmatch(error, response.json()["error"]), response.json()  # template errors: line[:column]
    assert _store_files(daemon) == before
    assert http.post("/api/show", json={"model": "never-made"}).status_code == 404


def test_quantizing_a_model_that_is_already_quantized_is_refused(http: httpx.Client, tiny_model_path: Path) -> None:
    digest = _upload(http, tiny_model_path)
    http.post("/api/create", json={"model": "tiny-q8-base", "files": {"m.gguf": digest}, "quantize": "q8_0"})
    response = http.post("/api/create", json={"model": "requant", "from": "tiny-q8-base", "quantize": "q4_K_M"})
    assert (response.status_code, response.json()["error"]) == (
        400, "quantization is only supported for F16, BF16 and F32 models"
    )


def test_quantize_applies_to_the_model_layer_inherited_from_a_base(http: httpx.Client) -> None:
    response = http.post("/api/create", json={"model": "tiny-from-q8", "from": TINY, "quantize": "q8_0"})
    statuses = [line["status"] for line in _lines(response)]
    assert "quantizing F16 model to Q8_0" in statuses and statuses[-1] == "success"
    show = http.post("/api/show", json={"model": "tiny-from-q8"}).json()
    assert show["details"]["quantization_level"] == "Q8_0"


def test_an_adapter_layer_is_applied_by_the_runner(http: httpx.Client, tiny_model_path: Path, tiny_lora_path: Path) -> None:
    model_digest, lora_digest = _upload(http, tiny_model_path), _upload(http, tiny_lora_path)
    response = http.post("/api/create", json={
        "model": "tiny-lora", "files": {"m.gguf": model_digest}, "adapters": {"lora.gguf": lora_digest},
    })
    statuses = [line["status"] for line in _lines(response)]
    assert statuses == [
        "parsing GGUF", "parsing GGUF",
        f"using existing layer {model_digest}", f"using existing layer {lora_digest}",
        "writing manifest", "success",
    ]
    assert "ADAPTER " in http.post("/api/show", json={"model": "tiny-lora"}).json()["modelfile"]
    assert _generate(http, "tiny-lora") != _generate(http, TINY)


def test_an_adapter_gguf_sent_in_files_becomes_an_adapter_layer(
    http: httpx.Client, tiny_model_path: Path, tiny_lora_path: Path
) -> None:
    model_digest, lora_digest = _upload(http, tiny_model_path), _upload(http, tiny_lora_path)
    http.post("/api/create", json={
        "model": "tiny-lora-files", "files": {"m.gguf": model_digest, "lora.gguf": lora_digest}, "stream": False,
    }).raise_for_status()
    modelfile = http.post("/api/show", json={"model": "tiny-lora-files"}).json()["modelfile"]
    assert f"ADAPTER {Path(modelfile.split('FROM ')[-1].split()[0]).parent}/sha256-{lora_digest[7:]}" in modelfile


def test_overrides_become_layers_and_show_returns_them(http: httpx.Client) -> None:
    response = http.post("/api/create", json={
        "model": "tiny-overrides", "from": TINY,
        "template": "{{ .System }}|{{ .Prompt }}", "system": "Be brief.",
        "parameters": {"temperature": 0.5, "stop": ["<|im_end|>", "User:"]},
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}],
        "license": ["MIT", "Apache-2.0"],
    })
    statuses = [line["status"] for line in _lines(response)]
    assert statuses[-1] == "success"
    assert any(s.startswith("using existing layer") for s in statuses)
    assert sum(s.startswith("creating new layer") for s in statuses) == 6  # template, system, params, messages, 2 licenses
    show = http.post("/api/show", json={"model": "tiny-overrides"}).json()
    assert show["template"] == "{{ .System }}|{{ .Prompt }}"
    assert show["system"] == "Be brief."
    assert show["license"] == "MIT\nApache-2.0"
    assert show["messages"] == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    assert show["parameters"].splitlines() == [
        f"{'stop':<30} \"<|im_end|>\"", f"{'stop':<30} \"User:\"", f"{'temperature':<30} 0.5",
    ]
    assert show["details"]["parent_model"] == TINY
    assert show["capabilities"] == ["completion"]
    assert show["tensors"] and {"name", "type", "shape"} <= set(show["tensors"][0])


def test_params_and_messages_layers_are_written_as_go_encodes_them(http: httpx.Client, daemon: RunningDaemon) -> None:
    http.post("/api/create", json={
        "model": "tiny-go-json", "from": TINY, "stream": False,
        "parameters": {"temperature": 0.5, "stop": ["<|im_end|>"]},
        "messages": [{"role": "user", "content": "a < b"}],
    }).raise_for_status()
    root: Path = daemon.settings.models  # type: ignore[assignment]
    manifest = json.loads((root / "manifests/registry.ollama.ai/library/tiny-go-json/latest").read_bytes())
    blobs = {layer["mediaType"].rsplit(".", 1)[-1]: layer["digest"] for layer in manifest["layers"]}

    def blob(kind: str) -> bytes:
        return (root / "blobs" / blobs[kind].replace(":", "-")).read_bytes()

    assert blob("params") == b'{"stop":["\\u003c|im_end|\\u003e"],"temperature":0.5}\n'
    assert blob("messages") == b'[{"role":"user","content":"a \\u003c b"}]\n'


def test_a_stream_ends_with_one_error_line_when_create_fails_after_it_started(
    http: httpx.Client, daemon: RunningDaemon, tmp_path: Path
) -> None:
    """An F16 GGUF whose header reads but whose tensor data llama.cpp rejects fails mid-stream."""
    bad = tmp_path / "bad.gguf"
    _write_gguf_llama_cannot_quantize(bad)
    digest = _upload(http, bad)
    before = _store_files(daemon)
    lines = _lines(http.post("/api/create", json={"model": "bad-q", "files": {"bad.gguf": digest}, "quantize": "q8_0"}))
    assert lines[0] == {"status": "parsing GGUF"}
    assert "error" in lines[-1] and len([line for line in lines if "error" in line]) == 1
    assert _store_files(daemon) == before
    assert http.post("/api/show", json={"model": "bad-q"}).status_code == 404


def _write_gguf_llama_cannot_quantize(path: Path) -> None:
    """A valid F16 GGUF of an architecture llama.cpp does not know."""
    import numpy as np
    from gguf import GGUFWriter, LlamaFileType

    writer = GGUFWriter(str(path), arch="no-such-arch")
    writer.add_file_type(LlamaFileType.MOSTLY_F16)
    writer.add_tensor("blk.0.attn_q.weight", np.zeros((32, 32), dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_show_takes_a_system_override_and_options_for_the_modelfile(http: httpx.Client) -> None:
    show = http.post("/api/show", json={"model": TINY, "system": "Shown instead.", "options": {"top_k": 3}}).json()
    assert show["system"] == "Shown instead."
    assert "SYSTEM Shown instead." in show["modelfile"]
    assert "PARAMETER top_k 3" in show["modelfile"]
    assert "top_k" not in show.get("parameters", "")
    assert show["tensors"]  # without verbose too, as Ollama's HEAD
