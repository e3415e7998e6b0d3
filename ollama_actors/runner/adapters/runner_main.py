"""The runner process: ``python -m ollama_actors.runner.adapters.runner_main --fd N --events-fd M``.

Hosts one ``Engine`` (llama-cpp-python's by default) and runs its decode loop:
while some sequence is active it decodes step after step, reading the parent's
commands between steps (never blocking), and writes one ``Events`` frame per
step; when idle it blocks on the channel. Calls (tokenize, embed…) are
answered between steps too. It ends when the parent closes the channel or ends
the process. Whatever
llama.cpp writes goes to fd 2, which the parent reads as a pipe and logs at
debug level; stdout is /dev/null. Native faults (abort, segfault, OOM kill) end
this process and nothing else: the parent sees the channel close and the exit
status.

This process ignores SIGINT (Ctrl-C in the daemon's terminal is the daemon's to
handle; it then ends its runners) and, on Linux, asks for SIGKILL when its
parent dies. Linux's "parent" there is the thread that started the process,
the Runner actor's, which is right: the process belongs to that actor, and
neither outlives the daemon.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import os
import select
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from ollama_actors.domain.errors import OllamaError, RunnerError
from ollama_actors.runner.adapters.runner_protocol import (
    Call,
    Cancel,
    Detokenize,
    Embed,
    EngineFault,
    Fault,
    LoadModel,
    ModelLoaded,
    Ok,
    Pause,
    Reply,
    Resume,
    Submit,
    Tokenize,
    encode_error,
    events_to_wire,
    read_frame,
    resolve_factory,
    write_frame,
)
from ollama_actors.runner.ports import Engine, SeqEvent

__all__ = ["main", "serve_channel"]

_PR_SET_PDEATHSIG = 1
HEARTBEAT_S = 1.0  # while decoding, a frame at least this often (the parent's step watchdog)


class _EngineHost:
    """The one engine this process hosts, its channel, and the decode loop."""

    def __init__(self, sock: socket.socket, events: socket.socket) -> None:
        self._sock = sock
        self._events = events  # where Events frames go
        self._engine: Engine | None = None
        self._request_ids: dict[int, str] = {}
        self._outbox: list[SeqEvent] = []  # refusals of this round, sent with the step's events
        self._last_frame = time.monotonic()
        self._calls: dict[type, Callable[[Any], object]] = {
            LoadModel: self._load,
            Tokenize: lambda r: self._loaded().tokenize(r.text, add_bos=r.add_bos, special=r.special),
            Detokenize: lambda r: self._loaded().detokenize(r.tokens),
            Embed: lambda r: self._loaded().embed(r.inputs, truncate=r.truncate),
        }

    def serve(self) -> int:
        """Decode while there is work, read commands between steps; 0 when the parent
        closes the channel, 1 after an engine fault."""
        while True:
            try:
                self._read_commands(block=not self._busy())
                events = self._outbox + (self._loaded().step() if self._busy() else [])
            except EOFError:
                return 0
            except Exception as error:  # the engine's state is suspect: report and end
                self._send(EngineFault(f"{type(error).__name__}: {error}", traceback.format_exc()))
                return 1
            self._outbox = []
            if events or (self._busy() and time.monotonic() - self._last_frame > HEARTBEAT_S):
                self._log_finished(events)
                if not self._send(events_to_wire(events), self._events):
                    return 0

    def _busy(self) -> bool:
        return self._engine is not None and self._engine.busy

    def _read_commands(self, *, block: bool) -> None:
        """Handle every frame waiting (at least one when ``block``)."""
        if block:
            self._handle(read_frame(self._sock))
        while select.select([self._sock], [], [], 0)[0]:
            self._handle(read_frame(self._sock))

    def _handle(self, frame: object) -> None:
        if isinstance(frame, Call):
            self._send(Reply(frame.call_id, self._answer(frame.request)))
        elif isinstance(frame, Submit):
            self._submit(frame)
        elif isinstance(frame, Cancel):
            if self._request_ids.pop(frame.seq, None) is not None:
                _log("sequence_cancelled", seq=frame.seq)
            self._loaded().cancel(frame.seq)
        elif isinstance(frame, Pause):
            self._loaded().pause(frame.seq)
        elif isinstance(frame, Resume):
            self._loaded().resume(frame.seq)
        else:
            raise RunnerError(f"unknown runner message {type(frame).__name__}")

    def _answer(self, request: object) -> Ok | Any:
        handler = self._calls.get(type(request))
        try:
            if handler is None:
                raise RunnerError(f"unknown runner request {type(request).__name__}")
            return Ok(handler(request))
        except OllamaError as error:
            return encode_error(error)
        except Exception as error:  # reported to the parent, whose Runner crashes on it
            return Fault(f"{type(error).__name__}: {error}", traceback.format_exc())

    def _submit(self, frame: Submit) -> None:
        try:
            self._loaded().submit(frame.seq, frame.request)
        except OllamaError as error:
            self._outbox.append(SeqEvent(frame.seq, done=True, error=error))
            return
        self._request_ids[frame.seq] = frame.request_id
        _log("sequence_submitted", seq=frame.seq, request_id=frame.request_id)

    def _log_finished(self, events: list[SeqEvent]) -> None:
        for event in events:
            if event.done and event.stats is not None:
                _log("sequence_finished", seq=event.seq, request_id=self._request_ids.pop(event.seq, ""),
                     done_reason=event.done_reason, prompt_eval_count=event.stats.prompt_eval_count,
                     eval_count=event.stats.eval_count)

    def _load(self, request: LoadModel) -> ModelLoaded:
        if self._engine is not None:
            raise RunnerError("this runner process already holds a model")
        runtime = resolve_factory(request.factory)()
        self._engine = runtime.load(request.spec)
        return ModelLoaded(context_length=self._engine.context_length)

    def _loaded(self) -> Engine:
        if self._engine is None:
            raise RunnerError("runner process received work before its model was loaded")
        return self._engine

    def _send(self, frame: object, sock: socket.socket | None = None) -> bool:
        try:
            write_frame(sock or self._sock, frame)
        except OSError:  # the parent went away
            return False
        self._last_frame = time.monotonic()
        return True


def _log(event: str, **fields: object) -> None:
    """One JSON line on stderr: the parent re-logs it with these fields (request ids
    travel this way into the daemon's log)."""
    print(json.dumps({"event": event, **fields}), file=sys.stderr, flush=True)


def serve_channel(sock: socket.socket, events: socket.socket) -> int:
    """Serve the parent until it closes the channel (0), or the engine fails (1).
    ``events`` carries the ``Events`` frames (the parent reads them elsewhere than
    the replies)."""
    return _EngineHost(sock, events).serve()


def _die_with_parent(parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="runner_main")
    parser.add_argument("--fd", type=int, required=True, help="inherited socket of the runner channel")
    parser.add_argument("--events-fd", type=int, required=True, help="inherited socket for Events frames")
    parser.add_argument("--parent", type=int, required=True, help="pid of the daemon")
    args = parser.parse_args(argv)
    _die_with_parent(args.parent)
    with socket.socket(fileno=args.fd) as sock, socket.socket(fileno=args.events_fd) as events:
        return serve_channel(sock, events)


if __name__ == "__main__":
    sys.exit(main())
