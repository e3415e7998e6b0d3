"""RunnerProcessRuntime: the Runtime port with the model in a real runner process.

Real child processes and real llama.cpp on the tiny model; faults are real
signals. Waits are bounded (threading.Event with a timeout).
"""

from __future__ import annotations

import functools
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ollama_actors.domain.errors import BadRequestError, DigestMismatchError, RunnerError
from ollama_actors.runner.actors.runner import RUNNER_CRASHED
from ollama_actors.runner.adapters.llama_runtime import LlamaCppRuntime
from ollama_actors.runner.adapters.runner_process import (
    RUNNER_STOPPED,
    RunnerProcessModel,
    RunnerProcessRuntime,
    describe_exit,
)
from ollama_actors.runner.adapters.runner_protocol import (
    Failed,
    decode_error,
    encode_error,
    read_frame,
    write_frame,
)
from ollama_actors.runner.ports import (
    CompletionRequest,
    LoadedModel,
    LoadSpec,
    ProcessHostedModel,
    SamplingOptions,
)
from tests.fixtures.faulty_runtime import (
    ABORT_LINE,
    HANG_MARKER,
    AbortOnLoadRuntime,
    HangingRuntime,
    HangOnLoadRuntime,
)

WAIT_S = 10.0
REQUEST = CompletionRequest(prompt="hello world", sampling=SamplingOptions(num_predict=12, temperature=0, seed=1))


@pytest.fixture
def spec(tiny_model_path: Path) -> LoadSpec:
    return LoadSpec(model_path=str(tiny_model_path), num_ctx=512, num_thread=1)


@pytest.fixture
def model(spec: LoadSpec) -> Iterator[RunnerProcessModel]:
    loaded = RunnerProcessRuntime().load(spec)
    try:
        yield loaded
    finally:
        loaded.close()


def _generate(model: LoadedModel, request: CompletionRequest = REQUEST) -> tuple[str, str | None, int]:
    generation = model.start(request)
    pieces = []
    while True:
        step = generation.step()
        pieces.append(step.text)
        if step.done:
            return "".join(pieces), step.done_reason, generation.stats().eval_count


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _watch(model: RunnerProcessModel) -> tuple[threading.Event, list[tuple[int, int]]]:
    exited, seen = threading.Event(), []
    model.monitor(lambda pid, code: (seen.append((pid, code)), exited.set()))
    return exited, seen


def test_generation_in_the_process_matches_the_in_process_runtime(model: RunnerProcessModel, spec: LoadSpec) -> None:
    local = LlamaCppRuntime().load(spec)
    try:
        assert _generate(model) == _generate(local)
        assert model.tokenize("hello world") == local.tokenize("hello world")
        assert model.detokenize(model.tokenize("hello world")) == "hello world"
        assert model.context_length == local.context_length == 512
        assert model.embed(["hello"]).vectors == local.embed(["hello"]).vectors
    finally:
        local.close()


def test_the_model_runs_in_another_process_and_says_so(model: RunnerProcessModel) -> None:
    assert isinstance(model, ProcessHostedModel)
    assert model.pid != os.getpid() and _alive(model.pid)


def test_expected_errors_cross_with_their_class_and_message(model: RunnerProcessModel) -> None:
    with pytest.raises(BadRequestError, match="exceeds the context length"):
        model.start(CompletionRequest(prompt="hello " * 1000))
    assert _generate(model)[1] in {"stop", "length"}  # the process carries on


def test_error_classes_outside_the_hierarchy_become_runner_errors() -> None:
    mismatch = decode_error(encode_error(DigestMismatchError("a", "b")))
    assert type(mismatch) is DigestMismatchError and mismatch.status == 400
    foreign = decode_error(Failed("os", "system", "nope", 500))
    assert type(foreign) is RunnerError and str(foreign) == "nope"


def test_frames_round_trip_over_a_socketpair() -> None:
    value = {"big": "x" * 3_000_000, "spec": LoadSpec(model_path="/m")}  # more than a socket buffer
    left, right = socket.socketpair()
    with left, right:
        writer = threading.Thread(target=write_frame, args=(left, value))
        writer.start()
        assert read_frame(right) == value
        writer.join(WAIT_S)
        left.close()
        with pytest.raises(EOFError):
            read_frame(right)


def test_sigkill_is_reported_to_the_monitor_and_fails_the_next_call(model: RunnerProcessModel) -> None:
    exited, seen = _watch(model)
    os.kill(model.pid, signal.SIGKILL)
    assert exited.wait(WAIT_S)
    assert seen == [(model.pid, -signal.SIGKILL)]
    with pytest.raises(RunnerError) as stopped:
        model.tokenize("hello")
    assert str(stopped.value) == f"{RUNNER_STOPPED}: llama runner process has terminated: signal: killed"


def test_a_call_blocked_in_the_process_raises_as_soon_as_the_process_dies(spec: LoadSpec) -> None:
    model = RunnerProcessRuntime(factory=HangingRuntime).load(spec)
    try:
        generation = model.start(CompletionRequest(prompt=HANG_MARKER))
        timer = threading.Timer(0.2, os.kill, (model.pid, signal.SIGKILL))
        timer.start()
        started = time.monotonic()
        with pytest.raises(RunnerError, match="signal: killed"):
            generation.step()
        assert time.monotonic() - started < WAIT_S
        timer.join()
    finally:
        model.close()


def test_a_call_past_its_deadline_kills_the_process(spec: LoadSpec) -> None:
    model = RunnerProcessRuntime(factory=HangingRuntime, call_timeout_s=0.3).load(spec)
    try:
        exited, _ = _watch(model)
        generation = model.start(CompletionRequest(prompt=HANG_MARKER))
        with pytest.raises(RunnerError, match="did not answer StepGeneration within 0.3s"):
            generation.step()
        assert exited.wait(WAIT_S) and not _alive(model.pid)
    finally:
        model.close()


def test_close_ends_and_reaps_the_process_without_reporting_an_exit(model: RunnerProcessModel) -> None:
    exited, _ = _watch(model)
    generation = model.start(REQUEST)
    generation.step()
    model.close()
    assert not _alive(model.pid)  # reaped: not even a zombie
    generation.cancel()  # harmless once the process is gone
    model.close()  # idempotent
    assert not exited.wait(0.2)


def test_a_process_that_aborts_while_loading_fails_the_load_with_its_last_words(spec: LoadSpec) -> None:
    digest = Path(spec.model_path).name
    runtime = RunnerProcessRuntime(factory=functools.partial(AbortOnLoadRuntime, digest))
    with pytest.raises(RunnerError) as failed:
        runtime.load(spec)
    assert str(failed.value) == f"llama runner process has terminated: signal: aborted: {ABORT_LINE}"


def test_a_model_that_does_not_load_fails_with_the_runtimes_error(tmp_path: Path) -> None:
    with pytest.raises(RunnerError, match="unable to load model: .*no such file"):
        RunnerProcessRuntime().load(LoadSpec(model_path=str(tmp_path / "missing.gguf")))


def test_the_runner_wording_matches_the_runner_actor() -> None:
    assert RUNNER_STOPPED == RUNNER_CRASHED


@pytest.mark.parametrize(
    ("returncode", "text"),
    [(0, "exit status 0"), (1, "exit status 1"), (-9, "signal: killed"), (-6, "signal: aborted"),
     (-11, "signal: segmentation fault")],
)
def test_exit_statuses_read_as_go_prints_them(returncode: int, text: str) -> None:
    assert describe_exit(returncode) == text


def test_a_load_past_the_load_timeout_fails_with_ollamas_words(spec: LoadSpec) -> None:
    runtime = RunnerProcessRuntime(factory=HangOnLoadRuntime, load_timeout_s=0.5)
    with pytest.raises(RunnerError, match="^timed out waiting for llama runner to start"):
        runtime.load(spec)
