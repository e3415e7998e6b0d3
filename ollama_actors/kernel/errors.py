"""Errors the actor kernel raises or hands to replies; all inside ``OllamaError``.

They sit in the project's one hierarchy (``domain.errors``) because some reach
clients: a request held by a crashed actor is failed with ``ActorCrashedError``
and the edge renders it as a 500 like any other error.

    OllamaError (500)                       domain.errors
    ├── StartError (500)                    an actor's init() failed; ``cause`` holds why
    │   └── StartTimeoutError (500)         init() did not finish within start_timeout
    ├── ActorCrashedError (500)             what held replies get when their actor crashes
    ├── UnknownMessageError (500)           a call or cast no handler matches (crashes)
    ├── ForbiddenExitError (500)            SystemExit/KeyboardInterrupt raised in an actor
    ├── RestartIntensityError (500)         a supervisor gave up: too many restarts
    ├── ShutdownTimeoutError (500)          a tree did not stop within its deadline
    ├── DuplicateChildError (409)           StartChild with an id already present
    └── NotFoundError (404)                 domain.errors
        └── ChildNotFoundError (404)        TerminateChild with an unknown id
"""

from __future__ import annotations

from ollama_actors.domain.errors import NotFoundError, OllamaError

__all__ = [
    "ActorCrashedError",
    "ChildNotFoundError",
    "DuplicateChildError",
    "ForbiddenExitError",
    "RestartIntensityError",
    "ShutdownTimeoutError",
    "StartError",
    "StartTimeoutError",
    "UnknownMessageError",
]


class StartError(OllamaError):
    """An actor could not be started; ``cause`` is the exception its init() raised.

    Raised by ``GenServer.start_link`` in the starter's thread, so a supervisor
    (or the daemon) can decide what a failed start means.
    """

    def __init__(self, message: str, *, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause


class StartTimeoutError(StartError):
    """init() did not acknowledge within the class's ``start_timeout``.

    The actor is abandoned, not killed (threads cannot be): if its init() ever
    finishes, the actor stops itself without notifying anyone.
    """


class ActorCrashedError(OllamaError):
    """Default error given to every reply a crashed actor still held."""


class UnknownMessageError(OllamaError):
    """A call or cast whose type has no handler: a programming error, so a crash (OTP)."""


class ForbiddenExitError(OllamaError):
    """SystemExit/KeyboardInterrupt raised inside an actor, turned into an ordinary crash.

    pykka would otherwise stop every actor in the process; the kernel confines the
    failure to the one actor and lets its supervisor decide.
    """


class RestartIntensityError(OllamaError):
    """A supervisor saw more than ``intensity`` restarts within ``period`` and gave up."""


class ShutdownTimeoutError(OllamaError):
    """An ordered shutdown did not finish within its deadline."""


class DuplicateChildError(OllamaError):
    """A dynamic child was started with an id the supervisor already has."""

    status = 409


class ChildNotFoundError(NotFoundError):
    """A supervisor was asked about a child id it does not have."""
