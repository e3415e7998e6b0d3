"""GenServer: the base of every actor, OTP's gen_server built on ``pykka.ThreadingActor``.

pykka gives a thread, a mailbox and a stop message, but a crash in ``on_start``
stops the actor silently, ``ask`` turns crashes into return values and
``SystemExit`` in any actor stops them all. This module adds what OTP has:

- an acknowledged start: ``start_link`` blocks until ``init()`` ran in the actor's
  thread and raises ``StartError`` if it failed (the actor is stopped first);
- dispatch tables keyed by message type, declared with ``@handle_call``,
  ``@handle_cast`` and ``@handle_info`` next to the handlers;
- crash semantics: an exception escaping a handler runs ``terminate(CRASH)``, fails
  every reply the actor holds and every call still in its mailbox, then notifies
  its ``Link`` (its supervisor), which decides what happens next;
- ``SystemExit``/``KeyboardInterrupt`` confined to the one actor (as a crash);
- the sender's trace context (request id, span) bound while a message is handled
  (``kernel.trace``), so an actor's log lines name the request they serve.

Invariants: the link of an actor whose init() succeeded is notified exactly once,
after ``terminate``; an actor never exits leaving a held reply unsettled.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType, TracebackType
from typing import Any, ClassVar, Protocol, Self, TypeVar

import pykka
import structlog

from ollama_actors.domain.errors import OllamaError, ServiceUnavailableError
from ollama_actors.kernel.errors import (
    ActorCrashedError,
    ForbiddenExitError,
    StartError,
    StartTimeoutError,
    UnknownMessageError,
)
from ollama_actors.kernel.link import Link, SupervisorLink
from ollama_actors.kernel.messages import Call, Cast, ExitKind, ExitReason, Info
from ollama_actors.kernel.trace import handling

__all__ = ["GenServer", "Holdable", "handle_call", "handle_cast", "handle_info"]

F = TypeVar("F", bound=Callable[..., None])

_HANDLES = "__kernel_handles__"


class Holdable(Protocol):
    """Anything an actor must settle before it dies: replies, token streams."""

    @property
    def done(self) -> bool: ...

    def fail(self, error: BaseException) -> None: ...


class _Kind(Enum):
    CALL = "call"
    CAST = "cast"
    INFO = "info"


def _mark(kind: _Kind, message_type: type) -> Callable[[F], F]:
    if not isinstance(message_type, type):
        raise TypeError(f"handle_{kind.value} needs a message type, got {message_type!r}")

    def decorate(fn: F) -> F:
        marks = getattr(fn, _HANDLES, ())
        setattr(fn, _HANDLES, (*marks, (kind, message_type)))
        return fn

    return decorate


def handle_call(message_type: type) -> Callable[[F], F]:
    """Route calls carrying ``message_type`` (or a subclass) to the decorated
    ``(self, msg, reply: ReplyTo) -> None``; it must settle ``reply`` now or later."""
    return _mark(_Kind.CALL, message_type)


def handle_cast(message_type: type) -> Callable[[F], F]:
    """Route casts carrying ``message_type`` (or a subclass) to ``(self, msg) -> None``."""
    return _mark(_Kind.CAST, message_type)


def handle_info(message_type: type) -> Callable[[F], F]:
    """Route info messages (timers, child exits, replies) of ``message_type`` to
    ``(self, msg) -> None``."""
    return _mark(_Kind.INFO, message_type)


def _own_table(cls: type) -> dict[_Kind, dict[type, str]]:
    """Handlers declared in ``cls`` itself, by kind and message type → method name.

    Storing names rather than functions lets a subclass override a handler by
    redefining the method without repeating the decorator.
    """
    table: dict[_Kind, dict[type, str]] = {kind: {} for kind in _Kind}
    for name, attr in vars(cls).items():
        for kind, message_type in getattr(attr, _HANDLES, ()):
            if message_type in table[kind]:
                raise TypeError(
                    f"{cls.__name__}: two handle_{kind.value} for {message_type.__name__}"
                )
            table[kind][message_type] = name
    return table


def _merged_table(cls: type) -> MappingProxyType[_Kind, MappingProxyType[type, str]]:
    merged: dict[_Kind, dict[type, str]] = {kind: {} for kind in _Kind}
    for klass in reversed(cls.__mro__):
        own = vars(klass).get("_kernel_own_table")
        for kind, routes in (own or {}).items():
            merged[kind].update(routes)
    return MappingProxyType({kind: MappingProxyType(r) for kind, r in merged.items()})


class _Phase(Enum):
    STARTING = "starting"
    RUNNING = "running"
    FAILED_INIT = "failed_init"
    EXITED = "exited"


class _Outcome(Enum):
    STARTED = "started"
    FAILED = "failed"
    ABANDONED = "abandoned"  # the starter stopped waiting


class _StartAck:
    """The handshake between ``start_link`` (waiting) and ``on_start`` (answering).

    Settled once: whichever of "init finished" and "the starter gave up waiting"
    happens first wins, so an init that finishes after the timeout knows nobody
    is listening any more.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._settled = threading.Event()
        self._outcome: _Outcome | None = None
        self._error: BaseException | None = None

    def succeed(self) -> bool:
        """Report a successful init(); False if the starter already gave up."""
        return self._settle(_Outcome.STARTED, None)

    def fail(self, error: BaseException) -> None:
        self._settle(_Outcome.FAILED, error)

    def _settle(self, outcome: _Outcome, error: BaseException | None) -> bool:
        with self._lock:
            if self._outcome is not None:
                return False
            self._outcome, self._error = outcome, error
        self._settled.set()
        return True

    def wait(self, name: str, timeout: float | None) -> None:
        """Block until init() answered; raise StartError/StartTimeoutError if it did not succeed."""
        self._settled.wait(timeout)
        if self._settle(_Outcome.ABANDONED, None):
            raise StartTimeoutError(f"actor {name} did not start within {timeout}s")
        if self._outcome is _Outcome.FAILED:
            error = self._error
            raise StartError(f"actor {name} failed to start: {_describe(error)}", cause=error)


@dataclass
class _KernelState:
    """Per-actor kernel bookkeeping; touched only from the actor's own thread
    (``start_link`` fills ``link``/``ack`` before the thread starts)."""

    name: str | None
    link: Link | None = None
    ack: _StartAck = field(default_factory=_StartAck)
    phase: _Phase = _Phase.STARTING
    exit_kind: ExitKind = ExitKind.SHUTDOWN
    stop_requested: bool = False
    init_error: BaseException | None = None
    held: list[Holdable] = field(default_factory=list)


class GenServer(pykka.ThreadingActor):
    """Base of every actor: implement ``init``, handlers and ``terminate``.

    Start with ``start_link(link, *args, **kwargs)`` (``args`` go to ``__init__``,
    which runs in the caller's thread and should only store them); the real setup
    belongs in ``init()``, which runs in the actor's thread. Send messages with
    ``call``/``cast``/``send_info`` (``tell``), never with pykka's ``ask`` or proxies:
    an ``ask``'d message that raises is returned to the asker and is not a crash.
    """

    start_timeout: ClassVar[float | None] = 30.0
    """Seconds ``start_link`` waits for init(); None waits forever."""

    use_daemon_thread: ClassVar[bool] = True
    """Daemon threads: shutdown has deadlines, and an actor abandoned past its
    deadline (threads cannot be killed) must not keep the process alive."""

    _kernel_own_table: ClassVar[Mapping[_Kind, Mapping[type, str]]] = MappingProxyType({})
    _kernel_table: ClassVar[MappingProxyType[_Kind, MappingProxyType[type, str]]] = (
        MappingProxyType({kind: MappingProxyType({}) for kind in _Kind})
    )

    def __init_subclass__(cls, **kwargs: Any) -> None:  # Any: forwarded to type
        super().__init_subclass__(**kwargs)
        cls._kernel_own_table = _own_table(cls)
        cls._kernel_table = _merged_table(cls)

    def __init__(self, *, name: str | None = None) -> None:
        """Runs in the starter's thread. ``name`` defaults to the child id given by a
        ``SupervisorLink``, else the class name."""
        super().__init__()
        self.__gs_state = _KernelState(name=name)

    # -- starting ---------------------------------------------------------------

    @classmethod
    def start_link(
        cls,
        link: Link | None,
        /,
        *args: Any,  # Any: forwarded to the subclass's __init__
        **kwargs: Any,
    ) -> pykka.ActorRef[Self]:
        """Start the actor and block until its init() finished in the actor's thread.

        ``link`` is told when the actor exits (never if init() fails). Runs in the
        caller's thread; this is kernel start code and is allowed to block.

        Raises:
            StartError: init() raised; ``cause`` holds the exception. The actor has
                already stopped and its link is not notified.
            StartTimeoutError: init() did not finish within ``start_timeout``.
            Exception: whatever ``__init__`` raised, unchanged (caller's thread).
        """
        actor = cls(*args, **kwargs)
        state = actor._GenServer__gs_state
        state.link = link
        if state.name is None and isinstance(link, SupervisorLink):
            state.name = link.child_id
        pykka.ActorRegistry.register(actor.actor_ref)
        actor._start_actor_loop()
        state.ack.wait(actor.name, cls.start_timeout)
        return actor.actor_ref

    @classmethod
    def start(cls, *args: Any, **kwargs: Any) -> pykka.ActorRef[Self]:  # Any: as start_link
        """pykka's entry point, kept consistent: ``start_link(None, ...)`` (no link)."""
        return cls.start_link(None, *args, **kwargs)

    # -- the API subclasses implement and use -------------------------------------

    def init(self) -> None:
        """Set up state in the actor's thread. Raising fails ``start_link``; as in
        OTP, ``terminate`` is then not called, so release what init() acquired
        before raising."""

    def terminate(self, reason: ExitReason) -> None:
        """Release what the actor owns; runs in its thread on every exit after a
        successful init. Best effort on a crash: an exception here is logged."""

    @property
    def ref(self) -> pykka.ActorRef[Self]:
        """This actor's reference, to give to others (e.g. in an ``ActorReply``)."""
        return self.actor_ref

    @property
    def name(self) -> str:
        """Name used in logs and error messages."""
        return self.__gs_state.name or type(self).__name__

    def hold(self, obj: Holdable) -> None:
        """Keep ``obj`` until it is done; if the actor exits first, ``obj.fail`` is
        called with the exit error. Every call's reply is held automatically."""
        if not obj.done:
            self.__gs_state.held.append(obj)

    def stop_normal(self) -> None:
        """Stop after the current message (``ExitKind.NORMAL``); later mail is
        dropped and queued calls are failed. Call from the actor's own thread."""
        self.__gs_state.exit_kind = ExitKind.NORMAL
        self.__gs_state.stop_requested = True

    def crash_error(self, exc: BaseException) -> BaseException:
        """The error held replies get when this actor crashes with ``exc``."""
        return ActorCrashedError(f"actor {self.name} crashed: {_describe(exc)}")

    def stopped_error(self, reason: ExitReason) -> BaseException:
        """The error held replies get when this actor stops without crashing."""
        return ServiceUnavailableError(f"actor {self.name} stopped ({reason.kind.value})")

    # -- pykka hooks: the kernel's machinery --------------------------------------

    def on_start(self) -> None:
        state = self.__gs_state
        try:
            _confined(self.init)
        except Exception as exc:  # any init failure is the starter's to judge
            state.phase, state.init_error = _Phase.FAILED_INIT, exc
            self._stop()  # pykka's immediate stop; on_stop only drains the mailbox
            state.ack.fail(exc)
            return
        state.phase = _Phase.RUNNING
        if not state.ack.succeed():
            state.link = None  # the starter gave up on us: nobody to tell
            self._stop()
        elif state.stop_requested:
            self._stop()

    def on_receive(self, message: Any) -> None:  # Any: whatever was told to us
        _confined(self.__gs_dispatch, message)
        state = self.__gs_state
        if state.held:
            state.held = [obj for obj in state.held if not obj.done]
        if state.stop_requested:
            self._stop()

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        error = exception_value or ActorCrashedError(f"actor {self.name} failed")
        self.__gs_exit(ExitReason(ExitKind.CRASH, error))

    def on_stop(self) -> None:
        state = self.__gs_state
        if state.phase is _Phase.FAILED_INIT:
            self.__gs_exit(ExitReason(ExitKind.CRASH, state.init_error))
        else:
            self.__gs_exit(ExitReason(state.exit_kind))

    # -- internals ----------------------------------------------------------------

    def __gs_dispatch(self, message: object) -> None:
        route = _ENVELOPES.get(type(message))
        if route is None:
            self.__gs_dispatch_info(Info(message, None))  # a bare message is info, as in OTP
            return
        trace = message.trace  # type: ignore[attr-defined]  # every envelope has one
        if trace is None:  # the hot path: nothing bound by the sender
            route(self, message)
            return
        # The sender's request id (and span) are bound while this message is handled.
        with handling(trace, self.name, message.message):  # type: ignore[attr-defined]
            route(self, message)

    def __gs_handler(self, kind: _Kind, message: object) -> Callable[..., None] | None:
        table = type(self)._kernel_table[kind]
        for klass in type(message).__mro__:
            name = table.get(klass)
            if name is not None:
                handler: Callable[..., None] = getattr(self, name)
                return handler
        return None

    def __gs_dispatch_call(self, envelope: Call) -> None:
        self.hold(envelope.reply)  # held first: an unknown call fails it via the crash
        handler = self.__gs_handler(_Kind.CALL, envelope.message)
        if handler is None:
            raise UnknownMessageError(f"{self.name}: no handle_call for {_type(envelope)}")
        try:
            handler(envelope.message, envelope.reply)
        except OllamaError as error:
            # Expected failures (bad input, unknown model…) are typed domain errors:
            # they answer this call and the actor carries on. Anything else crashes.
            envelope.reply.fail(error)

    def __gs_dispatch_cast(self, envelope: Cast) -> None:
        handler = self.__gs_handler(_Kind.CAST, envelope.message)
        if handler is None:
            raise UnknownMessageError(f"{self.name}: no handle_cast for {_type(envelope)}")
        handler(envelope.message)

    def __gs_dispatch_info(self, envelope: Info) -> None:
        handler = self.__gs_handler(_Kind.INFO, envelope.message)
        if handler is None:
            structlog.get_logger().warning(
                "unknown_info_dropped", actor=self.name, message_type=_type(envelope)
            )
            return
        handler(envelope.message)

    def __gs_exit(self, reason: ExitReason) -> None:
        """Run once per actor, in its thread: terminate, settle, drain, notify."""
        state = self.__gs_state
        if state.phase is _Phase.EXITED:
            return
        initialised = state.phase is _Phase.RUNNING
        state.phase = _Phase.EXITED
        if initialised:
            reason = self.__gs_terminate_safely(reason)
        error = self.__gs_exit_error(reason)
        for obj in state.held:
            _fail_quietly(obj, error)
        state.held.clear()
        self.__gs_drain_mailbox(error)
        if initialised and state.link is not None:
            state.link.notify(self.actor_urn, reason)

    def __gs_terminate_safely(self, reason: ExitReason) -> ExitReason:
        try:
            _confined(self.terminate, reason)
        except Exception as exc:  # terminate is best effort; its failure is reported
            structlog.get_logger().exception("terminate_failed", actor=self.name)
            if reason.kind is not ExitKind.CRASH:
                return ExitReason(ExitKind.CRASH, exc)  # as OTP: a failed terminate is abnormal
        return reason

    def __gs_exit_error(self, reason: ExitReason) -> BaseException:
        try:
            if reason.kind is ExitKind.CRASH:
                return self.crash_error(reason.error or ActorCrashedError("unknown error"))
            return self.stopped_error(reason)
        except Exception:  # an overridden hook must not stop the replies being failed
            structlog.get_logger().exception("exit_error_hook_failed", actor=self.name)
            return ActorCrashedError(f"actor {self.name} exited: {reason.describe()}")

    def __gs_drain_mailbox(self, error: BaseException) -> None:
        """Fail the calls still queued (nobody will serve them); leave pykka's own
        asks for its teardown, which answers them."""
        inbox = self.actor_inbox
        asks = []
        while not inbox.empty():
            envelope = inbox.get()
            if envelope.reply_to is not None:
                asks.append(envelope)
            elif type(envelope.message) is Call:
                _fail_quietly(envelope.message.reply, error)
        for envelope in asks:
            inbox.put(envelope)


_ENVELOPES: MappingProxyType[type, Callable[[GenServer, Any], None]] = MappingProxyType(
    {
        Call: GenServer._GenServer__gs_dispatch_call,
        Cast: GenServer._GenServer__gs_dispatch_cast,
        Info: GenServer._GenServer__gs_dispatch_info,
    }
)


def _confined(fn: Callable[..., None], *args: object) -> None:
    """Call ``fn``; turn SystemExit/KeyboardInterrupt into an ordinary crash, since
    pykka answers any BaseException by stopping every actor in the process."""
    try:
        fn(*args)
    except Exception:
        raise
    except BaseException as exc:
        raise ForbiddenExitError(f"{type(exc).__name__} raised in an actor: {exc}") from exc


def _fail_quietly(obj: Holdable, error: BaseException) -> None:
    try:
        obj.fail(error)
    except Exception:  # one broken holder must not keep the others unsettled
        structlog.get_logger().exception("held_fail_raised", holder=type(obj).__name__)


def _describe(error: BaseException | None) -> str:
    return "unknown error" if error is None else f"{type(error).__name__}: {error}"


def _type(envelope: Call | Cast | Info) -> str:
    return type(envelope.message).__name__
