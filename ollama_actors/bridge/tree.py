"""Start and stop the actor tree from trio, and turn the root's exit into a trio event.

Starting and stopping block (the kernel waits for acknowledgements and
deadlines), so they run in a worker thread; the root's exit, reported on an
actor thread, reaches trio through ``run_sync_soon``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pykka
import trio

from ollama_actors.kernel import ChildSpec, ExitReason, SupFlags, start_root, stop_root

__all__ = ["RunningTree", "open_actor_tree"]


@dataclass
class RunningTree:
    """The started tree as trio sees it."""

    root: pykka.ActorRef
    exited: trio.Event = field(default_factory=trio.Event)
    exit_reason: ExitReason | None = None


@asynccontextmanager
async def open_actor_tree(
    flags: SupFlags,
    children: Callable[[], Sequence[ChildSpec]],
    *,
    shutdown_timeout: float = 30.0,
) -> AsyncIterator[RunningTree]:
    """Start the root supervisor; stop it (ordered, bounded) when the block exits."""
    token = trio.lowlevel.current_trio_token()
    holder: dict[str, RunningTree] = {}
    early_exit: list[ExitReason] = []

    def on_exit(reason: ExitReason) -> None:  # actor thread
        tree = holder.get("tree")
        if tree is None:
            early_exit.append(reason)
            return
        tree.exit_reason = reason
        try:
            token.run_sync_soon(tree.exited.set)
        except trio.RunFinishedError:
            pass

    root = await trio.to_thread.run_sync(
        lambda: start_root(flags, children(), name="root", on_exit=on_exit)
    )
    tree = RunningTree(root=root)
    holder["tree"] = tree
    if early_exit:
        tree.exit_reason = early_exit[0]
        tree.exited.set()
    try:
        yield tree
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(lambda: stop_root(root, shutdown_timeout))
