"""Trace context: what a message carries from its sender's context into the actor that handles it.

Context variables do not cross into actor threads, so without this an actor's
log lines lose the request id of the request it is working for. Every envelope
(``Call``/``Cast``/``Info``) captures a ``TraceContext`` when it is built, in
the sender's thread; the ``GenServer`` binds it while it handles that message
(``handling``) and restores its own context afterwards, so every log line an
actor writes for a request carries that request's ``request_id``, and every
message it sends on carries it further.

Two things travel:

- ``fields``: the sender's structlog context variables (``request_id``, and
  whatever else was bound with ``structlog.contextvars.bind_contextvars``);
- ``span``: an opaque value captured by the installed ``TraceHook``: the
  OpenTelemetry context when tracing is on (``ollama_actors.tracing``). With no
  hook installed nothing is captured, so the kernel never imports OpenTelemetry.

Cost when nothing is bound (the hot path of every message): one
``copy_context`` and a scan of the few variables set in the sender's context;
the envelope then carries ``None`` and the handler runs exactly as before.

The hook is process-wide, like the logging configuration: ``install_trace_hook``
is called once by the daemon when tracing is switched on, and undone when it
stops. It is the kernel's only module-level mutable state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

import structlog

__all__ = ["TraceContext", "TraceHook", "capture_trace", "handling", "install_trace_hook"]


@dataclass(frozen=True, slots=True)
class TraceContext:
    """The sender's context at the moment a message was built (immutable, hashable)."""

    fields: tuple[tuple[str, object], ...] = ()
    span: object | None = None

    @property
    def request_id(self) -> str | None:
        """The ``request_id`` field, if the sender had one bound."""
        for key, value in self.fields:
            if key == "request_id":
                return str(value)
        return None


SpanEnd = Callable[[BaseException | None], None]
"""Ends what ``TraceHook.enter`` started; gets the exception the handler raised, if any."""


class TraceHook(Protocol):
    """Carries a tracer's context through messages (implemented by ``ollama_actors.tracing``)."""

    def capture(self) -> object | None:
        """In the sender's thread: the value to carry, or None for nothing."""
        ...

    def enter(self, carried: object, actor: str, message: object) -> SpanEnd:
        """In the actor's thread, before its handler runs: make ``carried`` current
        (e.g. start a child span of it) and return what ends that."""
        ...


_hook: TraceHook | None = None


def install_trace_hook(hook: TraceHook | None) -> TraceHook | None:
    """Install ``hook`` (None removes it) for every message built from now on;
    returns the previous one, so the caller can put it back."""
    global _hook
    previous, _hook = _hook, hook
    return previous


def capture_trace() -> TraceContext | None:
    """The calling thread's trace context, or None when nothing is bound.

    Called by every envelope when it is built; must stay cheap and never raise.
    """
    fields = structlog.contextvars.get_contextvars()
    hook = _hook
    span = hook.capture() if hook is not None else None
    if not fields and span is None:
        return None
    return TraceContext(tuple(fields.items()), span)


@contextmanager
def handling(trace: TraceContext, actor: str, message: object) -> Iterator[None]:
    """Bind ``trace`` in the current (actor) thread for the duration of the block.

    The structlog fields are bound with tokens and reset afterwards, so what the
    actor had bound itself is restored. An exception escaping the block ends the
    hook's span with that error and propagates unchanged.
    """
    tokens = structlog.contextvars.bind_contextvars(**dict(trace.fields)) if trace.fields else None
    hook = _hook
    end = hook.enter(trace.span, actor, message) if trace.span is not None and hook is not None else None
    error: BaseException | None = None
    try:
        yield
    except BaseException as exc:
        error = exc
        raise
    finally:
        if end is not None:
            end(error)
        if tokens is not None:
            structlog.contextvars.reset_contextvars(**tokens)
