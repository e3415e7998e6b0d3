"""The runner process: ``python -m ollama_actors.runner.adapters.runner_main --fd N``.

Hosts one model of an in-process ``Runtime`` (llama-cpp-python by default) and
serves the requests of ``runner_protocol`` on the inherited socket ``N``, one at
a time, until the parent closes the channel or ends the process. Whatever
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
import itertools
import os
import signal
import socket
import sys
import traceback
from collections.abc import Callable
from typing import Any

from ollama_actors.domain.errors import OllamaError, RunnerError
from ollama_actors.runner.adapters.runner_protocol import (
    CancelGeneration,
    Detokenize,
    Embed,
    Fault,
    LoadModel,
    ModelLoaded,
    Ok,
    ReadGenerationStats,
    StartGeneration,
    StepGeneration,
    Tokenize,
    encode_error,
    read_frame,
    resolve_factory,
    write_frame,
)
from ollama_actors.runner.ports import Generation, LoadedModel

__all__ = ["main", "serve_channel"]

_PR_SET_PDEATHSIG = 1


class _Session:
    """The one model this process hosts and its generations, by id."""

    def __init__(self) -> None:
        self._model: LoadedModel | None = None
        self._generations: dict[int, Generation] = {}
        self._ids = itertools.count(1)
        self._table: dict[type, Callable[[Any], object]] = {
            LoadModel: self._load,
            Tokenize: lambda r: self._loaded().tokenize(r.text, add_bos=r.add_bos, special=r.special),
            Detokenize: lambda r: self._loaded().detokenize(r.tokens),
            StartGeneration: self._start,
            StepGeneration: lambda r: self._generation(r.generation).step(),
            CancelGeneration: self._cancel,
            ReadGenerationStats: lambda r: self._generation(r.generation).stats(),
            Embed: lambda r: self._loaded().embed(r.inputs, truncate=r.truncate),
        }

    def handle(self, request: object) -> object:
        handler = self._table.get(type(request))
        if handler is None:
            raise RunnerError(f"unknown runner request {type(request).__name__}")
        return handler(request)

    def _load(self, request: LoadModel) -> ModelLoaded:
        if self._model is not None:
            raise RunnerError("this runner process already holds a model")
        runtime = resolve_factory(request.factory)()
        self._model = runtime.load(request.spec)
        return ModelLoaded(context_length=self._model.context_length)

    def _start(self, request: StartGeneration) -> int:
        generation = self._loaded().start(request.request)
        gid = next(self._ids)
        self._generations = {gid: generation}  # one live generation per model (the port's rule)
        return gid

    def _cancel(self, request: CancelGeneration) -> None:
        generation = self._generations.pop(request.generation, None)
        if generation is not None:
            generation.cancel()

    def _generation(self, gid: int) -> Generation:
        generation = self._generations.get(gid)
        if generation is None:
            raise RunnerError(f"no generation {gid} in this runner process")
        return generation

    def _loaded(self) -> LoadedModel:
        if self._model is None:
            raise RunnerError("runner process received work before its model was loaded")
        return self._model


def serve_channel(sock: socket.socket) -> int:
    """Answer requests until the parent closes the channel; 0 then."""
    session = _Session()
    while True:
        try:
            request = read_frame(sock)
        except EOFError:
            return 0
        try:
            reply: object = Ok(session.handle(request))
        except OllamaError as error:
            reply = encode_error(error)
        except Exception as error:  # reported to the parent, whose Runner crashes on it
            reply = Fault(f"{type(error).__name__}: {error}", traceback.format_exc())
        try:
            write_frame(sock, reply)
        except OSError:  # the parent went away
            return 0


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
    parser.add_argument("--parent", type=int, required=True, help="pid of the daemon")
    args = parser.parse_args(argv)
    _die_with_parent(args.parent)
    with socket.socket(fileno=args.fd) as sock:
        return serve_channel(sock)


if __name__ == "__main__":
    sys.exit(main())
