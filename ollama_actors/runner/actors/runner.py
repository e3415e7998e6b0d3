"""Runner: owns one loaded model and decodes one step per message.

Invariant: the mailbox is never blocked for longer than one decode step (or one
embedding batch, or the initial load). Generation advances by re-sending
itself a ``_Step`` info message, so calls, casts and other sequences' work
interleave with decoding. A job's stream is held by the kernel: if this actor
crashes, the client gets one clear error line and the supervisor restarts us.

Loading happens in the first message after ``init`` (so starting the actor is
quick for the supervisor); a model that cannot load is reported to the
scheduler and the runner stops normally — as a transient child it is then not
restarted, so a broken model fails fast instead of looping.

When the runtime keeps the model in a runner process (``ProcessHostedModel``),
that process's unexpected exit reaches us as ``RunnerProcessExited`` from its
watcher thread, and we crash: let it crash, the supervisor restarts us with a
fresh process. ``RunnerInfo`` answers our state and the process's pid.

Slots: the scheduler admits up to ``parallel`` jobs at once and loads the model
with ``num_ctx × parallel`` tokens of context, as Ollama splits it; each request
sees ``num_ctx`` (prompts are truncated to it). llama-cpp-python's ``Llama`` runs
one sequence per context, so admitted jobs take the context one after the other
(FIFO) and a job waiting here whose client left is dropped, and reported done,
within one decode step. True batching of slots is issue 8.
"""

from __future__ import annotations

import signal
import time
from collections import deque
from dataclasses import dataclass, field, replace

import structlog

from ollama_actors.bridge.stream import PushResult
from ollama_actors.domain.errors import OllamaError, RunnerError
from ollama_actors.kernel import ExitReason, GenServer, ReplyTo, handle_call, handle_cast, handle_info
from ollama_actors.kernel.messages import cast, send_info
from ollama_actors.runner.domain.output_parser import OutputParser, output_parser_for
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
    Generation,
    LoadedModel,
    LoadSpec,
    ProcessHostedModel,
    Runtime,
)

__all__ = ["Runner", "RUNNER_CRASHED"]

RUNNER_CRASHED = (
    "model runner has unexpectedly stopped, this may be due to resource limitations "
    "or an internal error, check ollama server logs for details"
)


@dataclass(frozen=True)
class _Load:
    pass


@dataclass(frozen=True)
class _Step:
    seq: int


@dataclass(frozen=True)
class _Resume:
    seq: int


@dataclass
class _Slot:
    seq: int
    job: GenerateJob
    generation: Generation | None = None
    prompt_text: str = ""
    pieces: list[str] = field(default_factory=list)  # raw output, for ``context``
    output: OutputParser = OutputParser()  # raw output → content / thinking / tool calls
    load_duration_ns: int = 0
    paused: bool = False


class Runner(GenServer):
    """One loaded model; ``parallel`` admitted jobs, one sequence on the context at a time."""

    def __init__(
        self, key: str, spec: LoadSpec, runtime: Runtime, names: Names, *, parallel: int = 1
    ) -> None:
        super().__init__()
        self._key = key
        self._parallel = max(1, parallel)
        self._spec = replace(spec, num_ctx=spec.num_ctx * self._parallel)  # Ollama's split
        self._runtime = runtime
        self._names = names
        self._model: LoadedModel | None = None
        self._slot: _Slot | None = None
        self._waiting: deque[GenerateJob | EmbedJob] = deque()  # admitted, not yet on the context
        self._seq = 0

    # ---- lifecycle ----
    def init(self) -> None:
        send_info(self.actor_ref, _Load())

    def terminate(self, reason: ExitReason) -> None:
        self._waiting.clear()  # their replies are held: the kernel fails them on a crash
        if self._slot is not None and self._slot.generation is not None:
            self._slot.generation.cancel()
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
                 num_ctx=self._model.context_length, pid=self._pid())
        if isinstance(self._model, ProcessHostedModel):
            ref = self.actor_ref  # the watcher thread's exit report comes back as a message
            self._model.monitor(lambda pid, code: send_info(ref, RunnerProcessExited(pid, code)))
        self._tell_scheduler(RunnerReady(self._key, self.actor_ref, self._slot_ctx()))

    @handle_info(RunnerProcessExited)
    def _on_process_exited(self, msg: RunnerProcessExited) -> None:
        """Let it crash: the model is gone with its process; the supervisor restarts us."""
        if msg.pid == self._pid():
            raise RunnerError(f"runner process {msg.pid} exited unexpectedly ({_exit_status(msg.returncode)})")

    @handle_call(RunnerInfo)
    def _on_info(self, msg: RunnerInfo, reply: ReplyTo) -> None:
        state = "loading" if self._model is None else "busy" if self._slot is not None else "ready"
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
        self._waiting.append(job)
        if self._slot is None:
            self._next()

    def _next(self) -> None:
        """Put the next admitted job on the context; drop those whose client left."""
        while self._slot is None and self._waiting:
            job = self._waiting.popleft()
            if _reply_of(job).done:
                self._done(job.keep_alive_s)
            elif isinstance(job, EmbedJob):
                self._embed(self._loaded(), job)
            else:
                self._begin(job)

    def _sweep_waiting(self) -> None:
        """Free the slots of admitted jobs whose client left while waiting (one per step)."""
        if any(_reply_of(job).done for job in self._waiting):
            gone = [job for job in self._waiting if _reply_of(job).done]
            self._waiting = deque(job for job in self._waiting if not _reply_of(job).done)
            for job in gone:
                self._done(job.keep_alive_s)

    def _embed(self, model: LoadedModel, job: EmbedJob) -> None:
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
        self._seq += 1
        self._slot = _Slot(seq=self._seq, job=job, load_duration_ns=time.monotonic_ns() - job.started_ns)
        job.stream.on_drain = lambda seq=self._seq: send_info(self.actor_ref, _Resume(seq))
        send_info(self.actor_ref, _Step(self._seq))

    @handle_info(_Resume)
    def _on_resume(self, msg: _Resume) -> None:
        slot = self._slot
        if slot is not None and slot.seq == msg.seq and slot.paused:
            slot.paused = False
            send_info(self.actor_ref, _Step(slot.seq))

    @handle_info(_Step)
    def _on_step(self, msg: _Step) -> None:
        slot = self._slot
        if slot is None or slot.seq != msg.seq or slot.paused:
            return
        self._sweep_waiting()
        if slot.job.stream.consumer_gone:
            self._finish(slot, cancelled=True)
            return
        if slot.generation is None and not self._start_generation(slot):
            return
        assert slot.generation is not None
        step = slot.generation.step()
        slot.pieces.append(step.text)
        slot.output, chunk = slot.output.add(step.text, done=step.done)
        if chunk is not None:
            pushed = slot.job.stream.push(chunk)
            if pushed is PushResult.CLOSED:
                self._finish(slot, cancelled=True)
                return
            slot.paused = pushed is PushResult.FULL and not step.done
        if step.done:
            self._complete(slot, step.done_reason or "stop")
        elif not slot.paused:
            send_info(self.actor_ref, _Step(slot.seq))

    def _start_generation(self, slot: _Slot) -> bool:
        """Render the prompt and start decoding; a bad prompt fails only this request."""
        model = self._loaded()
        job = slot.job
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
            slot.generation = model.start(
                CompletionRequest(prompt=slot.prompt_text, sampling=job.sampling, grammar=job.grammar)
            )
        except OllamaError as error:
            job.stream.fail(error)
            self._finish(slot, cancelled=True)
            return False
        return True

    def _complete(self, slot: _Slot, done_reason: str) -> None:
        assert slot.generation is not None
        stats = slot.generation.stats()
        context = None
        if slot.job.want_context:
            context = tuple(self._loaded().tokenize(slot.prompt_text + "".join(slot.pieces)))
        completed = Completed(
            done_reason=done_reason,
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
        self._finish(slot, cancelled=False)
        slot.job.stream.set(completed)

    def _finish(self, slot: _Slot, *, cancelled: bool) -> None:
        if slot.generation is not None and cancelled:
            slot.generation.cancel()
            structlog.get_logger().info("generation_cancelled", request_id=slot.job.request_id)
        self._slot = None
        self._done(slot.job.keep_alive_s)
        self._next()

    # ---- helpers ----
    def _slot_ctx(self) -> int:
        """The context each request sees: the model's, split over the slots."""
        return self._loaded().context_length // self._parallel

    def _pid(self) -> int | None:
        return self._model.pid if isinstance(self._model, ProcessHostedModel) else None

    def _done(self, keep_alive_s: float | None) -> None:
        self._tell_scheduler(JobDone(self._key, self.actor_ref, keep_alive_s))

    def _loaded(self) -> LoadedModel:
        if self._model is None:
            raise RunnerError("runner received work before its model was loaded")
        return self._model

    def _tell_scheduler(self, message: object) -> None:
        scheduler = self._names.whereis("scheduler")
        if scheduler is not None:
            cast(scheduler, message)


def _reply_of(job: GenerateJob | EmbedJob) -> ReplyTo:
    return job.stream if isinstance(job, GenerateJob) else job.reply


def _exit_status(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"signal: {signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal {-returncode}"
    return f"exit status {returncode}"
