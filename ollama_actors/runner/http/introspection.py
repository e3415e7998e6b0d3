"""Supervision-tree introspection routes (/x/runner/*).

``GET /x/runner/tree`` walks the live tree from the root with the kernel's
``WhichChildren`` call, asked through the bridge (never a blocking wait on the
trio thread), and asks each Runner for its ``RunnerStatus`` (model, state, pid
of its runner process). A supervisor or runner that does not answer in time (a
runner blocks its mailbox while loading a model) is shown without those
details rather than failing the whole answer.

``GET /x/runner/scheduler`` is the Scheduler's ``SchedulerStatistics`` as JSON:
per model its state (waiting, starting, ready, draining), queued and running
requests and slots, and the total queue depth.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import pykka
import trio
from quart import Blueprint, jsonify

from ollama_actors.bridge.reply import ask
from ollama_actors.domain.errors import OllamaError
from ollama_actors.edge.deps import EdgeDeps
from ollama_actors.kernel import ChildInfo, ChildKind, WhichChildren
from ollama_actors.runner.messages import RunnerInfo, RunnerStatus, SchedulerInfo, SchedulerStatistics

__all__ = ["introspection_blueprint", "node_json", "scheduler_json"]

RUNNER_INFO_TIMEOUT_S = 2.0


def node_json(info: ChildInfo, *, children: list[dict[str, Any]] | None = None,
              runner: RunnerStatus | None = None) -> dict[str, Any]:
    """One node of the tree as JSON (pure)."""
    node: dict[str, Any] = {
        "id": info.id,
        "kind": info.kind.value,
        "restart": info.restart.value,
        "state": "running" if info.alive else "stopped",
        "alive": info.alive,
        "restarts": info.restarts,
        "last_exit": info.last_exit,
    }
    if runner is not None:
        node["pid"] = runner.pid
        node["runner"] = {
            "model": runner.key,
            "state": runner.state,
            "pid": runner.pid,
            "context_length": runner.context_length,
        }
    if info.kind is ChildKind.SUPERVISOR:
        node["children"] = children or []
    return node


def scheduler_json(statistics: SchedulerStatistics) -> dict[str, Any]:
    """The scheduler's snapshot as JSON (pure)."""
    return {
        "queue_depth": statistics.queue_depth,
        "models": [dataclasses.asdict(model) for model in statistics.models],
    }


def introspection_blueprint(deps: EdgeDeps) -> Blueprint:
    bp = Blueprint("introspection", __name__)
    timeout = deps.settings.request_timeout_s

    async def children_of(ref: pykka.ActorRef) -> list[dict[str, Any]]:
        infos: tuple[ChildInfo, ...] = await ask(ref, WhichChildren(), timeout=timeout)
        runners = ref is deps.names.whereis("runner_supervisor")
        nodes: list[dict[str, Any]] = [{} for _ in infos]

        async def describe(i: int, info: ChildInfo) -> None:
            sub = None
            if info.kind is ChildKind.SUPERVISOR and info.ref is not None:
                sub = await _quietly(children_of(info.ref))
            status = None
            if runners and info.kind is ChildKind.WORKER and info.ref is not None:
                status = await _quietly(ask(info.ref, RunnerInfo(), timeout=RUNNER_INFO_TIMEOUT_S))
            nodes[i] = node_json(info, children=sub, runner=status)

        async with trio.open_nursery() as nursery:
            for i, info in enumerate(infos):
                nursery.start_soon(describe, i, info)
        return nodes

    @bp.get("/x/runner/tree")
    async def tree() -> Any:  # Any: Quart's response value
        root = deps.actor("root")
        return jsonify(
            {
                "id": "root",
                "kind": ChildKind.SUPERVISOR.value,
                "restart": "permanent",
                "state": "running" if root.is_alive() else "stopped",
                "alive": root.is_alive(),
                "restarts": 0,
                "last_exit": None,
                "pid": os.getpid(),
                "children": await children_of(root),
            }
        )

    @bp.get("/x/runner/scheduler")
    async def scheduler() -> Any:  # Any: Quart's response value
        statistics = await ask(deps.actor("scheduler"), SchedulerInfo(), timeout=timeout)
        return jsonify(scheduler_json(statistics))

    return bp


async def _quietly(awaitable: Any) -> Any:  # Any: whatever the ask answers
    """The answer, or None when the actor died or did not answer in time."""
    try:
        return await awaitable
    except OllamaError:
        return None
