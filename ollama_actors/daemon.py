"""``ollama-actors serve``: settings → logging → actor tree → HTTP edge; signals; exit code.

Exit status: 0 after SIGINT/SIGTERM (streams get the grace period to finish),
1 when the root supervisor gives up (so systemd restarts the daemon), 2 for bad
settings or a socket another daemon holds.
"""

from __future__ import annotations

import argparse
import signal
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import structlog
import trio

from ollama_actors.adapters.bundled_models import find_bundled_models
from ollama_actors.bridge.reply import ask
from ollama_actors.bridge.tree import open_actor_tree
from ollama_actors.edge.app import create_app
from ollama_actors.edge.deps import EdgeDeps
from ollama_actors.edge.server import hypercorn_config, prepare_unix_socket, serve_http
from ollama_actors.kernel.names import Names
from ollama_actors.logging import configure_logging
from ollama_actors.management.messages import ImportBundled
from ollama_actors.runner.adapters.runner_process import RunnerProcessRuntime
from ollama_actors.runner.ports import Runtime
from ollama_actors.settings import Settings, load_settings, parse_host
from ollama_actors.tree import ROOT_FLAGS, daemon_children

__all__ = ["DaemonStopped", "serve", "serve_daemon", "version"]


def version() -> str:
    try:
        return metadata.version("ollama-actors")
    except metadata.PackageNotFoundError:
        return "0.0.0"


@dataclass
class DaemonStopped:
    """How the daemon ended: ``root_failed`` means the supervision tree gave up."""

    root_failed: bool = False


async def serve_daemon(
    settings: Settings,
    *,
    runtime: Runtime | None = None,
    stop: trio.Event | None = None,
    handle_signals: bool = False,
    names: Names | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> DaemonStopped:
    """Run the daemon until ``stop`` is set, a signal arrives, or the root gives up.

    ``runtime`` defaults to ``RunnerProcessRuntime``: each loaded model lives in its
    own runner process, so a native fault in llama.cpp ends that process only. Pass
    ``LlamaCppRuntime()`` to run models inside the daemon (tests, benchmarks).
    """
    if runtime is None:
        runtime = RunnerProcessRuntime(load_timeout_s=settings.load_timeout_s)
    names = names if names is not None else Names()
    stop = stop if stop is not None else trio.Event()
    if settings.socket is not None:
        prepare_unix_socket(settings.socket)
    settings.models.mkdir(parents=True, exist_ok=True)
    log = structlog.get_logger()
    outcome = DaemonStopped()
    bundled = find_bundled_models if settings.bundled_models else None
    async with open_actor_tree(
        ROOT_FLAGS, lambda: daemon_children(settings, runtime, names, bundled=bundled),
        shutdown_timeout=settings.grace_period_s + 30,
    ) as tree:
        names.register("root", tree.root)  # for introspection (/x/runner/tree)
        if bundled is not None:
            imported = await ask(names.whereis("model_manager"), ImportBundled(), timeout=600)
            if imported:
                log.info("bundled_models_ready", models=list(imported))
        app = create_app(EdgeDeps(names=names, settings=settings, version=version()))
        http_stopped = trio.Event()
        async with trio.open_nursery() as nursery:
            binds = await nursery.start(
                lambda task_status: serve_http(
                    app, hypercorn_config(settings), shutdown_trigger=http_stopped.wait, task_status=task_status
                )
            )
            log.info("daemon_listening", binds=binds, models=str(settings.models), version=version())
            task_status.started(binds)
            async with trio.open_nursery() as watchers:
                watchers.start_soon(_set_when, tree.exited.wait, stop)
                if handle_signals:
                    watchers.start_soon(_stop_on_signal, stop)
                await stop.wait()
                watchers.cancel_scope.cancel()
            outcome.root_failed = tree.exited.is_set()
            if outcome.root_failed:
                log.error("root_supervisor_gave_up", reason=tree.exit_reason.describe() if tree.exit_reason else None)
            http_stopped.set()
    log.info("daemon_stopped", root_failed=outcome.root_failed)
    return outcome


async def _set_when(wait: object, event: trio.Event) -> None:
    await wait()  # type: ignore[operator]
    event.set()


async def _stop_on_signal(stop: trio.Event) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            structlog.get_logger().info("signal_received", signal=signal.Signals(signum).name)
            stop.set()
            return


def serve(args: argparse.Namespace) -> int:
    """Entry point of ``ollama-actors serve`` (called by the CLI)."""
    overrides: dict[str, object] = {}
    if getattr(args, "host", None):
        overrides["host"], overrides["port"] = parse_host(args.host)
    if getattr(args, "models", None):
        overrides["models"] = Path(args.models).expanduser()
    if getattr(args, "socket", None):
        overrides["socket"] = Path(args.socket).expanduser()
    config = getattr(args, "config", None)
    try:
        settings = load_settings(config_path=Path(config) if config else None, overrides=overrides)
    except (ValueError, OSError) as error:
        sys.stderr.write(f"Error: {error}\n")
        return 2
    configure_logging(debug=settings.debug)
    try:
        outcome = trio.run(lambda: serve_daemon(settings, handle_signals=True))
    except OSError as error:
        structlog.get_logger().error("daemon_failed_to_start", error=str(error))
        return 2
    return 1 if outcome.root_failed else 0
