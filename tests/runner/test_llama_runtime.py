"""LlamaCppRuntime and its batching engine against real llama.cpp on the suite's
generated tiny GGUF models: generation, continuous batching (batched output equals
unbatched output for greedy decoding, sequences join and leave mid-flight,
cancellation frees KV cells), prompt-prefix reuse, embeddings."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ollama_actors.domain.errors import BadRequestError, RunnerError, UnsupportedCapabilityError
from ollama_actors.runner.adapters.llama_runtime import LlamaCppEngine, LlamaCppRuntime
from ollama_actors.runner.domain.text_assembly import TextAssembler
from ollama_actors.runner.ports import CompletionRequest, EngineRuntime, GenerationStats, LoadSpec, SamplingOptions, SeqEvent
from tests.fixtures.models import tiny_embed_model_path, tiny_model_path  # noqa: F401  (fixtures)
from tests.fixtures.tiny_gguf import TINY_CONTEXT_LENGTH, TINY_EMBEDDING_LENGTH

PROMPT = "<|im_start|>user\nHello, how are you?<|im_end|>\n<|im_start|>assistant\n"
GREEDY = SamplingOptions(temperature=0.0, num_predict=24)


@pytest.fixture(scope="module")
def runtime() -> LlamaCppRuntime:
    return LlamaCppRuntime()


def test_llama_runtime_implements_the_engine_runtime_port() -> None:
    port: EngineRuntime = LlamaCppRuntime()  # checked by the type checker; the rest by these tests
    assert callable(port.load)


@pytest.fixture(scope="module")
def model(runtime: LlamaCppRuntime, tiny_model_path: Path) -> Iterator[LlamaCppEngine]:  # noqa: F811
    loaded = runtime.load(LoadSpec(str(tiny_model_path), num_ctx=256, num_thread=1))
    yield loaded
    loaded.close()


@pytest.fixture(scope="module")
def embed_model(runtime: LlamaCppRuntime, tiny_embed_model_path: Path) -> Iterator[LlamaCppEngine]:  # noqa: F811
    loaded = runtime.load(LoadSpec(str(tiny_embed_model_path), num_ctx=200, num_thread=1, embedding=True))
    yield loaded
    loaded.close()


@dataclass
class Outcome:
    text: str
    done_reason: str | None
    stats: GenerationStats | None
    events: int  # events that carried this sequence's output


def run_all(engine: LlamaCppEngine, outcomes: dict[int, Outcome], max_steps: int = 10_000) -> dict[int, Outcome]:
    """Step until no sequence is active; fold every event into ``outcomes``."""
    for _ in range(max_steps):
        if not engine.busy:
            return outcomes
        absorb(outcomes, engine.step())
    raise AssertionError("generation did not finish")


def absorb(outcomes: dict[int, Outcome], events: list[SeqEvent]) -> None:
    for event in events:
        got = outcomes.setdefault(event.seq, Outcome("", None, None, 0))
        got.text += event.text
        got.events += 1
        if event.done:
            got.done_reason, got.stats = event.done_reason, event.stats


def generate(engine: LlamaCppEngine, sampling: SamplingOptions, prompt: str = PROMPT, **request: object) -> Outcome:
    engine.submit(1, CompletionRequest(prompt, sampling, **request))  # type: ignore[arg-type]
    return run_all(engine, {})[1]


# --- loading ---------------------------------------------------------------------------


def test_loaded_model_reports_context_template_and_special_tokens(model: LlamaCppEngine) -> None:
    assert model.context_length == 256
    assert model.n_ctx_train == TINY_CONTEXT_LENGTH
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
def test_tokenize_detokenize_round_trips_ascii(model: LlamaCppEngine, text: str) -> None:
    assert model.detokenize(model.tokenize(text)) == text


def test_control_tokens_are_parsed_only_when_special(model: LlamaCppEngine) -> None:
    special = model.tokenize("<|im_start|>user", special=True)
    literal = model.tokenize("<|im_start|>user", special=False)
    assert len(special) == 2 and len(literal) > 2
    assert model.detokenize(special) == "<|im_start|>user"


def test_add_bos_prepends_the_bos_token(model: LlamaCppEngine) -> None:
    assert model.tokenize("hello", add_bos=True) == model.tokenize("<s>") + model.tokenize("hello")


# --- generation ------------------------------------------------------------------------


def test_greedy_generation_is_deterministic(model: LlamaCppEngine) -> None:
    first = generate(model, GREEDY)
    assert (first.text, first.done_reason) == (generate(model, GREEDY).text, "length")
    assert first.text


def test_seeded_sampling_is_deterministic_and_the_seed_matters(model: LlamaCppEngine) -> None:
    seeded = SamplingOptions(temperature=1.0, top_k=0, top_p=1.0, seed=42, num_predict=24)
    assert generate(model, seeded).text == generate(model, seeded).text
    other = SamplingOptions(temperature=1.0, top_k=0, top_p=1.0, seed=7, num_predict=24)
    assert generate(model, other).text != generate(model, seeded).text


def test_each_step_samples_exactly_one_token_per_sequence(model: LlamaCppEngine) -> None:
    model.submit(1, CompletionRequest(PROMPT, SamplingOptions(temperature=0.0, num_predict=6)))
    steps = 0
    while model.busy:
        model.step()
        steps += 1
    assert steps == 6


def test_num_predict_ends_with_length(model: LlamaCppEngine) -> None:
    outcome = generate(model, SamplingOptions(temperature=0.0, num_predict=5))
    assert outcome.done_reason == "length"
    assert outcome.stats is not None and outcome.stats.eval_count == 5


def test_unlimited_generation_stops_when_the_context_is_full(model: LlamaCppEngine) -> None:
    outcome = generate(model, SamplingOptions(temperature=0.0, num_predict=-1))
    assert outcome.done_reason == "length" and outcome.stats is not None
    assert outcome.stats.prompt_eval_count + outcome.stats.eval_count == model.context_length


def test_stop_sequence_ends_with_stop_and_is_not_emitted(model: LlamaCppEngine) -> None:
    text = generate(model, SamplingOptions(temperature=0.0, num_predict=40)).text
    stop = text[8:12]
    stopped = generate(model, SamplingOptions(temperature=0.0, num_predict=40, stop=(stop,)))
    assert stopped.done_reason == "stop"
    assert stopped.text == text[: text.index(stop)]


def test_text_that_only_starts_a_stop_sequence_is_released_at_the_end(model: LlamaCppEngine) -> None:
    text = generate(model, SamplingOptions(temperature=0.0, num_predict=40)).text
    never = text[-3:] + "\x00never"
    held = generate(model, SamplingOptions(temperature=0.0, num_predict=40, stop=(never,)))
    assert (held.text, held.done_reason) == (text, "length")


def test_grammar_constrains_output_and_its_end_is_a_stop(model: LlamaCppEngine) -> None:
    outcome = generate(model, SamplingOptions(temperature=0.0, num_predict=20), grammar='root ::= "yes" | "no"')
    assert outcome.text in {"yes", "no"}
    assert outcome.done_reason == "stop"


def test_invalid_grammar_raises_runner_error_and_takes_no_slot(model: LlamaCppEngine) -> None:
    with pytest.raises(RunnerError, match="grammar"):
        model.submit(1, CompletionRequest(PROMPT, grammar="root ::= ("))
    assert not model.busy
    assert generate(model, GREEDY).done_reason == "length"


def test_stats_count_prompt_tokens_and_time_both_phases(model: LlamaCppEngine) -> None:
    stats = generate(model, SamplingOptions(temperature=0.0, num_predict=8)).stats
    assert stats is not None
    assert stats.prompt_eval_count == len(model.tokenize(PROMPT, add_bos=True))
    assert stats.eval_count == 8
    assert stats.prompt_eval_duration_ns > 0 and stats.eval_duration_ns > 0


def test_add_bos_false_leaves_the_prompt_as_written(model: LlamaCppEngine) -> None:
    stats = generate(model, SamplingOptions(num_predict=1), add_bos=False).stats
    assert stats is not None and stats.prompt_eval_count == len(model.tokenize(PROMPT))


def test_a_sequence_id_already_running_is_refused(model: LlamaCppEngine) -> None:
    model.submit(1, CompletionRequest(PROMPT, GREEDY))
    with pytest.raises(RunnerError, match="already running"):
        model.submit(1, CompletionRequest(PROMPT, GREEDY))
    model.cancel(1)
    model.cancel(1)  # idempotent
    assert not model.busy


def test_prompt_longer_than_the_context_is_a_bad_request(model: LlamaCppEngine) -> None:
    with pytest.raises(BadRequestError, match="exceeds the context length"):
        model.submit(1, CompletionRequest("hello " * 400))


# --- continuous batching ---------------------------------------------------------------

PROMPTS = (
    PROMPT,
    "<|im_start|>user\nWrite a poem about the sea.<|im_end|>\n<|im_start|>assistant\n",
    "once upon a time",
    "1 2 3 4 5 6 7 8",
)


@pytest.fixture(scope="module")
def batched(runtime: LlamaCppRuntime, tiny_model_path: Path) -> Iterator[LlamaCppEngine]:  # noqa: F811
    loaded = runtime.load(LoadSpec(str(tiny_model_path), num_ctx=256 * 4, num_thread=1, num_parallel=4))
    yield loaded
    loaded.close()


def alone(model: LlamaCppEngine, prompt: str, sampling: SamplingOptions = GREEDY) -> Outcome:
    return generate(model, sampling, prompt)


def test_four_sequences_decode_in_one_step_each_and_equal_their_unbatched_output(
    model: LlamaCppEngine, batched: LlamaCppEngine
) -> None:
    for seq, prompt in enumerate(PROMPTS):
        batched.submit(seq, CompletionRequest(prompt, GREEDY))
    outcomes: dict[int, Outcome] = {}
    steps = 0
    while batched.busy:
        absorb(outcomes, batched.step())
        steps += 1
    assert steps == GREEDY.num_predict  # every sequence advanced in every step
    for seq, prompt in enumerate(PROMPTS):
        solo = alone(model, prompt)
        assert (outcomes[seq].text, outcomes[seq].done_reason) == (solo.text, solo.done_reason)
        assert outcomes[seq].stats is not None and solo.stats is not None
        assert outcomes[seq].stats.eval_count == solo.stats.eval_count


def test_sequences_join_and_leave_mid_flight_without_changing_the_others(
    model: LlamaCppEngine, batched: LlamaCppEngine
) -> None:
    long = SamplingOptions(temperature=0.0, num_predict=30)
    outcomes: dict[int, Outcome] = {}
    batched.submit(10, CompletionRequest(PROMPTS[0], long))
    for _ in range(5):
        absorb(outcomes, batched.step())
    batched.submit(11, CompletionRequest(PROMPTS[1], long))  # joins a running batch
    batched.submit(12, CompletionRequest(PROMPTS[2], long))
    for _ in range(5):
        absorb(outcomes, batched.step())
    batched.cancel(12)  # leaves mid-flight
    run_all(batched, outcomes)
    assert outcomes[10].text == alone(model, PROMPTS[0], long).text
    assert outcomes[11].text == alone(model, PROMPTS[1], long).text
    assert outcomes[12].done_reason is None  # cancelled: never finished


def test_cancelling_a_sequence_frees_its_kv_cells_at_once(batched: LlamaCppEngine) -> None:
    batched.submit(20, CompletionRequest(PROMPTS[3], SamplingOptions(temperature=0.0, num_predict=50)))
    held = [batched.cached_tokens(i) for i in range(4)]
    for _ in range(4):
        batched.step()
    grown = [i for i in range(4) if batched.cached_tokens(i) > held[i]]  # the slot it decodes in
    assert len(grown) == 1
    batched.cancel(20)
    assert batched.cached_tokens(grown[0]) == 0  # removed now, not at its next use
    assert not batched.busy


def test_a_paused_sequence_waits_while_the_others_advance(model: LlamaCppEngine, batched: LlamaCppEngine) -> None:
    outcomes: dict[int, Outcome] = {}
    batched.submit(30, CompletionRequest(PROMPTS[0], GREEDY))
    batched.submit(31, CompletionRequest(PROMPTS[1], GREEDY))
    absorb(outcomes, batched.step())
    batched.pause(30)
    for _ in range(5):
        events = batched.step()
        assert all(event.seq == 31 for event in events)
        absorb(outcomes, events)
    batched.resume(30)
    run_all(batched, outcomes)
    assert outcomes[30].text == alone(model, PROMPTS[0]).text
    assert outcomes[31].text == alone(model, PROMPTS[1]).text


def test_every_slot_taken_refuses_one_more(batched: LlamaCppEngine) -> None:
    for seq in range(40, 44):
        batched.submit(seq, CompletionRequest(PROMPTS[seq % 4], GREEDY))
    with pytest.raises(RunnerError, match="all 4 sequence slots are busy"):
        batched.submit(44, CompletionRequest(PROMPT, GREEDY))
    for seq in range(40, 44):
        batched.cancel(seq)


def test_a_prompt_extending_a_cached_one_decodes_only_the_new_tokens(
    runtime: LlamaCppRuntime, tiny_model_path: Path  # noqa: F811
) -> None:
    engine = runtime.load(LoadSpec(str(tiny_model_path), num_ctx=512, num_thread=1, num_parallel=2))
    fresh = runtime.load(LoadSpec(str(tiny_model_path), num_ctx=512, num_thread=1, num_parallel=2))
    try:
        first = generate(engine, GREEDY, PROMPT)
        turn = PROMPT + first.text + "<|im_end|>\n<|im_start|>user\nAnd then?<|im_end|>\n<|im_start|>assistant\n"
        before = engine.prompt_tokens_decoded
        second = generate(engine, GREEDY, turn)
        decoded = engine.prompt_tokens_decoded - before
        tokens, cached = engine.tokenize(turn, add_bos=True), engine.tokenize(PROMPT, add_bos=True)
        assert decoded <= len(tokens) - len(cached)  # the first turn's prompt came from the cache
        assert second.stats is not None and second.stats.prompt_eval_count == len(tokens)  # reported whole
        assert second.text == generate(fresh, GREEDY, turn).text  # and the output is the same
    finally:
        engine.close()
        fresh.close()


# --- embeddings ------------------------------------------------------------------------


def norm(vector: tuple[float, ...]) -> float:
    return math.sqrt(sum(x * x for x in vector))


def test_embedding_model_gives_one_deterministic_vector_per_input(embed_model: LlamaCppEngine) -> None:
    result = embed_model.embed(["hello world", "the cat", "hello world"])
    assert [len(v) for v in result.vectors] == [TINY_EMBEDDING_LENGTH] * 3
    assert result.vectors[0] == result.vectors[2] != result.vectors[1]
    assert result == embed_model.embed(["hello world", "the cat", "hello world"])
    assert result.prompt_eval_count == sum(len(embed_model.tokenize(t, add_bos=True)) for t in ["hello world", "the cat", "hello world"])
    assert all(abs(norm(v) - 1.0) > 1e-3 for v in result.vectors)  # not normalised


def test_embedding_model_cannot_generate(embed_model: LlamaCppEngine) -> None:
    with pytest.raises(UnsupportedCapabilityError):
        embed_model.submit(1, CompletionRequest("hello"))


def test_embedding_context_is_rounded_up_like_llama_cpp_does(embed_model: LlamaCppEngine) -> None:
    assert embed_model.context_length == 256


def test_long_input_is_truncated_to_the_context(embed_model: LlamaCppEngine) -> None:
    result = embed_model.embed(["hello world " * 300])
    assert result.prompt_eval_count == embed_model.context_length
    assert len(result.vectors[0]) == TINY_EMBEDDING_LENGTH


def test_long_input_without_truncation_is_a_bad_request(embed_model: LlamaCppEngine) -> None:
    with pytest.raises(BadRequestError, match="^the input length exceeds the context length$"):
        embed_model.embed(["hello world " * 300], truncate=False)


def test_generation_model_embeds_through_a_second_context(model: LlamaCppEngine) -> None:
    model.submit(1, CompletionRequest(PROMPT, GREEDY))
    model.step()
    first = model.embed(["hello world"])  # while a generation is live on the main context
    model.step()
    assert len(first.vectors[0]) == TINY_EMBEDDING_LENGTH
    assert first == model.embed(["hello world"])
    model.cancel(1)


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
    assembler = TextAssembler(stops)
    got = []
    for piece in pieces:
        got.append(assembler.add(piece))
        if got[-1][1]:
            break
    assert got == expected


def test_text_assembler_flush_releases_held_text_and_replaces_broken_utf8() -> None:
    assembler = TextAssembler(("STOP",))
    assert assembler.add(b"ok ST\xe2\x82") == ("ok ", False)
    assert assembler.flush() == "ST\ufffd"
