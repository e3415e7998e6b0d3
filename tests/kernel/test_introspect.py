"""snapshot_tree: the whole tree as frozen data, nested supervisors included."""

from __future__ import annotations

from typing import Any

import pykka
import pytest

from ollama_actors.domain.errors import ServiceUnavailableError
from ollama_actors.kernel import (
    ChildKind,
    ChildSpec,
    Link,
    Restart,
    Supervisor,
    SupFlags,
    TreeNode,
    snapshot_tree,
    start_root,
    stop_root,
)
from tests.kernel.support import WAIT_S, Recorder, worker_spec


def test_snapshot_tree_walks_nested_supervisors_in_start_order() -> None:
    life = Recorder()

    def start_inner(link: Link) -> pykka.ActorRef[Any]:
        return Supervisor.start_link(link, SupFlags(), [worker_spec(life, "x")], "inner")

    specs = [
        worker_spec(life, "a", restart=Restart.TRANSIENT),
        ChildSpec("inner", start_inner, kind=ChildKind.SUPERVISOR),
    ]
    root = start_root(SupFlags(), specs, on_exit=lambda r: None)
    tree = snapshot_tree(root, WAIT_S)
    x = TreeNode("x", ChildKind.WORKER, Restart.PERMANENT, True, 0, None)
    assert tree == TreeNode(
        "root",
        ChildKind.SUPERVISOR,
        Restart.PERMANENT,
        True,
        0,
        None,
        (
            TreeNode("a", ChildKind.WORKER, Restart.TRANSIENT, True, 0, None),
            TreeNode("inner", ChildKind.SUPERVISOR, Restart.PERMANENT, True, 0, None, (x,)),
        ),
    )


def test_snapshot_of_a_stopped_tree_says_it_is_not_running() -> None:
    root = start_root(SupFlags(), [], on_exit=lambda r: None)
    stop_root(root, WAIT_S)
    with pytest.raises(ServiceUnavailableError):
        snapshot_tree(root, WAIT_S)
