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
from dataclasses import replace
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
    LoadSpec,
    ModelHost,
    ProcessHostedModel,
    SamplingOptions,
    SeqEvent,
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


class Listener:
    """Collects a host's events and faults; waits are bounded."""

    def __init__(self, host: ModelHost) -> None:
        self.events: list[SeqEvent] = []
        self.faults: list[str] = []
        self.calls = 0  # listener calls: one per decode step that produced events
        self.per_call: list[set[int]] = []  # the sequences each call carried
        self._changed = threading.Condition()
        host.listen(self._on_events, self._on_fault)

    def _on_events(self, events: object) -> None:
        with self._changed:
            self.events.extend(events)  # type: ignore[arg-type]
            self.per_call.append({e.seq for e in events})  # type: ignore[attr-defined]
            self.calls += 1
            self._changed.notify_all()

    def _on_fault(self, description: str) -> None:
        with self._changed:
            self.faults.append(description)
            self._changed.notify_all()

    def wait(self, condition: object, timeout: float = WAIT_S) -> None:
        with self._changed:
            assert self._changed.wait_for(condition, timeout), (self.events[-3:], self.faults)  # type: ignore[arg-type]

    def done(self, seq: int) -> SeqEvent | None:
        return next((e for e in self.events if e.seq == seq and e.done), None)

    def text(self, seq: int) -> str:
        return "".join(e.text for e in self.events if e.seq == seq)


def _generate(host: ModelHost, listener: Listener, seq: int, request: CompletionRequest = REQUEST) -> tuple[str, str | None, int]:
    host.submit(seq, request, f"req-{seq}")
    listener.wait(lambda: listener.done(seq) is not None)
    done = listener.done(seq)
    assert done is not None and done.stats is not None
    return listener.text(seq), done.done_reason, done.stats.eval_count


def _generate_in_process(spec: LoadSpec, request: CompletionRequest = REQUEST) -> tuple[str, str | None, int]:
    engine = LlamaCppRuntime().load(spec)
    try:
        engine.submit(1, request)
        text, last = "", None
        while engine.busy:
            for event in engine.step():
                text += event.text
                last = event if event.done else last
        assert last is not None and last.stats is not None
        return text, last.done_reason, last.stats.eval_count
    finally:
        engine.close()


def _wait_for_file(path: Path) -> None:
    """Until the child shows it is inside its wedged step (bounded)."""
    deadline = time.monotonic() + WAIT_S
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


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
    listener = Listener(model)
    assert _generate(model, listener, 1) == _generate_in_process(spec)
    local = LlamaCppRuntime().load(spec)
    try:
        assert model.tokenize("hello world") == local.tokenize("hello world")
        assert model.detokenize(model.tokenize("hello world")) == "hello world"
        assert model.context_length == local.context_length == 512
        assert model.embed(["hello"]).vectors == local.embed(["hello"]).vectors
    finally:
        local.close()


def test_sequences_decoded_together_arrive_in_one_listener_call_per_step(spec: LoadSpec) -> None:
    host = RunnerProcessRuntime().load(replace(spec, num_ctx=1024, num_parallel=4))
    request = CompletionRequest(prompt="hello world", sampling=SamplingOptions(num_predict=120, temperature=0, seed=1))
    try:
        listener = Listener(host)
        for seq in range(4):
            host.submit(seq, request)
        listener.wait(lambda: all(listener.done(seq) is not None for seq in range(4)))
        # Steps with all four sequences come as one call each (submits that arrive a
        # few steps apart make the first and last steps carry fewer).
        assert max(len(seqs) for seqs in listener.per_call) == 4
        assert listener.calls < len(listener.events)
        solo = _generate_in_process(spec, request)
        assert all(listener.text(seq) == solo[0] for seq in range(4))
    finally:
        host.close()


def test_the_model_runs_in_another_process_and_says_so(model: RunnerProcessModel) -> None:
    assert isinstance(model, ProcessHostedModel)
    assert model.pid != os.getpid() and _alive(model.pid)


def test_a_refused_request_comes_back_as_its_sequences_error(model: RunnerProcessModel) -> None:
    listener = Listener(model)
    model.submit(1, CompletionRequest(prompt="hello " * 1000))
    listener.wait(lambda: listener.done(1) is not None)
    refused = listener.done(1)
    assert refused is not None and isinstance(refused.error, BadRequestError)
    assert "exceeds the context length" in str(refused.error)
    assert _generate(model, listener, 2)[1] in {"stop", "length"}  # the process carries on


def test_a_cancelled_sequence_sends_nothing_more(model: RunnerProcessModel) -> None:
    listener = Listener(model)
    model.submit(1, CompletionRequest(prompt="hello", sampling=SamplingOptions(num_predict=-1, temperature=0)))
    listener.wait(lambda: any(e.seq == 1 for e in listener.events))
    model.cancel(1)
    assert _generate(model, listener, 2)[1] in {"stop", "length"}  # after the cancel, in order
    assert listener.done(1) is None


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


def test_a_call_blocked_in_the_process_raises_as_soon_as_the_process_dies(spec: LoadSpec, tmp_path: Path) -> None:
    hung = tmp_path / "hung"
    model = RunnerProcessRuntime(factory=functools.partial(HangingRuntime, str(hung))).load(spec)
    try:
        model.submit(1, CompletionRequest(prompt=HANG_MARKER))  # the next step never returns
        _wait_for_file(hung)
        timer = threading.Timer(0.2, os.kill, (model.pid, signal.SIGKILL))
        timer.start()
        started = time.monotonic()
        with pytest.raises(RunnerError, match="signal: killed"):
            model.tokenize("answered between steps, never")
        assert time.monotonic() - started < WAIT_S
        timer.join()
    finally:
        model.close()


def test_commands_never_block_even_when_the_runner_stops_reading(spec: LoadSpec, tmp_path: Path) -> None:
    hung = tmp_path / "hung"
    model = RunnerProcessRuntime(factory=functools.partial(HangingRuntime, str(hung))).load(spec)
    try:
        model.submit(1, CompletionRequest(prompt=HANG_MARKER))
        _wait_for_file(hung)  # the child reads its channel no more
        sender = threading.Thread(target=lambda: [model.pause(1) for _ in range(40_000)], daemon=True)
        sender.start()  # megabytes of commands: far more than the socket buffers hold
        sender.join(WAIT_S)
        assert not sender.is_alive()
    finally:
        model.close()


def test_a_runner_silent_past_the_step_deadline_is_killed(spec: LoadSpec) -> None:
    model = RunnerProcessRuntime(factory=HangingRuntime, call_timeout_s=1.5).load(spec)
    try:
        exited, _ = _watch(model)
        model.submit(1, CompletionRequest(prompt=HANG_MARKER))
        assert exited.wait(WAIT_S) and not _alive(model.pid)
    finally:
        model.close()


def test_a_call_past_its_deadline_kills_the_process(spec: LoadSpec, tmp_path: Path) -> None:
    hung = tmp_path / "hung"
    model = RunnerProcessRuntime(factory=functools.partial(HangingRuntime, str(hung)), call_timeout_s=0.3).load(spec)
    try:
        exited, _ = _watch(model)
        model.submit(1, CompletionRequest(prompt=HANG_MARKER))
        _wait_for_file(hung)
        with pytest.raises(RunnerError, match="did not answer Tokenize within 0.3s"):
            model.tokenize("hello")
        assert exited.wait(WAIT_S) and not _alive(model.pid)
    finally:
        model.close()


def test_close_ends_and_reaps_the_process_without_reporting_an_exit(model: RunnerProcessModel) -> None:
    exited, _ = _watch(model)
    listener = Listener(model)
    model.submit(1, CompletionRequest(prompt="hello", sampling=SamplingOptions(num_predict=-1)))
    listener.wait(lambda: bool(listener.events))
    model.close()
    assert not _alive(model.pid)  # reaped: not even a zombie
    model.cancel(1)  # harmless once the process is gone
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
