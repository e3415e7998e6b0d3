"""LlamaCppRuntime against real llama.cpp on the suite's generated tiny GGUF models."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ollama_actors.domain.errors import (
    BadRequestError,
    RequestCanceledError,
    RunnerError,
    UnsupportedCapabilityError,
)
from ollama_actors.runner.adapters.llama_runtime import (
    LlamaCppGeneration,
    LlamaCppModel,
    LlamaCppRuntime,
    _TextAssembler,
)
from ollama_actors.runner.ports import CompletionRequest, LoadSpec, Runtime, SamplingOptions, Step
from tests.fixtures.models import tiny_embed_model_path, tiny_model_path  # noqa: F401  (fixtures)
from tests.fixtures.tiny_gguf import CHATML, TINY_CONTEXT_LENGTH, TINY_EMBEDDING_LENGTH

PROMPT = "<|im_start|>user\nHello, how are you?<|im_end|>\n<|im_start|>assistant\n"
GREEDY = SamplingOptions(temperature=0.0, num_predict=24)


@pytest.fixture(scope="module")
def runtime() -> LlamaCppRuntime:
    return LlamaCppRuntime()


def test_llama_runtime_implements_the_runtime_port() -> None:
    port: Runtime = LlamaCppRuntime()  # checked by the type checker; the rest by these tests
    assert callable(port.load)


@pytest.fixture(scope="module")
def model(runtime: LlamaCppRuntime, tiny_model_path: Path) -> Iterator[LlamaCppModel]:  # noqa: F811
    loaded = runtime.load(LoadSpec(str(tiny_model_path), num_ctx=256, num_thread=1))
    yield loaded
    loaded.close()


@pytest.fixture(scope="module")
def embed_model(runtime: LlamaCppRuntime, tiny_embed_model_path: Path) -> Iterator[LlamaCppModel]:  # noqa: F811
    loaded = runtime.load(LoadSpec(str(tiny_embed_model_path), num_ctx=200, num_thread=1, embedding=True))
    yield loaded
    loaded.close()


def drain(generation: LlamaCppGeneration, max_steps: int = 10_000) -> tuple[list[Step], str]:
    steps: list[Step] = []
    for _ in range(max_steps):
        steps.append(generation.step())
        if steps[-1].done:
            return steps, "".join(s.text for s in steps)
    raise AssertionError("generation did not finish")


def generate(model: LlamaCppModel, sampling: SamplingOptions, prompt: str = PROMPT) -> tuple[str, str | None]:
    steps, text = drain(model.start(CompletionRequest(prompt, sampling)))
    return text, steps[-1].done_reason


# --- loading ---------------------------------------------------------------------------


def test_loaded_model_reports_context_template_and_special_tokens(model: LlamaCppModel) -> None:
    assert model.context_length == 256
    assert model.n_ctx_train == TINY_CONTEXT_LENGTH
    assert model.chat_template == CHATML
    assert (model.bos_token, model.eos_token) == ("<s>", "<|im_end|>")


def test_missing_file_raises_runner_error(runtime: LlamaCppRuntime, tmp_path: Path) -> None:
    with pytest.raises(RunnerError, match="unable to load model: .*no such file"):
        runtime.load(LoadSpec(str(tmp_path / "absent.gguf")))


def test_truncated_file_raises_runner_error_quickly(
    runtime: LlamaCppRuntime,
    tiny_model_path: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    data = tiny_model_path.read_bytes()
    broken = tmp_path / "truncated.gguf"
    broken.write_bytes(data[: len(data) // 2])
    started = time.monotonic()
    with pytest.raises(RunnerError, match=r"unable to load model: .*truncated\.gguf \(.*truncated"):
        runtime.load(LoadSpec(str(broken), num_thread=1))
    assert time.monotonic() - started < 2.0


def test_non_gguf_file_raises_runner_error(runtime: LlamaCppRuntime, tmp_path: Path) -> None:
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a model at all" * 100)
    with pytest.raises(RunnerError, match="unable to load model: .*invalid file magic"):
        runtime.load(LoadSpec(str(junk), num_thread=1))


def test_more_than_one_adapter_is_refused(runtime: LlamaCppRuntime, tiny_model_path: Path) -> None:  # noqa: F811
    spec = LoadSpec(str(tiny_model_path), adapters=("a.gguf", "b.gguf"))
    with pytest.raises(RunnerError, match="only one lora adapter"):
        runtime.load(spec)


# --- tokenizer -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["Hello world, how are you doing today?", "  two  spaces\nand a new line!", "x", "1+1=2 {json: [true]}", ""],
)
def test_tokenize_detokenize_round_trips_ascii(model: LlamaCppModel, text: str) -> None:
    assert model.detokenize(model.tokenize(text)) == text


def test_control_tokens_are_parsed_only_when_special(model: LlamaCppModel) -> None:
    special = model.tokenize("<|im_start|>user", special=True)
    literal = model.tokenize("<|im_start|>user", special=False)
    assert len(special) == 2 and len(literal) > 2
    assert model.detokenize(special) == "<|im_start|>user"


def test_add_bos_prepends_the_bos_token(model: LlamaCppModel) -> None:
    assert model.tokenize("hello", add_bos=True) == model.tokenize("<s>") + model.tokenize("hello")


# --- generation ------------------------------------------------------------------------


def test_greedy_generation_is_deterministic(model: LlamaCppModel) -> None:
    first = generate(model, GREEDY)
    assert first == generate(model, GREEDY)
    assert first[0]


def test_seeded_sampling_is_deterministic_and_the_seed_matters(model: LlamaCppModel) -> None:
    seeded = SamplingOptions(temperature=1.0, top_k=0, top_p=1.0, seed=42, num_predict=24)
    assert generate(model, seeded) == generate(model, seeded)
    other = SamplingOptions(temperature=1.0, top_k=0, top_p=1.0, seed=7, num_predict=24)
    assert generate(model, other)[0] != generate(model, seeded)[0]


def test_each_step_samples_exactly_one_token(model: LlamaCppModel) -> None:
    generation = model.start(CompletionRequest(PROMPT, SamplingOptions(temperature=0.0, num_predict=6)))
    for expected in range(1, 7):
        generation.step()
        assert generation.stats().eval_count == expected


def test_num_predict_ends_with_length(model: LlamaCppModel) -> None:
    generation = model.start(CompletionRequest(PROMPT, SamplingOptions(temperature=0.0, num_predict=5)))
    steps, _ = drain(generation)
    assert len(steps) == 5
    assert steps[-1].done_reason == "length"
    assert generation.stats().eval_count == 5


def test_unlimited_generation_stops_when_the_context_is_full(model: LlamaCppModel) -> None:
    generation = model.start(CompletionRequest(PROMPT, SamplingOptions(temperature=0.0, num_predict=-1)))
    steps, _ = drain(generation)
    stats = generation.stats()
    assert steps[-1].done_reason == "length"
    assert stats.prompt_eval_count + stats.eval_count == model.context_length


def test_stop_sequence_ends_with_stop_and_is_not_emitted(model: LlamaCppModel) -> None:
    text, _ = generate(model, SamplingOptions(temperature=0.0, num_predict=40))
    stop = text[8:12]
    stopped, reason = generate(model, SamplingOptions(temperature=0.0, num_predict=40, stop=(stop,)))
    assert reason == "stop"
    assert stopped == text[: text.index(stop)]


def test_text_that_only_starts_a_stop_sequence_is_released_at_the_end(model: LlamaCppModel) -> None:
    text, _ = generate(model, SamplingOptions(temperature=0.0, num_predict=40))
    never = text[-3:] + "\x00never"
    held, reason = generate(model, SamplingOptions(temperature=0.0, num_predict=40, stop=(never,)))
    assert (held, reason) == (text, "length")


def test_grammar_constrains_output_and_its_end_is_a_stop(model: LlamaCppModel) -> None:
    request = CompletionRequest(PROMPT, SamplingOptions(temperature=0.0, num_predict=20), grammar='root ::= "yes" | "no"')
    steps, text = drain(model.start(request))
    assert text in {"yes", "no"}
    assert steps[-1].done_reason == "stop"


def test_invalid_grammar_raises_runner_error(model: LlamaCppModel) -> None:
    with pytest.raises(RunnerError, match="grammar"):
        model.start(CompletionRequest(PROMPT, grammar="root ::= ("))


def test_stats_count_prompt_tokens_and_time_both_phases(model: LlamaCppModel) -> None:
    generation = model.start(CompletionRequest(PROMPT, SamplingOptions(temperature=0.0, num_predict=8)))
    drain(generation)
    stats = generation.stats()
    assert stats.prompt_eval_count == len(model.tokenize(PROMPT, add_bos=True))
    assert stats.eval_count == 8
    assert stats.prompt_eval_duration_ns > 0 and stats.eval_duration_ns > 0


def test_add_bos_false_leaves_the_prompt_as_written(model: LlamaCppModel) -> None:
    generation = model.start(CompletionRequest(PROMPT, SamplingOptions(num_predict=1), add_bos=False))
    drain(generation)
    assert generation.stats().prompt_eval_count == len(model.tokenize(PROMPT))


def test_cancel_mid_generation_frees_the_model_for_the_next_one(model: LlamaCppModel) -> None:
    generation = model.start(CompletionRequest(PROMPT, SamplingOptions(temperature=0.0, num_predict=50)))
    for _ in range(3):
        generation.step()
    generation.cancel()
    generation.cancel()  # idempotent
    with pytest.raises(RequestCanceledError):
        generation.step()
    assert generation.stats().eval_count == 3
    assert generate(model, GREEDY) == generate(model, GREEDY)


def test_a_second_live_generation_is_refused(model: LlamaCppModel) -> None:
    first = model.start(CompletionRequest(PROMPT, GREEDY))
    first.step()
    with pytest.raises(RunnerError, match="already running"):
        model.start(CompletionRequest(PROMPT, GREEDY))
    first.cancel()
    drain(model.start(CompletionRequest(PROMPT, GREEDY)))


def test_a_finished_generation_keeps_returning_its_final_step(model: LlamaCppModel) -> None:
    generation = model.start(CompletionRequest(PROMPT, SamplingOptions(temperature=0.0, num_predict=2)))
    steps, _ = drain(generation)
    assert steps[-1] == Step(text=steps[-1].text, done=True, done_reason="length")
    assert generation.step() is steps[-1]
    assert generation.step() is steps[-1]


def test_prompt_longer_than_the_context_is_a_bad_request(model: LlamaCppModel) -> None:
    with pytest.raises(BadRequestError, match="exceeds the context length"):
        model.start(CompletionRequest("hello " * 400))


# --- embeddings ------------------------------------------------------------------------


def norm(vector: tuple[float, ...]) -> float:
    return math.sqrt(sum(x * x for x in vector))


def test_embedding_model_gives_one_deterministic_vector_per_input(embed_model: LlamaCppModel) -> None:
    result = embed_model.embed(["hello world", "the cat", "hello world"])
    assert [len(v) for v in result.vectors] == [TINY_EMBEDDING_LENGTH] * 3
    assert result.vectors[0] == result.vectors[2] != result.vectors[1]
    assert result == embed_model.embed(["hello world", "the cat", "hello world"])
    assert result.prompt_eval_count == sum(len(embed_model.tokenize(t, add_bos=True)) for t in ["hello world", "the cat", "hello world"])
    assert all(abs(norm(v) - 1.0) > 1e-3 for v in result.vectors)  # not normalised


def test_embedding_model_cannot_generate(embed_model: LlamaCppModel) -> None:
    with pytest.raises(UnsupportedCapabilityError):
        embed_model.start(CompletionRequest("hello"))


def test_embedding_context_is_rounded_up_like_llama_cpp_does(embed_model: LlamaCppModel) -> None:
    assert embed_model.context_length == 256


def test_long_input_is_truncated_to_the_context(embed_model: LlamaCppModel) -> None:
    result = embed_model.embed(["hello world " * 300])
    assert result.prompt_eval_count == embed_model.context_length
    assert len(result.vectors[0]) == TINY_EMBEDDING_LENGTH


def test_long_input_without_truncation_is_a_bad_request(embed_model: LlamaCppModel) -> None:
    with pytest.raises(BadRequestError, match="^the input length exceeds the context length$"):
        embed_model.embed(["hello world " * 300], truncate=False)


def test_generation_model_embeds_through_a_second_context(model: LlamaCppModel) -> None:
    generation = model.start(CompletionRequest(PROMPT, GREEDY))
    generation.step()
    first = model.embed(["hello world"])  # while a generation is live on the main context
    generation.step()
    assert len(first.vectors[0]) == TINY_EMBEDDING_LENGTH
    assert first == model.embed(["hello world"])
    generation.cancel()


# --- text assembly (stop sequences, UTF-8) ---------------------------------------------


@pytest.mark.parametrize(
    ("stops", "pieces", "expected"),
    [
        ((), [b"ab", b"c"], [("ab", False), ("c", False)]),
        (("STOP",), [b"ab", b"ST", b"OP", b"cd"], [("ab", False), ("", False), ("", True)]),
        (("STOP",), [b"abS", b"Tx"], [("ab", False), ("STx", False)]),
        (("\n\n",), [b"a\n", b"\nb"], [("a", False), ("", True)]),
        (("x", "yz"), [b"ay", b"zx"], [("a", False), ("", True)]),
        ((), [b"\xc3", b"\xa9t\xc3", b"\xa9"], [("", False), ("\u00e9t", False), ("\u00e9", False)]),
    ],
)
def test_text_assembler_holds_back_stop_prefixes_and_partial_utf8(
    stops: tuple[str, ...], pieces: list[bytes], expected: list[tuple[str, bool]]
) -> None:
    assembler = _TextAssembler(stops)
    got = []
    for piece in pieces:
        got.append(assembler.add(piece))
        if got[-1][1]:
            break
    assert got == expected


def test_text_assembler_flush_releases_held_text_and_replaces_broken_utf8() -> None:
    assembler = _TextAssembler(("STOP",))
    assert assembler.add(b"ok ST\xe2\x82") == ("ok ", False)
    assert assembler.flush() == "ST\ufffd"
