"""The client half of ``ollama create``: Modelfile instructions → /api/create body + uploads (§4.3)."""

from __future__ import annotations

import hashlib
import os.path
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pytest

from ollama_actors.cli.modelfile_request import (
    CreateRequest,
    Upload,
    build_create_request,
    request_file_names,
    select_model_files,
)
from ollama_actors.domain.errors import InvalidRequestError


@dataclass(frozen=True)
class Ins:
    """Stands in for the parser's Instruction (same fields), so these tests need no parser."""

    name: str
    value: str
    key: str | None = None
    line: int = 0


class InMemoryFiles:
    """A whole LocalFiles in memory: file contents, symbolic links, home directories."""

    def __init__(self, files: dict[str, bytes], links: dict[str, str] | None = None) -> None:
        self.files, self.links = files, links or {}

    def kind(self, path: str) -> Literal["file", "dir"] | None:
        path = self.realpath(path)
        if path in self.files:
            return "file"
        return "dir" if any(f.startswith(path.rstrip("/") + "/") for f in self.files) else None

    def listing(self, directory: str) -> Sequence[str]:
        prefix = directory.rstrip("/") + "/"
        names = [p[len(prefix) :] for p in list(self.files) + list(self.links) if p.startswith(prefix)]
        return sorted(n for n in names if n.count("/") <= 1)

    def realpath(self, path: str) -> str:
        return self.links.get(path, path)

    def digest(self, path: str) -> str:
        return "sha256:" + hashlib.sha256(self.files[self.realpath(path)]).hexdigest()

    def expanduser(self, path: str) -> str:
        user, _, rest = path[1:].partition("/")
        home = f"/home/{user}" if user else "/home/me"
        return os.path.join(home, rest) if rest else home


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def plan(instructions: Sequence[Ins], files: InMemoryFiles | None = None, **kw: object) -> CreateRequest:
    params = kw.pop("parameters", {})
    return build_create_request(
        "mario",
        instructions,
        params,
        modelfile_dir="/work/mf",
        files=files or InMemoryFiles({}),
        **kw,  # type: ignore[arg-type]
    )


def test_reference_example_from_a_model_name() -> None:
    instructions = [
        Ins("from", "llama3.2"),
        Ins("parameter", "1", "temperature"),
        Ins("parameter", "4096", "num_ctx"),
        Ins("parameter", "<|eot_id|>", "stop"),
        Ins("parameter", "User:", "stop"),
        Ins("system", "You are Mario from Super Mario Bros, acting as an assistant."),
        Ins("message", "Is Toronto in Canada?", "user"),
        Ins("message", "yes", "assistant"),
    ]
    parameters = {"temperature": 1, "num_ctx": 4096, "stop": ["<|eot_id|>", "User:"]}
    result = plan(instructions, parameters=parameters)
    assert result.body == {
        "model": "mario",
        "from": "llama3.2",
        "parameters": {"temperature": 1, "num_ctx": 4096, "stop": ["<|eot_id|>", "User:"]},
        "system": "You are Mario from Super Mario Bros, acting as an assistant.",
        "messages": [{"role": "user", "content": "Is Toronto in Canada?"}, {"role": "assistant", "content": "yes"}],
    }
    assert result.uploads == ()


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ("./tiny.gguf", "/work/mf/tiny.gguf"),
        ("tiny.gguf", "/work/mf/tiny.gguf"),
        ("../models/tiny.gguf", "/work/models/tiny.gguf"),
        ("/srv/tiny.gguf", "/srv/tiny.gguf"),
        ("~/tiny.gguf", "/home/me/tiny.gguf"),
        ("~bob/w/tiny.gguf", "/home/bob/w/tiny.gguf"),
    ],
)
def test_from_a_local_gguf_uploads_it_and_names_it_by_base_name(value: str, path: str) -> None:
    files = InMemoryFiles({path: b"GGUF..."})
    result = plan([Ins("from", value)], files)
    assert result.body == {"model": "mario", "files": {"tiny.gguf": digest(b"GGUF...")}}
    assert result.uploads == (Upload(path, digest(b"GGUF...")),)


def test_from_a_path_that_does_not_exist_is_sent_verbatim_as_a_model_name() -> None:
    assert plan([Ins("from", "./missing.gguf")]).body == {"model": "mario", "from": "./missing.gguf"}


def test_adapter_is_uploaded_and_listed_under_adapters() -> None:
    files = InMemoryFiles({"/work/mf/lora.gguf": b"lora"})
    result = plan([Ins("from", "base"), Ins("adapter", "lora.gguf")], files)
    assert result.body["adapters"] == {"lora.gguf": digest(b"lora")}
    assert result.uploads == (Upload("/work/mf/lora.gguf", digest(b"lora")),)


def test_missing_adapter_is_an_error() -> None:
    with pytest.raises(InvalidRequestError, match="no such file"):
        plan([Ins("from", "base"), Ins("adapter", "lora.gguf")])


def test_texts_licenses_and_quantize() -> None:
    instructions = [
        Ins("from", "base"),
        Ins("template", "{{ .Prompt }}"),
        Ins("system", "first"),
        Ins("system", "second"),
        Ins("license", "MIT"),
        Ins("license", "Apache-2.0"),
    ]
    body = plan(instructions, quantize="q4_K_M").body
    assert body == {
        "model": "mario",
        "from": "base",
        "template": "{{ .Prompt }}",
        "system": "second",
        "license": ["MIT", "Apache-2.0"],
        "quantize": "q4_K_M",
    }


def test_no_parameters_means_no_parameters_field() -> None:
    assert "parameters" not in plan([Ins("from", "base")], parameters={}).body


@pytest.mark.parametrize(("value", "sent"), [("0.14.0", "0.14.0"), ("v1.2.3", "1.2.3"), ("v1.2", "1.2")])
def test_requires_accepts_semver_with_or_without_v(value: str, sent: str) -> None:
    assert plan([Ins("from", "base"), Ins("requires", value)]).body["requires"] == sent


def test_requires_rejects_non_versions() -> None:
    with pytest.raises(InvalidRequestError, match="requires must be a valid semver"):
        plan([Ins("from", "base"), Ins("requires", "latest")])


def test_a_safetensors_directory_uploads_weights_configs_and_tokenizer_with_relative_names() -> None:
    root = "/work/mf/model"
    files = InMemoryFiles(
        {
            f"{root}/model-00001-of-00002.safetensors": b"w1",
            f"{root}/model-00002-of-00002.safetensors": b"w2",
            f"{root}/config.json": b"{}",
            f"{root}/sub/config.json": b"{1}",
            f"{root}/tokenizer.model": b"tok",
            f"{root}/README.md": b"readme",
        }
    )
    result = plan([Ins("from", "./model")], files)
    assert result.body["files"] == {
        "model-00001-of-00002.safetensors": digest(b"w1"),
        "model-00002-of-00002.safetensors": digest(b"w2"),
        "config.json": digest(b"{}"),
        "sub/config.json": digest(b"{1}"),
        "tokenizer.model": digest(b"tok"),
    }
    assert len(result.uploads) == 5


def test_a_directory_without_weights_is_an_error() -> None:
    files = InMemoryFiles({"/work/mf/model/README.md": b"x"})
    with pytest.raises(InvalidRequestError, match="no Modelfile or safetensors files found"):
        plan([Ins("from", "./model")], files)


def test_a_link_out_of_the_model_directory_is_refused() -> None:
    files = InMemoryFiles(
        {"/elsewhere/.cache/blob": b"w"},
        links={"/work/mf/model/model.gguf": "/elsewhere/.cache/blob"},
    )
    files.files["/work/mf/model/config.json"] = b"{}"
    with pytest.raises(InvalidRequestError, match="insecure path: ../../../elsewhere/.cache/blob"):
        plan([Ins("from", "./model")], files)


@pytest.mark.parametrize(
    ("listing", "chosen"),
    [
        (["model.safetensors", "a/model-1.safetensors", "x.gguf"], ["model.safetensors", "a/model-1.safetensors"]),
        (["consolidated.safetensors", "x.gguf"], ["consolidated.safetensors"]),
        (["pytorch_model.bin", "x.gguf"], ["pytorch_model.bin"]),
        (["consolidated.00.pth", "x.gguf"], ["consolidated.00.pth"]),
        (["b.gguf", "a.gguf", "w.bin"], ["a.gguf", "b.gguf"]),
        (["w.bin"], ["w.bin"]),
        (
            ["x.gguf", "config.json", "t/tokenizer.json", "chat_template.jinja", "t/tokenizer.model", "deep/er/x.json"],
            ["x.gguf", "config.json", "t/tokenizer.json", "chat_template.jinja", "t/tokenizer.model"],
        ),
        (["x.gguf", "tokenizer.model", "t/tokenizer.model"], ["x.gguf", "tokenizer.model"]),
    ],
)
def test_model_directory_files_are_chosen_in_ollamas_order(listing: list[str], chosen: list[str]) -> None:
    assert select_model_files(listing) == chosen


def test_file_names_are_base_names_for_one_file_and_relative_paths_for_several() -> None:
    assert request_file_names(["/a/b/model.gguf"]) == {"/a/b/model.gguf": "model.gguf"}
    assert request_file_names(["/a/b/x.json", "/a/b/c/y.json", "/a/d/z.json"]) == {
        "/a/b/x.json": "b/x.json",
        "/a/b/c/y.json": "b/c/y.json",
        "/a/d/z.json": "d/z.json",
    }


def test_parsed_modelfile_builds_the_same_request() -> None:
    parser = pytest.importorskip("ollama_actors.modelfile.domain.parser")
    text = 'FROM ./tiny.gguf\nPARAMETER temperature 0.5\nPARAMETER stop "User:"\nSYSTEM """be brief"""\n'
    modelfile = parser.parse_modelfile(text)
    files = InMemoryFiles({"/work/mf/tiny.gguf": b"GGUF"})
    result = build_create_request(
        "tiny",
        modelfile.instructions,
        parser.parameters_dict(modelfile.instructions),
        modelfile_dir="/work/mf",
        files=files,
    )
    assert result.body == {
        "model": "tiny",
        "files": {"tiny.gguf": digest(b"GGUF")},
        "system": "be brief",
        "parameters": {"temperature": 0.5, "stop": ["User:"]},
    }
