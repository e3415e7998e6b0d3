"""The ``Runtime`` port with each model in its own process (a BEAM port for llama.cpp).

``RunnerProcessRuntime.load`` starts ``python -m ollama_actors.runner.adapters.runner_main``
with ``subprocess`` (fork+exec or posix_spawn: never a bare fork of this
multi-threaded daemon; ``close_fds`` keeps listening sockets and other runners'
channels out of it), hands it one end of a socketpair, and loads the model
there. Every port call is then one request and one reply on that channel
(``runner_protocol``), so the Runner calling it blocks for one decode step at
most, bounded by ``call_timeout_s``.

Guarantees:

- the process ending for any reason (exception, ``abort()``, segfault, OOM
  kill, ``kill -9``) closes the channel: a call in progress raises ``RunnerError``
  at once, and a watcher thread calls the ``monitor`` callback with the pid and
  exit status, unless the exit was asked for by ``close``;
- a process that dies while loading makes ``load`` raise ``RunnerError``
  "llama runner process has terminated: <status>: <last line it wrote>", as Ollama;
- ``close`` ends the process (SIGTERM, then SIGKILL after ``stop_timeout_s``) and
  reaps it before returning, so its memory is back when the call returns;
- llama.cpp's output (the child's stderr) never reaches the daemon's stderr: a
  reader thread logs each line at debug level and keeps the last few for errors.

Threads: the model and its generations are driven by one thread (the Runner's);
the watcher thread only reads stderr, reaps the process and calls the callback.
"""

from __future__ import annotations

import collections
import math
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

import structlog

from ollama_actors.domain.errors import RunnerError
from ollama_actors.runner.adapters.runner_protocol import (
    CancelGeneration,
    ChildFault,
    Detokenize,
    Embed,
    Failed,
    Fault,
    LoadModel,
    ModelLoaded,
    Ok,
    ReadGenerationStats,
    StartGeneration,
    StepGeneration,
    Tokenize,
    as_tokens,
    decode_error,
    read_frame,
    write_frame,
)
from ollama_actors.runner.ports import (
    CompletionRequest,
    EmbedResult,
    GenerationStats,
    LoadSpec,
    Step,
)

__all__ = [
    "RUNNER_STOPPED",
    "RunnerProcessGeneration",
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

    ``factory`` builds the in-process runtime inside the child: an importable
    ``"module:attr"`` (default: ``LlamaCppRuntime``, so the daemon itself never
    loads llama.cpp) or any picklable zero-argument callable (tests inject native
    faults this way).
    """

    def __init__(
        self,
        *,
        factory: Callable[[], Any] | str = DEFAULT_FACTORY,  # Any: a Runtime
        load_timeout_s: float = 300.0,
        call_timeout_s: float = 600.0,
        stop_timeout_s: float = 5.0,
    ) -> None:
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
        process = _RunnerProcess.spawn(self._stop_timeout_s)
        try:
            loaded = process.request(LoadModel(self._factory, spec), self._load_timeout_s, loading=True)
        except BaseException:
            process.close()
            raise
        if not isinstance(loaded, ModelLoaded):
            process.close()
            raise RunnerError(f"runner process answered the load with {type(loaded).__name__}")
        return RunnerProcessModel(process, loaded.context_length, self._call_timeout_s)


class RunnerProcessModel:
    """A model loaded in a runner process: the ``LoadedModel`` port, plus ``pid`` and
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

    def tokenize(self, text: str, *, add_bos: bool = False, special: bool = True) -> list[int]:
        tokens = self._process.request(Tokenize(text, add_bos, special), self._timeout)
        return list(tokens)

    def detokenize(self, tokens: Sequence[int]) -> str:
        text: str = self._process.request(Detokenize(as_tokens(tokens)), self._timeout)
        return text

    def start(self, request: CompletionRequest) -> RunnerProcessGeneration:
        gid: int = self._process.request(StartGeneration(request), self._timeout)
        return RunnerProcessGeneration(self._process, gid, self._timeout)

    def embed(self, inputs: Sequence[str], *, truncate: bool = True) -> EmbedResult:
        result: EmbedResult = self._process.request(Embed(tuple(inputs), truncate), self._timeout)
        return result

    def close(self) -> None:
        """End the process and reap it (bounded); idempotent."""
        self._process.close()


class RunnerProcessGeneration:
    """One generation in the runner process; each ``step`` is one round trip."""

    def __init__(self, process: _RunnerProcess, gid: int, timeout: float) -> None:
        self._process = process
        self._gid = gid
        self._timeout = timeout
        self._cancelled = False

    def step(self) -> Step:
        step: Step = self._process.request(StepGeneration(self._gid), self._timeout)
        return step

    def cancel(self) -> None:
        """Idempotent, and harmless once the process is gone (its memory went with it)."""
        if self._cancelled:
            return
        self._cancelled = True
        if self._process.usable:
            try:
                self._process.request(CancelGeneration(self._gid), self._timeout)
            except RunnerError:
                pass  # the process died meanwhile: the watcher reports that

    def stats(self) -> GenerationStats:
        stats: GenerationStats = self._process.request(ReadGenerationStats(self._gid), self._timeout)
        return stats


class _RunnerProcess:
    """One child process: its channel, its stderr reader and exit watcher."""

    def __init__(self, popen: subprocess.Popen[bytes], channel: socket.socket, stop_timeout_s: float) -> None:
        self._popen = popen
        self._channel = channel
        self._stop_timeout_s = stop_timeout_s
        self._lock = threading.Lock()  # guards _closing, _on_exit, _exited
        self._io = threading.Lock()  # one request on the channel at a time
        self._closing = False
        self._broken = False
        self._exited = False
        self._on_exit: ExitCallback | None = None
        self._output: collections.deque[str] = collections.deque(maxlen=20)
        self._watcher = threading.Thread(
            target=self._watch, name=f"runner-process-{popen.pid}", daemon=True
        )
        self._watcher.start()

    @classmethod
    def spawn(cls, stop_timeout_s: float) -> _RunnerProcess:
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            popen = subprocess.Popen(
                [sys.executable, "-m", "ollama_actors.runner.adapters.runner_main",
                 "--fd", str(child_end.fileno()), "--parent", str(os.getpid())],
                pass_fds=(child_end.fileno(),),
                close_fds=True,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=_child_environment(),
            )
        except OSError as error:
            parent_end.close()
            raise RunnerError(f"unable to start a runner process: {error}") from error
        finally:
            child_end.close()
        structlog.get_logger().info("runner_process_started", pid=popen.pid)
        return cls(popen, parent_end, stop_timeout_s)

    @property
    def pid(self) -> int:
        return self._popen.pid

    @property
    def usable(self) -> bool:
        return not (self._broken or self._closing) and self._popen.poll() is None

    def monitor(self, on_exit: ExitCallback) -> None:
        with self._lock:
            if self._closing:
                return
            if not self._exited:
                self._on_exit = on_exit
                return
        on_exit(self.pid, self._popen.returncode)

    def request(self, message: object, timeout: float, *, loading: bool = False) -> Any:  # Any: per request
        """Send ``message``, return the child's answer; raise its error.

        Raises:
            RunnerError: the child's ``OllamaError`` (same class), or the channel
                broke: the process died, or gave no answer within ``timeout`` (it is
                then killed, since it can no longer be trusted).
            ChildFault: an unexpected exception in the child.
        """
        with self._io:
            if self._broken or self._closing:
                raise RunnerError(self._stopped_message(loading))
            try:
                self._channel.settimeout(timeout if math.isfinite(timeout) else None)
                write_frame(self._channel, message)
                reply = read_frame(self._channel)
            except TimeoutError:
                self._broken = True
                self._kill()
                raise RunnerError(self._timeout_message(message, timeout, loading)) from None
            except (EOFError, OSError, ValueError) as error:  # ValueError: a channel closed meanwhile
                self._broken = True
                raise RunnerError(self._stopped_message(loading)) from error
        if isinstance(reply, Ok):
            return reply.value
        if isinstance(reply, Failed):
            raise decode_error(reply)
        if isinstance(reply, Fault):
            structlog.get_logger().error("runner_process_fault", pid=self.pid, traceback=reply.traceback)
            raise ChildFault(f"runner process {self.pid}: {reply.description}")
        raise RunnerError(f"runner process {self.pid} sent an unexpected {type(reply).__name__}")

    def close(self) -> None:
        """SIGTERM, then SIGKILL after the deadline; reap. Idempotent."""
        with self._lock:
            self._closing = True
            self._on_exit = None
        if self._popen.poll() is None:
            self._popen.terminate()
            try:
                self._popen.wait(self._stop_timeout_s)
            except subprocess.TimeoutExpired:
                self._kill()
        self._channel.close()
        structlog.get_logger().info("runner_process_stopped", pid=self.pid, status=describe_exit(self._popen.returncode))

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

    def _timeout_message(self, message: object, timeout: float, loading: bool) -> str:
        if loading:  # Ollama's wording for OLLAMA_LOAD_TIMEOUT
            last = self._last_output()
            return "timed out waiting for llama runner to start" + (f" - {last}" if last else "")
        return f"runner process {self.pid} did not answer {type(message).__name__} within {timeout:g}s"

    def _wait_briefly(self) -> int | None:
        try:
            return self._popen.wait(1.0)  # the channel closes as the process exits
        except subprocess.TimeoutExpired:
            return None

    def _last_output(self) -> str:
        for line in reversed(self._output):
            if line.strip():
                return line.strip()
        return ""

    def _watch(self) -> None:
        """Thread: log the child's output at debug level until EOF, reap it, report."""
        log = structlog.get_logger()
        assert self._popen.stderr is not None
        with self._popen.stderr as stream:
            for raw in stream:
                line = raw.decode("utf-8", errors="replace").rstrip("\n")
                self._output.append(line)
                log.debug("runner_output", pid=self.pid, line=line)
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


def _child_environment() -> dict[str, str]:
    """The daemon's environment, with its import path, so the child imports the same
    code (and a test's runtime factory) whatever its working directory."""
    env = dict(os.environ)
    paths = [p for p in sys.path if p]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env
