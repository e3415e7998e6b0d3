"""The root of an actor tree: start it with a callback for its exit, stop it with a deadline.

The root is an ordinary ``Supervisor`` whose link is a ``CallbackLink``: when it
gives up (restart intensity reached) or is stopped, ``on_exit`` learns why, and
the daemon turns a ``CRASH`` into a non-zero exit so that systemd restarts it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pykka

from ollama_actors.kernel.errors import ShutdownTimeoutError
from ollama_actors.kernel.link import CallbackLink
from ollama_actors.kernel.messages import ExitReason
from ollama_actors.kernel.specs import ChildSpec, SupFlags
from ollama_actors.kernel.supervisor import Supervisor, SupervisorReport

__all__ = ["start_root", "stop_root"]


def start_root(
    flags: SupFlags,
    children: Sequence[ChildSpec],
    *,
    name: str = "root",
    on_exit: Callable[[ExitReason], None],
    observer: Callable[[SupervisorReport], None] | None = None,
) -> pykka.ActorRef[Supervisor]:
    """Start the root supervisor and its children; block until all of them started.

    ``on_exit`` runs once in the root's thread when the root exits (``SHUTDOWN``
    after ``stop_root``, ``CRASH`` when it gives up); it must not block. It is not
    called if the start itself fails.

    Raises:
        ValueError: invalid flags or duplicate child ids.
        StartError: a child failed to start (the started ones were stopped).
    """
    return Supervisor.start_link(CallbackLink(on_exit), flags, children, name, observer)


def stop_root(ref: pykka.ActorRef[Supervisor], timeout: float) -> None:
    """Stop the tree: children in reverse start order, each within its own deadline,
    the whole within ``timeout`` seconds. Returns at once if the root is already dead.

    Raises:
        ShutdownTimeoutError: the root had not stopped after ``timeout`` seconds (it
            keeps stopping in the background; the caller may exit anyway).
    """
    try:
        ref.stop(block=True, timeout=timeout)
    except pykka.Timeout as exc:
        raise ShutdownTimeoutError(f"the actor tree did not stop within {timeout}s") from exc
