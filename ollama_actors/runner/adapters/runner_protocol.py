"""The wire between a Runner and its runner process: frames, requests, replies.

Over an anonymous socketpair that only the parent and its one child hold, the
parent sends calls (``Call``: load, tokenize, detokenize, embed; each answered
by a ``Reply`` with its id) and commands (``Submit``, ``Cancel``, ``Pause``,
``Resume``: never answered). The child sends replies and, while it decodes, one
``Events`` frame per decode step that produced something, so the parent wakes
once per step whatever the number of sequences. A frame is a 4-byte big-endian length
and a pickle. Pickle, not JSON: both ends are the same code and the same
interpreter, the port's values (``LoadSpec``, ``CompletionRequest``, ``Step``,
``GenerationStats``, ``EmbedResult``, and a picklable runtime factory for the
child) cross unchanged with no schema to keep in step, and there is no third
party on the channel (no listening socket, no file), so unpickling trusts only
our own child. Errors are *not* pickled as exceptions (some ``OllamaError``
subclasses take other constructor arguments): they cross as class path,
message and status, and are rebuilt only for classes of the ``OllamaError``
hierarchy.

Messages are frozen dataclasses; each side dispatches on their type.
"""

from __future__ import annotations

import importlib
import pickle
import socket
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ollama_actors.domain.errors import OllamaError, RunnerError
from ollama_actors.runner.ports import CompletionRequest, LoadSpec, SeqEvent

__all__ = [
    "Call",
    "Cancel",
    "ChildFault",
    "Detokenize",
    "Embed",
    "EngineFault",
    "Events",
    "Failed",
    "FrameDecoder",
    "Fault",
    "LoadModel",
    "MAX_FRAME",
    "ModelLoaded",
    "Ok",
    "Pause",
    "Reply",
    "Resume",
    "Submit",
    "Tokenize",
    "as_tokens",
    "decode_error",
    "encode_error",
    "events_from_wire",
    "events_to_wire",
    "read_frame",
    "resolve_factory",
    "write_frame",
]

MAX_FRAME = 1 << 30  # a sanity bound: a longer header means a corrupt stream
_HEADER = struct.Struct("!I")


# ---- calls (parent → child, answered by a ``Reply`` with the same id) ----
@dataclass(frozen=True)
class LoadModel:
    """First call: build the runtime with ``factory()`` and load ``spec``."""

    # Any: a picklable zero-argument callable returning an ``EngineRuntime``, or "module:attr".
    factory: Callable[[], Any] | str
    spec: LoadSpec


@dataclass(frozen=True)
class Tokenize:
    text: str
    add_bos: bool
    special: bool


@dataclass(frozen=True)
class Detokenize:
    tokens: tuple[int, ...]


@dataclass(frozen=True)
class Embed:
    inputs: tuple[str, ...]
    truncate: bool


@dataclass(frozen=True)
class Call:
    call_id: int
    request: LoadModel | Tokenize | Detokenize | Embed


# ---- commands (parent → child, never answered: results come as ``Events``) ----
@dataclass(frozen=True)
class Submit:
    seq: int
    request: CompletionRequest
    request_id: str = ""  # written into the child's log lines about this sequence


@dataclass(frozen=True)
class Cancel:
    seq: int


@dataclass(frozen=True)
class Pause:
    seq: int


@dataclass(frozen=True)
class Resume:
    seq: int


# ---- child → parent ----
@dataclass(frozen=True)
class ModelLoaded:
    context_length: int


@dataclass(frozen=True)
class Ok:
    value: Any  # Any: the reply type depends on the request


@dataclass(frozen=True)
class Failed:
    """An expected failure (an ``OllamaError``) raised in the child."""

    module: str
    qualname: str
    message: str
    status: int


@dataclass(frozen=True)
class Fault:
    """An unexpected exception in the child (a bug, or llama-cpp-python's own)."""

    description: str
    traceback: str


@dataclass(frozen=True)
class Reply:
    call_id: int
    outcome: Ok | Failed | Fault


@dataclass(frozen=True)
class Events:
    """One decode step's events, in one frame. An event the engine refused has its
    ``error`` taken out and sent, encoded, in ``failures`` under its sequence id."""

    events: tuple[SeqEvent, ...]
    failures: tuple[tuple[int, Failed], ...] = ()


@dataclass(frozen=True)
class EngineFault:
    """The engine failed while decoding; the child exits right after sending it."""

    description: str
    traceback: str


def events_to_wire(events: Sequence[SeqEvent]) -> Events:
    plain, failures = [], []
    for event in events:
        if event.error is not None:
            failures.append((event.seq, encode_error(event.error)))
            event = replace(event, error=None)
        plain.append(event)
    return Events(tuple(plain), tuple(failures))


def events_from_wire(frame: Events) -> list[SeqEvent]:
    if not frame.failures:
        return list(frame.events)
    failed = dict(frame.failures)
    return [
        replace(e, error=decode_error(failed[e.seq])) if e.seq in failed else e for e in frame.events
    ]


class ChildFault(RuntimeError):
    """Raised in the parent for a ``Fault``: not an ``OllamaError``, so the Runner
    crashes on it exactly as it would had the runtime run in its own thread."""


def encode_error(error: OllamaError) -> Failed:
    cls = type(error)
    return Failed(cls.__module__, cls.__qualname__, error.message, error.status)


def decode_error(failed: Failed) -> OllamaError:
    """The ``OllamaError`` the child raised, same class when it is one of ours,
    else a ``RunnerError`` with its message and status."""
    cls: object = None
    if failed.module.startswith("ollama_actors.") and "." not in failed.qualname:
        try:
            cls = getattr(importlib.import_module(failed.module), failed.qualname, None)
        except ImportError:
            cls = None
    if not (isinstance(cls, type) and issubclass(cls, OllamaError)):
        return RunnerError(failed.message, status=failed.status)
    error = cls.__new__(cls)
    OllamaError.__init__(error, failed.message, status=failed.status)
    return error


# ---- frames ----
def write_frame(sock: socket.socket, value: object) -> None:
    """Send one frame. Raises ``OSError`` when the peer is gone."""
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(_HEADER.pack(len(data)) + data)


def read_frame(sock: socket.socket) -> Any:  # Any: whatever the peer sent
    """Receive one frame. Raises ``EOFError`` when the peer closed the channel
    (it exited), ``TimeoutError`` past the socket's timeout, ``OSError``."""
    (size,) = _HEADER.unpack(_read_exact(sock, _HEADER.size))
    if size > MAX_FRAME:
        raise EOFError(f"frame of {size} bytes: the stream is corrupt")
    return pickle.loads(_read_exact(sock, size))


class FrameDecoder:
    """Frames out of bytes as they arrive, for a reader that must not block (an event
    loop watching the socket)."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Any]:  # Any: whatever the peer sent
        """Every frame ``data`` completes, in order.

        Raises:
            EOFError: a header announces more than ``MAX_FRAME`` (a corrupt stream).
        """
        self._buffer += data
        frames, start = [], 0
        while len(self._buffer) - start >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self._buffer, start)
            if size > MAX_FRAME:
                raise EOFError(f"frame of {size} bytes: the stream is corrupt")
            end = start + _HEADER.size + size
            if end > len(self._buffer):
                break
            frames.append(pickle.loads(self._buffer[start + _HEADER.size : end]))
            start = end
        del self._buffer[:start]
        return frames


def _read_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise EOFError("the runner channel closed")
        got += k
    return bytes(buf)


def resolve_factory(factory: Callable[[], Any] | str) -> Callable[[], Any]:
    """``"module:attr"`` → that attribute; a callable as it is."""
    if callable(factory):
        return factory
    module, _, attr = factory.partition(":")
    target: Callable[[], Any] = getattr(importlib.import_module(module), attr)
    return target


def as_tokens(tokens: Sequence[int]) -> tuple[int, ...]:
    return tuple(int(t) for t in tokens)
