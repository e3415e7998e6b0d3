"""Runner: owns one loaded model (a ``ModelHost``) and the jobs decoding on it.

The model is decoded elsewhere (the runner process's loop, which batches every
active sequence into one decode step). This actor renders prompts, submits
sequences, and keeps the books: slots, the scheduler's ``JobDone``, the final
``Completed``. The tokens themselves do not pass through its mailbox: each
step's events are routed, on the host's event thread, to the sequences' data
paths (``SequenceStream``), which push chunks onto the clients' token streams;
only a sequence's end reaches this actor as a message. Its mailbox is thus
never blocked by decoding, only by a tokenize or embed call, or the initial
load. A job's stream is held by the kernel: if this actor crashes, the client
gets one clear error line and the supervisor restarts us.

Loading happens in the first message after ``init`` (so starting the actor is
quick for the supervisor); a model that cannot load is reported to the
scheduler and the runner stops normally — as a transient child it is then not
restarted, so a broken model fails fast instead of looping.

When the host keeps the model in a runner process (``ProcessHostedModel``),
that process's unexpected exit reaches us as ``RunnerProcessExited`` from its
watcher thread, and an engine fault as ``_EngineFailed``; we crash on either:
let it crash, the supervisor restarts us with a fresh process. ``RunnerInfo``
answers our state and the process's pid.

Slots: the scheduler admits up to ``parallel`` jobs at once and loads the model
with ``num_ctx × parallel`` tokens of context and ``parallel`` sequences, as
Ollama splits it; each request sees ``num_ctx`` (prompts are truncated to it).
A slow client's sequence is paused in the engine while its stream is full; a
client that leaves (``on_close`` of its stream) has its sequence cancelled at
once, which frees its KV cells at the engine's next step.
"""

from __future__ import annotations

import signal
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace

import structlog

from ollama_actors.domain.errors import OllamaError, RunnerError
from ollama_actors.kernel import ExitReason, GenServer, ReplyTo, handle_call, handle_cast, handle_info
from ollama_actors.kernel.messages import cast, send_info
from ollama_actors.runner.domain.output_parser import output_parser_for
from ollama_actors.runner.domain.prompting import render_prompt
from ollama_actors.runner.messages import (
    Assign,
    Completed,
    EmbedJob,
    Embedded,
    GenerateJob,
    JobDone,
    Loaded,
    LoadJob,
    RunnerFailed,
    RunnerInfo,
    RunnerProcessExited,
    RunnerReady,
    RunnerStatus,
)
from ollama_actors.kernel.names import Names
from ollama_actors.runner.ports import (
    CompletionRequest,
    EventsListener,
    GenerationStats,
    LoadSpec,
    ModelHost,
    ProcessHostedModel,
    Runtime,
    SeqEvent,
)
from ollama_actors.runner.actors.sequence_stream import SequenceStream

__all__ = ["Runner", "RUNNER_CRASHED"]

RUNNER_CRASHED = (
    "model runner has unexpectedly stopped, this may be due to resource limitations "
    "or an internal error, check ollama server logs for details"
)


@dataclass(frozen=True)
class _Load:
    pass


@dataclass(frozen=True)
class _EngineFailed:
    description: str


@dataclass(frozen=True)
class _Ended:
    """A sequence's last event (None: its client left), from the host's thread."""

    seq: int
    event: SeqEvent | None


@dataclass(frozen=True)
class _Gone:
    """A client left: the stream it read."""

    stream: object


class Runner(GenServer):
    """One loaded model; up to ``parallel`` sequences decoding together."""

    def __init__(
        self, key: str, spec: LoadSpec, runtime: Runtime, names: Names, *, parallel: int = 1
    ) -> None:
        super().__init__()
        self._key = key
        self._parallel = max(1, parallel)
        # Ollama's split: the context for all slots, the slots as sequences.
        self._spec = replace(spec, num_ctx=spec.num_ctx * self._parallel, num_parallel=self._parallel)
        self._runtime = runtime
        self._names = names
        self._model: ModelHost | None = None
        # seq → its data path; read by the host's event thread to route events (a
        # dict lookup, atomic in CPython), written only here.
        self._slots: dict[int, SequenceStream] = {}
        self._waiting: deque[GenerateJob | EmbedJob] = deque()  # admitted, no slot yet
        self._seq = 0

    # ---- lifecycle ----
    def init(self) -> None:
        send_info(self.actor_ref, _Load())

    def terminate(self, reason: ExitReason) -> None:
        self._waiting.clear()  # their replies are held: the kernel fails them on a crash
        self._slots.clear()
        if self._model is not None:
            self._model.close()
            self._model = None

    def crash_error(self, error: BaseException) -> BaseException:
        return RunnerError(RUNNER_CRASHED)

    @handle_info(_Load)
    def _on_load(self, msg: _Load) -> None:
        log = structlog.get_logger()
        started = time.monotonic()
        try:
            self._model = self._runtime.load(self._spec)
        except OllamaError as error:
            log.warning("runner_load_failed", key=self._key, error=str(error))
            self._tell_scheduler(RunnerFailed(self._key, error))
            self.stop_normal()
            return
        log.info("runner_loaded", key=self._key, seconds=round(time.monotonic() - started, 3),
                 num_ctx=self._model.context_length, parallel=self._parallel, pid=self._pid())
        ref = self.actor_ref  # the host's threads report back as messages
        self._model.listen(_router(self._slots, ref), lambda description: send_info(ref, _EngineFailed(description)))
        if isinstance(self._model, ProcessHostedModel):
            self._model.monitor(lambda pid, code: send_info(ref, RunnerProcessExited(pid, code)))
        self._tell_scheduler(RunnerReady(self._key, self.actor_ref, self._slot_ctx()))

    @handle_info(RunnerProcessExited)
    def _on_process_exited(self, msg: RunnerProcessExited) -> None:
        """Let it crash: the model is gone with its process; the supervisor restarts us."""
        if msg.pid == self._pid():
            raise RunnerError(f"runner process {msg.pid} exited unexpectedly ({_exit_status(msg.returncode)})")

    @handle_info(_EngineFailed)
    def _on_engine_failed(self, msg: _EngineFailed) -> None:
        raise RunnerError(f"the engine failed: {msg.description}")

    @handle_call(RunnerInfo)
    def _on_info(self, msg: RunnerInfo, reply: ReplyTo) -> None:
        state = "loading" if self._model is None else "busy" if self._slots else "ready"
        context_length = self._slot_ctx() if self._model is not None else 0
        reply.set(RunnerStatus(self._key, state, self._pid(), context_length))

    # ---- work ----
    @handle_cast(Assign)
    def _on_assign(self, msg: Assign) -> None:
        job = msg.job
        self._loaded()
        if isinstance(job, LoadJob):
            self._done(job.keep_alive_s)  # the scheduler first: see _complete
            job.reply.set(Loaded(time.monotonic_ns() - job.started_ns))
            return
        self.hold(_reply_of(job))
        if isinstance(job, GenerateJob):
            stream, ref = job.stream, self.actor_ref
            stream.on_close = lambda: send_info(ref, _Gone(stream))
        self._waiting.append(job)
        self._admit()

    def _admit(self) -> None:
        """Start admitted jobs while slots are free; drop those whose client left."""
        while self._waiting and len(self._slots) < self._parallel:
            job = self._waiting.popleft()
            if _reply_of(job).done:
                self._done(job.keep_alive_s)
            elif isinstance(job, EmbedJob):
                self._embed(self._loaded(), job)
            else:
                self._begin(job)

    def _embed(self, model: ModelHost, job: EmbedJob) -> None:
        load_ns = time.monotonic_ns() - job.started_ns
        try:
            result = model.embed(job.inputs, truncate=job.truncate)
        except OllamaError as error:
            self._done(job.keep_alive_s)
            job.reply.fail(error)
        else:
            self._done(job.keep_alive_s)  # the scheduler first: see _complete
            job.reply.set(Embedded(result.vectors, result.prompt_eval_count, load_ns))

    def _begin(self, job: GenerateJob) -> None:
        """Render the prompt and submit the sequence; a bad prompt fails only this request."""
        self._seq += 1
        model, ref = self._loaded(), self.actor_ref
        slot = SequenceStream(
            seq=self._seq, job=job, host=model,
            on_end=lambda s, event: send_info(ref, _Ended(s.seq, event)),
            load_duration_ns=time.monotonic_ns() - job.started_ns,
        )
        try:
            slot.prompt_text = render_prompt(
                job.model, job.prompt, count_tokens=lambda text: len(model.tokenize(text)),
                num_ctx=self._slot_ctx(),
            )
            if job.prompt.context:
                slot.prompt_text = model.detokenize(job.prompt.context) + slot.prompt_text
            slot.output = output_parser_for(
                job.model, job.prompt, slot.prompt_text, constrained=job.grammar is not None
            )
        except OllamaError as error:
            self._done(job.keep_alive_s)
            job.stream.fail(error)
            return
        self._slots[slot.seq] = slot
        job.stream.on_drain = slot.resume
        model.submit(
            slot.seq,
            CompletionRequest(prompt=slot.prompt_text, sampling=job.sampling, grammar=job.grammar),
            job.request_id,
        )

    @handle_info(_Ended)
    def _on_ended(self, msg: _Ended) -> None:
        slot = self._slots.get(msg.seq)
        if slot is None:
            return
        if msg.event is None:
            self._log_cancelled(slot)
            self._release(slot)
        elif msg.event.error is not None:
            self._release(slot)
            slot.job.stream.fail(msg.event.error)
        else:
            self._complete(slot, msg.event)
        self._admit()

    @handle_info(_Gone)
    def _on_gone(self, msg: _Gone) -> None:
        """A client left: cancel its sequence now, or drop its job if it had no slot yet."""
        for slot in list(self._slots.values()):
            if slot.job.stream is msg.stream:
                self._loaded().cancel(slot.seq)
                self._log_cancelled(slot)
                self._release(slot)
        gone = [job for job in self._waiting if isinstance(job, GenerateJob) and job.stream is msg.stream]
        for job in gone:
            self._waiting.remove(job)
            self._done(job.keep_alive_s)
        self._admit()

    def _complete(self, slot: SequenceStream, event: SeqEvent) -> None:
        stats = event.stats or GenerationStats(0, 0, 0, 0)
        context = None
        if slot.job.want_context:
            context = tuple(self._loaded().tokenize(slot.prompt_text + "".join(slot.pieces)))
        completed = Completed(
            done_reason=event.done_reason or "stop",
            prompt_eval_count=stats.prompt_eval_count,
            prompt_eval_duration_ns=stats.prompt_eval_duration_ns,
            eval_count=stats.eval_count,
            eval_duration_ns=stats.eval_duration_ns,
            load_duration_ns=slot.load_duration_ns,
            context=context,
        )
        # Tell the scheduler before the client learns the answer is complete: its
        # JobDone is then ahead of anything the client sends next (a `ps` sees the
        # new expiry, keep_alive 0 has unloaded, the next request finds the slot free).
        self._release(slot)
        slot.job.stream.set(completed)

    def _release(self, slot: SequenceStream) -> None:
        if self._slots.pop(slot.seq, None) is not None:
            self._done(slot.job.keep_alive_s)

    @staticmethod
    def _log_cancelled(slot: SequenceStream) -> None:
        structlog.get_logger().info("generation_cancelled", request_id=slot.job.request_id)

    # ---- helpers ----
    def _slot_ctx(self) -> int:
        """The context each request sees: the model's, split over the slots."""
        return self._loaded().context_length // self._parallel

    def _pid(self) -> int | None:
        return self._model.pid if isinstance(self._model, ProcessHostedModel) else None

    def _done(self, keep_alive_s: float | None) -> None:
        self._tell_scheduler(JobDone(self._key, self.actor_ref, keep_alive_s))

    def _loaded(self) -> ModelHost:
        if self._model is None:
            raise RunnerError("runner received work before its model was loaded")
        return self._model

    def _tell_scheduler(self, message: object) -> None:
        scheduler = self._names.whereis("scheduler")
        if scheduler is not None:
            cast(scheduler, message)


def _router(slots: dict[int, SequenceStream], ref: object) -> EventsListener:
    """The host thread's listener: each event to its sequence's data path. A fault
    there (a bug) must not kill the host's reader thread silently: it crashes the
    Runner instead."""

    def route(events: Sequence[SeqEvent]) -> None:
        try:
            for event in events:
                slot = slots.get(event.seq)
                if slot is not None:
                    slot.deliver(event)
        except Exception as error:  # reported as a crash of the Runner
            send_info(ref, _EngineFailed(f"delivering events failed: {error!r}"))  # type: ignore[arg-type]

    return route


def _reply_of(job: GenerateJob | EmbedJob) -> ReplyTo:
    return job.stream if isinstance(job, GenerateJob) else job.reply


def _exit_status(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"signal: {signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal {-returncode}"
    return f"exit status {returncode}"
