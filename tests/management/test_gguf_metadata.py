"""read_gguf_info and Ollama's presentation rules (HumanNumber, file types, model_info)."""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path

import numpy as np
import pytest
from gguf import GGUFReader, GGUFWriter, LlamaFileType

from ollama_actors.adapters.gguf_metadata import (
    GgufFormatError,
    GgufInfo,
    file_type_name,
    human_number,
    read_gguf_info,
)
from tests.fixtures.models import tiny_embed_model_path, tiny_model_path  # noqa: F401  (fixtures)
from tests.fixtures.tiny_gguf import CHATML, TINY_CONTEXT_LENGTH, TINY_EMBEDDING_LENGTH


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        # Ollama's format/format_test.go TestHumanNumber
        (0, "0"),
        (999, "999"),
        (1000, "1K"),
        (1001, "1K"),
        (1_000_000, "1M"),
        (125_000_000, "125M"),
        (500_500_000, "500.50M"),
        (500_550_000, "500.55M"),
        (1_000_000_000, "1B"),
        (2_800_000_000, "2.8B"),
        (2_850_000_000, "2.9B"),
        (1_000_000_000_000, "1000B"),
        # real models and rounding edges
        (134_515_008, "134.52M"),  # SmolLM2-135M
        (22_565_376, "22.57M"),  # all-MiniLM-L6-v2
        (8_030_261_248, "8.0B"),  # Llama 3.1 8B
        (292_800, "293K"),
        (1_500, "2K"),
        (2_500, "2K"),  # ties go to even, as Go's %.0f
        (999_999, "1000K"),
    ],
)
def test_human_number_follows_ollamas_rule(n: int, expected: str) -> None:
    assert human_number(n) == expected


@pytest.mark.parametrize(
    ("file_type", "expected"),
    [(0, "F32"), (1, "F16"), (2, "Q4_0"), (3, "Q4_1"), (4, "unknown"), (7, "Q8_0"), (15, "Q4_K_M"),
     (18, "Q6_K"), (32, "BF16"), (34, "unknown"), (38, "MXFP4_MOE"), (1024, "unknown"), (-1, "unknown")],
)  # fmt: skip
def test_file_type_names(file_type: int, expected: str) -> None:
    assert file_type_name(file_type) == expected


def test_file_type_names_agree_with_gguf_py() -> None:
    for member in LlamaFileType:
        if member is not LlamaFileType.GUESSED:
            assert file_type_name(member.value) == member.name.removeprefix("MOSTLY_").removeprefix("ALL_")


@pytest.fixture(scope="module")
def tiny(tiny_model_path: Path) -> GgufInfo:  # noqa: F811
    return read_gguf_info(tiny_model_path)


def test_tiny_model_header(tiny: GgufInfo) -> None:
    assert tiny.version == 3
    assert tiny.architecture == "llama"
    assert (tiny.file_type, tiny.quantization_level) == ("F16", "F16")
    assert tiny.context_length == TINY_CONTEXT_LENGTH
    assert tiny.embedding_length == TINY_EMBEDDING_LENGTH
    assert not tiny.has_pooling
    assert tiny.chat_template == CHATML
    assert (tiny.bos_token, tiny.eos_token) == ("<s>", "<|im_end|>")


def test_parameter_count_is_the_sum_of_tensor_elements(tiny: GgufInfo, tiny_model_path: Path) -> None:  # noqa: F811
    reader = GGUFReader(tiny_model_path)
    assert tiny.parameter_count == sum(int(t.n_elements) for t in reader.tensors)
    assert tiny.parameter_size == human_number(tiny.parameter_count)


def test_tensors_match_gguf_py(tiny: GgufInfo, tiny_model_path: Path) -> None:  # noqa: F811
    reader = GGUFReader(tiny_model_path)
    expected = [{"name": t.name, "type": t.tensor_type.name, "shape": [int(d) for d in t.shape]} for t in reader.tensors]
    assert tiny.tensors_info() == expected
    assert expected[0] == {"name": "token_embd.weight", "type": "F16", "shape": [64, len(tiny.kv["tokenizer.ggml.tokens"])]}  # type: ignore[arg-type]


def test_key_values_match_gguf_py(tiny: GgufInfo, tiny_model_path: Path) -> None:  # noqa: F811
    reader = GGUFReader(tiny_model_path)
    for name, field in reader.fields.items():
        if name.startswith("GGUF."):
            continue
        value = tiny.kv[name]
        if isinstance(value, float):
            assert value == pytest.approx(field.contents(), rel=1e-6)
        else:
            assert value == (tuple(field.contents()) if isinstance(field.contents(), list) else field.contents())


def test_float32_values_read_back_as_their_shortest_decimal(tiny: GgufInfo) -> None:
    assert tiny.kv["llama.attention.layer_norm_rms_epsilon"] == 1e-05


def test_model_info_hides_name_and_template_and_adds_parameter_count(tiny: GgufInfo) -> None:
    info = tiny.model_info(verbose=False)
    assert "general.name" not in info and "tokenizer.chat_template" not in info
    assert info["general.parameter_count"] == tiny.parameter_count
    assert info["llama.context_length"] == TINY_CONTEXT_LENGTH
    assert list(info) == sorted(info)
    json.dumps(info)  # JSON-ready


def test_model_info_shows_arrays_only_when_verbose(tiny: GgufInfo) -> None:
    """Ollama HEAD decodes no array elements unless verbose, so arrays print as null."""
    assert tiny.model_info(verbose=False)["tokenizer.ggml.tokens"] is None
    tokens = tiny.model_info(verbose=True)["tokenizer.ggml.tokens"]
    assert tokens[:5] == ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]


def test_embedding_model_has_pooling(tiny_embed_model_path: Path) -> None:  # noqa: F811
    info = read_gguf_info(tiny_embed_model_path)
    assert info.has_pooling and info.chat_template is None


def write_gguf(path: Path, build: object) -> Path:
    writer = GGUFWriter(str(path), arch="test")
    build(writer)  # type: ignore[operator]
    writer.add_tensor("w", np.ones((3, 2), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_all_f32_file_shows_quantization_unknown_like_ollama(tmp_path: Path) -> None:
    info = read_gguf_info(write_gguf(tmp_path / "f32.gguf", lambda w: w.add_file_type(LlamaFileType.ALL_F32)))
    assert (info.file_type, info.quantization_level) == ("F32", "unknown")


def test_missing_keys_give_unknowns_and_nones(tmp_path: Path) -> None:
    info = read_gguf_info(write_gguf(tmp_path / "bare.gguf", lambda w: None))
    assert (info.architecture, info.file_type, info.quantization_level) == ("test", "unknown", "unknown")
    assert (info.context_length, info.embedding_length, info.bos_token, info.chat_template) == (None, None, None, None)
    assert info.parameter_count == 6 and info.parameter_size == "6"


def test_every_value_type_is_read(tmp_path: Path) -> None:
    def build(w: GGUFWriter) -> None:
        w.add_uint8("u8", 200)
        w.add_int8("i8", -5)
        w.add_uint16("u16", 60000)
        w.add_int16("i16", -300)
        w.add_uint32("u32", 4_000_000_000)
        w.add_int32("i32", -7)
        w.add_uint64("u64", 2**60)
        w.add_int64("i64", -(2**60))
        w.add_float32("f32", 0.1)
        w.add_float64("f64", 0.1)
        w.add_bool("b", True)
        w.add_string("s", "héllo")
        w.add_array("one", [1])
        w.add_array("strings", ["a", "b"])

    info = read_gguf_info(write_gguf(tmp_path / "types.gguf", build))
    expected = {"u8": 200, "i8": -5, "u16": 60000, "i16": -300, "u32": 4_000_000_000, "i32": -7,
                "u64": 2**60, "i64": -(2**60), "f32": 0.1, "f64": 0.1, "b": True, "s": "héllo",
                "one": (1,), "strings": ("a", "b")}  # fmt: skip
    assert {k: info.kv[k] for k in expected} == expected
    shown = info.model_info(verbose=False)
    assert shown["one"] is None and shown["strings"] is None
    assert info.model_info(verbose=True)["strings"] == ["a", "b"]


def test_not_a_gguf_file_is_a_format_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(GgufFormatError, match="invalid file magic"):
        read_gguf_info(junk)


def test_truncated_file_is_a_format_error(tiny_model_path: Path, tmp_path: Path) -> None:  # noqa: F811
    data = tiny_model_path.read_bytes()
    for cut in (30, 2_000, len(data) - 10):
        broken = tmp_path / f"cut{cut}.gguf"
        broken.write_bytes(data[:cut])
        with pytest.raises(GgufFormatError, match="truncated"):
            read_gguf_info(broken)


def test_hostile_length_fields_fail_cleanly(tmp_path: Path) -> None:
    """A header claiming a 2**60-byte key must fail, not allocate."""
    hostile = tmp_path / "hostile.gguf"
    hostile.write_bytes(struct.pack("<IIQQQ", 0x46554747, 3, 0, 1, 2**60) + b"x" * 64)
    with pytest.raises(GgufFormatError):
        read_gguf_info(hostile)


def test_a_50k_token_vocabulary_reads_in_well_under_a_second(tmp_path: Path) -> None:
    """gguf.GGUFReader needs ~1.6 s for SmolLM2's header; show requests cannot wait that long."""
    tokens = [f"t{i}" for i in range(50_000)]
    big = write_gguf(tmp_path / "big.gguf", lambda w: w.add_array("tokenizer.ggml.tokens", tokens))
    started = time.perf_counter()
    info = read_gguf_info(big)
    assert time.perf_counter() - started < 1.0
    assert info.kv["tokenizer.ggml.tokens"] == tuple(tokens)
