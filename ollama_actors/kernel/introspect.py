"""Snapshots of a supervision tree, as plain frozen data for tests, the CLI and UIs.

``snapshot_tree`` walks the tree with blocking ``WhichChildren`` calls and a
single overall deadline; it is for threads that may block (tests, CLI tools),
never for the trio thread: the HTTP edge asks ``WhichChildren`` through its own
reply and builds nodes with ``tree_node``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pykka

from ollama_actors.domain.errors import ServiceUnavailableError
from ollama_actors.kernel.errors import ActorCrashedError
from ollama_actors.kernel.messages import ChildInfo, WhichChildren, call
from ollama_actors.kernel.reply import BlockingReply
from ollama_actors.kernel.specs import ChildKind, Restart

__all__ = ["TreeNode", "snapshot_tree", "tree_node"]


@dataclass(frozen=True)
class TreeNode:
    """One actor of the tree and, for a supervisor, its children in start order."""

    id: str
    kind: ChildKind
    restart: Restart
    alive: bool
    restarts: int
    last_exit: str | None
    children: tuple[TreeNode, ...] = ()


def tree_node(info: ChildInfo, children: tuple[TreeNode, ...] = ()) -> TreeNode:
    """The node for one ``WhichChildren`` entry (pure)."""
    return TreeNode(
        id=info.id,
        kind=info.kind,
        restart=info.restart,
        alive=info.alive,
        restarts=info.restarts,
        last_exit=info.last_exit,
        children=children,
    )


def snapshot_tree(ref: pykka.ActorRef[Any], timeout: float, *, root_id: str = "root") -> TreeNode:
    """Ask ``ref`` (a supervisor) and, recursively, its child supervisors for their
    children; blocks the calling thread at most about ``timeout`` seconds in all.

    A child supervisor that dies while being asked is shown without children.

    Raises:
        TimeoutError: the tree did not answer within ``timeout``.
        ServiceUnavailableError: ``ref`` itself is not running.
    """
    deadline = time.monotonic() + timeout
    children = _children(ref, deadline)
    alive = ref.is_alive()
    return TreeNode(root_id, ChildKind.SUPERVISOR, Restart.PERMANENT, alive, 0, None, children)


def _children(ref: pykka.ActorRef[Any], deadline: float) -> tuple[TreeNode, ...]:
    reply: BlockingReply[tuple[ChildInfo, ...]] = BlockingReply()
    call(ref, WhichChildren(), reply)
    infos = reply.wait(max(0.0, deadline - time.monotonic()))
    return tuple(tree_node(info, _grandchildren(info, deadline)) for info in infos)


def _grandchildren(info: ChildInfo, deadline: float) -> tuple[TreeNode, ...]:
    if info.kind is not ChildKind.SUPERVISOR or info.ref is None:
        return ()
    try:
        return _children(info.ref, deadline)
    except (ServiceUnavailableError, ActorCrashedError):  # it died between two questions
        return ()
