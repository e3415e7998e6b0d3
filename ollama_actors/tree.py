"""The daemon's supervision tree, declared in one screen.

    root (rest_for_one, 3 restarts in 10 s)
    ├── event_bus           EventBus
    ├── model_manager       ModelManager (single writer of the store)
    ├── runner_supervisor   Supervisor (one_for_one, 10 in 60 s) → Runner per model
    ├── scheduler           Scheduler
    └── transfer_supervisor Supervisor (one_for_one) → PullJob / PushJob (temporary)

``rest_for_one``: when the runner supervisor is restarted, the scheduler (which
tracks its runners) restarts after it with clean state; a model manager
restart restarts both (they resolve models through it). The root is strict;
the runner supervisor absorbs bursts of runner crashes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pykka

from ollama_actors.adapters.event_bus import EventBus, publisher
from ollama_actors.kernel import ChildKind, ChildSpec, Restart, Strategy, SupFlags, Supervisor, SupervisorReport
from ollama_actors.kernel.names import Names
from ollama_actors.management.actors.model_manager import ModelManager
from ollama_actors.runner.actors.scheduler import Scheduler, SchedulerConfig
from ollama_actors.runner.ports import Runtime
from ollama_actors.settings import Settings

__all__ = ["ROOT_FLAGS", "daemon_children"]

ROOT_FLAGS = SupFlags(strategy=Strategy.REST_FOR_ONE, intensity=3, period=10.0)
RUNNER_SUPERVISOR_FLAGS = SupFlags(strategy=Strategy.ONE_FOR_ONE, intensity=10, period=60.0)
# Last in the root: its restart touches nothing else. Jobs are temporary (never restarted).
TRANSFER_SUPERVISOR_FLAGS = SupFlags(strategy=Strategy.ONE_FOR_ONE, intensity=10, period=60.0)


def _registered(names: Names, name: str, ref: pykka.ActorRef) -> pykka.ActorRef:
    names.register(name, ref)
    return ref


def daemon_children(
    settings: Settings,
    runtime: Runtime,
    names: Names,
    *,
    bundled: Callable[[], list[tuple[str, Path]]] | None = None,
    observer: Callable[[SupervisorReport], None] | None = None,
) -> list[ChildSpec]:
    publish = publisher(names)
    scheduler_config = SchedulerConfig(
        keep_alive_s=settings.keep_alive_s,
        max_loaded_models=settings.max_loaded_models,
        max_queue=settings.max_queue,
        num_parallel=settings.num_parallel,
    )
    return [
        ChildSpec(id="event_bus", start=lambda link: EventBus.start_link(link, names)),
        ChildSpec(
            id="model_manager",
            start=lambda link: ModelManager.start_link(
                link, settings.models, names, publish=publish, bundled=bundled, noprune=settings.noprune
            ),
            shutdown=30.0,
        ),
        ChildSpec(
            id="runner_supervisor",
            start=lambda link: _registered(
                names,
                "runner_supervisor",
                Supervisor.start_link(
                    link, RUNNER_SUPERVISOR_FLAGS, [], name="runner_supervisor", observer=observer
                ),
            ),
            kind=ChildKind.SUPERVISOR,
            shutdown=None,
            restart=Restart.PERMANENT,
        ),
        ChildSpec(
            id="scheduler",
            start=lambda link: Scheduler.start_link(link, scheduler_config, runtime, names),
        ),
        ChildSpec(
            id="transfer_supervisor",
            start=lambda link: _registered(
                names,
                "transfer_supervisor",
                Supervisor.start_link(link, TRANSFER_SUPERVISOR_FLAGS, [], name="transfer_supervisor"),
            ),
            kind=ChildKind.SUPERVISOR,
            shutdown=None,
        ),
    ]
