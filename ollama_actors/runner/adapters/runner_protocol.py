"""The wire between a Runner and its runner process: frames, requests, replies.

One request, one reply, strictly alternating, over an anonymous socketpair that
only the parent and its one child hold. A frame is a 4-byte big-endian length
and a pickle. Pickle, not JSON: both ends are the same code and the same
interpreter, the port's values (``LoadSpec``, ``CompletionRequest``, ``Step``,
``GenerationStats``, ``EmbedResult``, and a picklable runtime factory for the
child) cross unchanged with no schema to keep in step, and there is no third
party on the channel (no listening socket, no file), so unpickling trusts only
our own child. Errors are *not* pickled as exceptions (some ``OllamaError``
subclasses take other constructor arguments): they cross as class path,
message and status, and are rebuilt only for classes of the ``OllamaError``
hierarchy.

Requests are frozen dataclasses; the child dispatches on their type.
"""

from __future__ import annotations

import importlib
import pickle
import socket
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ollama_actors.domain.errors import OllamaError, RunnerError
from ollama_actors.runner.ports import CompletionRequest, LoadSpec

__all__ = [
    "CancelGeneration",
    "ChildFault",
    "Detokenize",
    "Embed",
    "Failed",
    "Fault",
    "LoadModel",
    "MAX_FRAME",
    "ModelLoaded",
    "Ok",
    "ReadGenerationStats",
    "StartGeneration",
    "StepGeneration",
    "Tokenize",
    "as_tokens",
    "decode_error",
    "encode_error",
    "read_frame",
    "resolve_factory",
    "write_frame",
]

MAX_FRAME = 1 << 30  # a sanity bound: a longer header means a corrupt stream
_HEADER = struct.Struct("!I")


# ---- requests (parent → child) ----
@dataclass(frozen=True)
class LoadModel:
    """First request: build the runtime with ``factory()`` and load ``spec``."""

    # Any: a picklable zero-argument callable returning a ``Runtime``, or "module:attr".
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
class StartGeneration:
    request: CompletionRequest


@dataclass(frozen=True)
class StepGeneration:
    generation: int


@dataclass(frozen=True)
class CancelGeneration:
    generation: int


@dataclass(frozen=True)
class ReadGenerationStats:
    generation: int


@dataclass(frozen=True)
class Embed:
    inputs: tuple[str, ...]
    truncate: bool


# ---- replies (child → parent) ----
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
