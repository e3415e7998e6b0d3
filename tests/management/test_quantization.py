"""Which quantization /api/create runs: Ollama's accepted types, aliases and error texts."""

from __future__ import annotations

import pytest

from ollama_actors.domain.digests import digest_of_bytes
from ollama_actors.domain.errors import InvalidRequestError
from ollama_actors.management.domain.quantization import parse_quantization_type, plan_quantization

SOURCE = digest_of_bytes(b"model")


@pytest.mark.parametrize(
    ("raw", "file_type"),
    [("q8_0", "Q8_0"), ("Q8_0", "Q8_0"), ("q4_K_M", "Q4_K_M"), ("Q4_k_m", "Q4_K_M"), ("q4_k", "Q4_K_M"),
     ("q4_K_S", "Q4_K_S"), ("f16", "F16"), ("F32", "F32"), ("bf16", "BF16")],
)
def test_types_are_matched_case_insensitively(raw: str, file_type: str) -> None:
    assert parse_quantization_type(raw) == file_type


@pytest.mark.parametrize("raw", ["q5_0", "Q4_0", "q2_K", "int8", ""])
def test_an_unknown_type_names_it_upper_cased_and_lists_ollamas_types(raw: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_quantization_type(raw)
    assert str(caught.value) == (
        f"unsupported quantization type {raw.upper()} - supported types are F32, F16, Q4_K_S, Q4_K_M, Q8_0"
    )
    assert caught.value.status == 400


def test_a_plan_names_source_and_requested_type_in_its_status() -> None:
    plan = plan_quantization("q4_k", source=SOURCE, source_type="F16")
    assert plan is not None
    assert (plan.source, plan.file_type, plan.status) == (SOURCE, "Q4_K_M", "quantizing F16 model to Q4_K")


@pytest.mark.parametrize("source_type", ["Q8_0", "Q4_K_M", "Q4_0"])
def test_only_f16_bf16_and_f32_models_are_quantized(source_type: str) -> None:
    with pytest.raises(InvalidRequestError, match=r"^quantization is only supported for F16, BF16 and F32 models$"):
        plan_quantization("q8_0", source=SOURCE, source_type=source_type)


def test_nothing_to_do_when_not_asked_or_already_of_that_type() -> None:
    assert plan_quantization(None, source=SOURCE, source_type="F16") is None
    assert plan_quantization("", source=SOURCE, source_type="Q8_0") is None
    assert plan_quantization("f16", source=SOURCE, source_type="F16") is None
