"""The ``Runtime`` port with each model in its own process (a BEAM port for llama.cpp).

``RunnerProcessRuntime.load`` starts ``python -m ollama_actors.runner.adapters.runner_main``
with ``subprocess`` (fork+exec or posix_spawn: never a bare fork of this
multi-threaded daemon; ``close_fds`` keeps listening sockets and other runners'
channels out of it), hands it one end of a socketpair, and loads the model
there. The child runs the decode loop (``runner_main``); this side sends calls
(answered, bounded by ``call_timeout_s``) and commands (``submit``, ``cancel``,
``pause``, ``resume``: never waited on), and a reader thread hands each decode
step's events to the listener in one call.

Guarantees:

- the process ending for any reason (exception, ``abort()``, segfault, OOM
  kill, ``kill -9``) closes the channel: a call in progress raises ``RunnerError``
  at once, and a watcher thread calls the ``monitor`` callback with the pid and
  exit status, unless the exit was asked for by ``close``;
- a process that dies while loading makes ``load`` raise ``RunnerError``
  "llama runner process has terminated: <status>: <last line it wrote>", as Ollama;
- a process silent for ``call_timeout_s`` while sequences decode is wedged, and
  is killed (which the monitor then reports);
- ``close`` ends the process (SIGTERM, then SIGKILL after ``stop_timeout_s``) and
  reaps it before returning, so its memory is back when the call returns;
- llama.cpp's output (the child's stderr) never reaches the daemon's stderr: the
  watcher logs each line at debug level and keeps the last few for errors; the
  child's own JSON lines are re-logged with their fields (request ids).
"""

from __future__ import annotations

import collections
import itertools
import json
import math
import os
import queue
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import structlog

from ollama_actors.domain.errors import RunnerError
from ollama_actors.runner.adapters.runner_protocol import (
    Call,
    Cancel,
    ChildFault,
    Detokenize,
    Embed,
    EngineFault,
    Events,
    Failed,
    Fault,
    FrameDecoder,
    LoadModel,
    ModelLoaded,
    Ok,
    Pause,
    Reply,
    Resume,
    Submit,
    Tokenize,
    as_tokens,
    decode_error,
    events_from_wire,
    read_frame,
    write_frame,
)
from ollama_actors.runner.ports import (
    CompletionRequest,
    EmbedResult,
    EventPump,
    EventsListener,
    FaultListener,
    LoadSpec,
)

__all__ = [
    "RUNNER_STOPPED",
    "RunnerProcessModel",
    "RunnerProcessRuntime",
    "describe_exit",
]

DEFAULT_FACTORY = "ollama_actors.runner.adapters.llama_runtime:LlamaCppRuntime"

# Ollama's wording for a runner that died under a request (the Runner actor's
# RUNNER_CRASHED; a test keeps the two equal).
RUNNER_STOPPED = (
    "model runner has unexpectedly stopped, this may be due to resource limitations "
    "or an internal error, check ollama server logs for details"
)

ExitCallback = Callable[[int, int], None]
"""``(pid, returncode)``; a negative returncode is the signal that ended it."""


def describe_exit(returncode: int | None) -> str:
    """Go's wording for an exit status, as Ollama prints it: "exit status 1",
    "signal: killed", "signal: aborted"."""
    if returncode is None:
        return "still running"
    if returncode >= 0:
        return f"exit status {returncode}"
    try:
        name = signal.strsignal(-returncode) or f"signal {-returncode}"
    except ValueError:
        name = f"signal {-returncode}"
    return f"signal: {name.lower()}"


class RunnerProcessRuntime:
    """Loads each model in a new runner process.

    ``factory`` builds the in-process ``EngineRuntime`` inside the child: an
    importable ``"module:attr"`` (default: ``LlamaCppRuntime``, so the daemon itself
    never loads llama.cpp) or any picklable zero-argument callable (tests inject
    native faults this way). ``event_pump`` reads each process's events where they
    are consumed (the daemon passes its trio loop's: one wake-up per decode step);
    without one, a thread per process reads them. ``call_timeout_s`` bounds each call and, while
    sequences decode, the silence between two frames: a runner that stays silent
    longer is wedged and is killed.
    """

    def __init__(
        self,
        *,
        factory: Callable[[], Any] | str = DEFAULT_FACTORY,  # Any: an EngineRuntime
        load_timeout_s: float = 300.0,
        call_timeout_s: float = 600.0,
        stop_timeout_s: float = 5.0,
        event_pump: EventPump | None = None,
    ) -> None:
        self._event_pump = event_pump
        self._factory = factory
        self._load_timeout_s = load_timeout_s
        self._call_timeout_s = call_timeout_s
        self._stop_timeout_s = stop_timeout_s

    def load(self, spec: LoadSpec) -> RunnerProcessModel:
        """Start a runner process and load ``spec`` in it.

        Raises:
            RunnerError: the model did not load (the child's own error), the process
                died while loading, or it did not answer within ``load_timeout_s``.
                The process is gone when this raises.
        """
        process = _RunnerProcess.spawn(self._stop_timeout_s, self._call_timeout_s, self._event_pump)
        try:
            loaded = process.call(LoadModel(self._factory, spec), self._load_timeout_s, loading=True)
        except BaseException:
            process.close()
            raise
        if not isinstance(loaded, ModelLoaded):
            process.close()
            raise RunnerError(f"runner process answered the load with {type(loaded).__name__}")
        return RunnerProcessModel(process, loaded.context_length, self._call_timeout_s)


class RunnerProcessModel:
    """A model loaded in a runner process: the ``ModelHost`` port, plus ``pid`` and
    ``monitor`` (the ``ProcessHostedModel`` port)."""

    def __init__(self, process: _RunnerProcess, context_length: int, call_timeout_s: float) -> None:
        self._process = process
        self._context_length = context_length
        self._timeout = call_timeout_s

    @property
    def context_length(self) -> int:
        return self._context_length

    @property
    def pid(self) -> int:
        return self._process.pid

    def monitor(self, on_exit: ExitCallback) -> None:
        """Call ``on_exit(pid, returncode)`` once, from the watcher thread, if the
        process ends without ``close`` (at once if it already has)."""
        self._process.monitor(on_exit)

    def listen(self, on_events: EventsListener, on_fault: FaultListener) -> None:
        self._process.listen(on_events, on_fault)

    def tokenize(self, text: str, *, add_bos: bool = False, special: bool = True) -> list[int]:
        return list(self._process.call(Tokenize(text, add_bos, special), self._timeout))

    def detokenize(self, tokens: Sequence[int]) -> str:
        text: str = self._process.call(Detokenize(as_tokens(tokens)), self._timeout)
        return text

    def submit(self, seq: int, request: CompletionRequest, request_id: str = "") -> None:
        self._process.command(Submit(seq, request, request_id), active=seq)

    def cancel(self, seq: int) -> None:
        """Harmless once the process is gone (its memory went with it)."""
        self._process.command(Cancel(seq), inactive=seq)

    def pause(self, seq: int) -> None:
        self._process.command(Pause(seq), inactive=seq)

    def resume(self, seq: int) -> None:
        self._process.command(Resume(seq), active=seq)

    def embed(self, inputs: Sequence[str], *, truncate: bool = True) -> EmbedResult:
        result: EmbedResult = self._process.call(Embed(tuple(inputs), truncate), self._timeout)
        return result

    def close(self) -> None:
        """End the process and reap it (bounded); idempotent."""
        self._process.close()


class _Pending:
    """A call waiting for its reply (or for the channel to break)."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.outcome: Ok | Failed | Fault | None = None  # None: the channel broke


class _RunnerProcess:
    """One child process: its channel with a reader thread, its stderr watcher.

    Threads: callers write their calls under ``_write``; commands go through an
    outbox that a writer thread sends, so ``command`` never blocks its caller (the
    event pump's thread pauses and cancels sequences: a runner that stopped reading
    must not stall it). The reader thread alone reads the channel, hands replies to
    the waiting callers, and kills a child that stays silent past the step deadline
    while sequences are decoding; the events are read by the event pump (or a
    thread); the watcher reads stderr, reaps the process and reports its exit.
    """

    def __init__(self, popen: subprocess.Popen[bytes], channel: socket.socket, events: socket.socket,
                 stop_timeout_s: float, step_timeout_s: float, event_pump: EventPump | None) -> None:
        self._popen = popen
        self._channel = channel
        self._stop_timeout_s = stop_timeout_s
        self._step_timeout_s = step_timeout_s
        self._lock = threading.Lock()  # guards the fields below
        self._write = threading.Lock()  # one frame on the channel at a time
        self._closing = False
        self._broken = False
        self._exited = False
        self._on_exit: ExitCallback | None = None
        self._on_events: EventsListener | None = None
        self._on_fault: FaultListener | None = None
        self._pending: dict[int, _Pending] = {}
        self._ids = itertools.count(1)
        self._active: set[int] = set()  # sequences decoding (the step watchdog's concern)
        self._outbox: queue.SimpleQueue[object] = queue.SimpleQueue()  # commands; _STOP ends the writer
        self._last_event = time.monotonic()
        self._output: collections.deque[str] = collections.deque(maxlen=20)
        self._watcher = threading.Thread(target=self._watch, name=f"runner-process-{popen.pid}", daemon=True)
        self._reader = threading.Thread(target=self._read, name=f"runner-channel-{popen.pid}", daemon=True)
        self._watcher.start()
        self._reader.start()
        threading.Thread(target=self._write_commands, name=f"runner-commands-{popen.pid}", daemon=True).start()
        decoder = FrameDecoder()
        if event_pump is not None:  # the events are read where they are consumed
            event_pump.watch(events, decoder.feed, self._on_event_frames, lambda: None)
        else:
            threading.Thread(target=self._read_events, args=(events, decoder), daemon=True,
                             name=f"runner-events-{popen.pid}").start()

    @classmethod
    def spawn(cls, stop_timeout_s: float, step_timeout_s: float, event_pump: EventPump | None) -> _RunnerProcess:
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        events_end, child_events = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            popen = subprocess.Popen(
                [sys.executable, "-m", "ollama_actors.runner.adapters.runner_main",
                 "--fd", str(child_end.fileno()), "--events-fd", str(child_events.fileno()),
                 "--parent", str(os.getpid())],
                pass_fds=(child_end.fileno(), child_events.fileno()),
                close_fds=True,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=_child_environment(),
            )
        except OSError as error:
            parent_end.close()
            events_end.close()
            raise RunnerError(f"unable to start a runner process: {error}") from error
        finally:
            child_end.close()
            child_events.close()
        structlog.get_logger().info("runner_process_started", pid=popen.pid)
        return cls(popen, parent_end, events_end, stop_timeout_s, step_timeout_s, event_pump)

    @property
    def pid(self) -> int:
        return self._popen.pid

    def monitor(self, on_exit: ExitCallback) -> None:
        with self._lock:
            if self._closing:
                return
            if not self._exited:
                self._on_exit = on_exit
                return
        on_exit(self.pid, self._popen.returncode)

    def listen(self, on_events: EventsListener, on_fault: FaultListener) -> None:
        with self._lock:
            self._on_events, self._on_fault = on_events, on_fault

    def call(self, request: object, timeout: float, *, loading: bool = False) -> Any:  # Any: per request
        """Send ``request``, wait for the child's answer; raise its error.

        Raises:
            RunnerError: the child's ``OllamaError`` (same class), or the channel
                broke: the process died, or gave no answer within ``timeout`` (it is
                then killed, since it can no longer be trusted).
            ChildFault: an unexpected exception in the child.
        """
        call_id, pending = next(self._ids), _Pending()
        with self._lock:
            usable = not (self._broken or self._closing)
            if usable:
                self._pending[call_id] = pending
        if not usable or not self._send(Call(call_id, request)):  # type: ignore[arg-type]
            raise RunnerError(self._stopped_message(loading))
        if not pending.arrived.wait(timeout if math.isfinite(timeout) else None):
            with self._lock:
                self._pending.pop(call_id, None)
                self._broken = True
            self._kill()
            raise RunnerError(self._timeout_message(request, timeout, loading))
        return self._unwrap(pending.outcome, loading)

    def command(self, message: object, *, active: int | None = None, inactive: int | None = None) -> None:
        """Send a command without waiting; a dead channel is ignored (the exit
        watcher reports the death)."""
        with self._lock:
            if active is not None:
                self._active.add(active)
            if inactive is not None:
                self._active.discard(inactive)
        self._outbox.put(message)

    def close(self) -> None:
        """SIGTERM, then SIGKILL after the deadline; reap. Idempotent."""
        with self._lock:
            self._closing = True
            self._on_exit = self._on_events = self._on_fault = None
        self._outbox.put(_STOP)
        if self._popen.poll() is None:
            self._popen.terminate()
            try:
                self._popen.wait(self._stop_timeout_s)
            except subprocess.TimeoutExpired:
                self._kill()
        self._channel.close()
        if self._reader is not threading.current_thread():
            self._reader.join(self._stop_timeout_s)
        structlog.get_logger().info("runner_process_stopped", pid=self.pid, status=describe_exit(self._popen.returncode))

    # ---- internals ----
    def _write_commands(self) -> None:
        """Thread: send the commands in order until ``close``; a dead channel drops them."""
        while (message := self._outbox.get()) is not _STOP:
            self._send(message)

    def _send(self, frame: object) -> bool:
        with self._write:
            try:
                write_frame(self._channel, frame)
            except (OSError, ValueError):  # ValueError: the channel was closed meanwhile
                return False
        return True

    def _unwrap(self, outcome: Ok | Failed | Fault | None, loading: bool) -> Any:  # Any: per request
        if isinstance(outcome, Ok):
            return outcome.value
        if isinstance(outcome, Failed):
            raise decode_error(outcome)
        if isinstance(outcome, Fault):
            structlog.get_logger().error("runner_process_fault", pid=self.pid, traceback=outcome.traceback)
            raise ChildFault(f"runner process {self.pid}: {outcome.description}")
        raise RunnerError(self._stopped_message(loading))

    def _read(self) -> None:
        """Thread: read frames until the channel closes; then fail the waiting calls."""
        last_frame = time.monotonic()
        try:
            while True:
                if not select.select([self._channel], [], [], _WATCHDOG_TICK_S)[0]:
                    if self._wedged(last_frame):
                        return
                    continue
                frame = read_frame(self._channel)
                last_frame = time.monotonic()
                self._dispatch(frame)
        except (EOFError, OSError, ValueError):
            pass
        finally:
            with self._lock:
                self._broken = True
                pending, self._pending = list(self._pending.values()), {}
            for waiting in pending:
                waiting.arrived.set()

    def _read_events(self, sock: socket.socket, decoder: FrameDecoder) -> None:
        """Thread (when no event pump was given): read the events socket until EOF."""
        with sock:
            while True:
                try:
                    data = sock.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                frames = decoder.feed(data)
                if frames:
                    self._on_event_frames(frames)

    def _on_event_frames(self, frames: Sequence[object]) -> None:
        """Each ``Events`` frame to the listener (on the pump's thread, or ours)."""
        for frame in frames:
            if not isinstance(frame, Events):
                structlog.get_logger().warning("runner_frame_unexpected", pid=self.pid, kind=type(frame).__name__)
                continue
            events = events_from_wire(frame)
            with self._lock:
                self._last_event = time.monotonic()
                self._active.difference_update(e.seq for e in events if e.done)
                listener = self._on_events
            if listener is not None and events:
                listener(events)

    def _dispatch(self, frame: object) -> None:
        if isinstance(frame, Reply):
            with self._lock:
                pending = self._pending.pop(frame.call_id, None)
            if pending is not None:
                pending.outcome = frame.outcome
                pending.arrived.set()
        elif isinstance(frame, EngineFault):
            structlog.get_logger().error("runner_engine_fault", pid=self.pid, traceback=frame.traceback)
            with self._lock:
                on_fault = self._on_fault
            if on_fault is not None:
                on_fault(f"runner process {self.pid}: {frame.description}")
        else:
            structlog.get_logger().warning("runner_frame_unexpected", pid=self.pid, kind=type(frame).__name__)

    def _wedged(self, last_frame: float) -> bool:
        """True (and the child killed) when sequences decode but nothing came for too long."""
        with self._lock:
            active = bool(self._active) and not self._closing
            last_frame = max(last_frame, self._last_event)
        if not active or time.monotonic() - last_frame < self._step_timeout_s:
            return False
        structlog.get_logger().error("runner_process_wedged", pid=self.pid, silent_s=self._step_timeout_s)
        self._kill()
        return True

    def _kill(self) -> None:
        self._popen.kill()
        self._popen.wait()

    def _stopped_message(self, loading: bool) -> str:
        """Ollama's messages: while loading, "llama runner process has terminated:
        <status>: <last output line>"; later, "model runner has unexpectedly stopped…"."""
        returncode = self._wait_briefly()
        detail = f"llama runner process has terminated: {describe_exit(returncode)}"
        self._watcher.join(1.0)  # its last lines of output, if it wrote any
        last = self._last_output()
        if last:
            detail += f": {last}"
        return detail if loading else f"{RUNNER_STOPPED}: {detail}"

    def _timeout_message(self, request: object, timeout: float, loading: bool) -> str:
        if loading:  # Ollama's wording for OLLAMA_LOAD_TIMEOUT
            last = self._last_output()
            return "timed out waiting for llama runner to start" + (f" - {last}" if last else "")
        return f"runner process {self.pid} did not answer {type(request).__name__} within {timeout:g}s"

    def _wait_briefly(self) -> int | None:
        try:
            return self._popen.wait(1.0)  # the channel closes as the process exits
        except subprocess.TimeoutExpired:
            return None

    def _last_output(self) -> str:
        for line in reversed(self._output):
            if line.strip() and not line.startswith("{"):
                return line.strip()
        return ""

    def _watch(self) -> None:
        """Thread: log the child's output until EOF, reap it, report."""
        log = structlog.get_logger()
        assert self._popen.stderr is not None
        with self._popen.stderr as stream:
            for raw in stream:
                line = raw.decode("utf-8", errors="replace").rstrip("\n")
                self._output.append(line)
                _relog(log, self.pid, line)
        returncode = self._popen.wait()
        with self._lock:
            self._exited = True
            expected, on_exit = self._closing, self._on_exit
            self._on_exit = None
        if not expected:
            log.warning("runner_process_exited", pid=self.pid, status=describe_exit(returncode),
                        last_output=list(self._output)[-5:])
        if on_exit is not None:
            on_exit(self.pid, returncode)


_WATCHDOG_TICK_S = 1.0
_STOP = object()  # the command writer's end marker


def _relog(log: Any, pid: int, line: str) -> None:  # Any: a structlog logger
    """The child's JSON lines (``runner_main._log``) keep their fields, request ids
    included; anything else (llama.cpp's own output) is logged as text at debug."""
    if line.startswith("{"):
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if isinstance(record, dict) and isinstance(record.get("event"), str):
            event = record.pop("event")
            log.info(f"runner_{event}", pid=pid, **{str(k): v for k, v in record.items()})
            return
    log.debug("runner_output", pid=pid, line=line)


def _child_environment() -> dict[str, str]:
    """The daemon's environment, with its import path, so the child imports the same
    code (and a test's runtime factory) whatever its working directory."""
    env = dict(os.environ)
    paths = [p for p in sys.path if p]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env
