"""``ollama-actors serve``: settings → logging → actor tree → HTTP edge; signals; exit code.

Exit status: 0 after SIGINT/SIGTERM (streams get the grace period to finish),
1 when the root supervisor gives up (so systemd restarts the daemon), 2 for bad
settings or a socket another daemon holds.

Before the tree starts, ``serve`` makes sure the user's registry key
(``~/.ollama/id_ed25519``, following ``HOME``) exists, creating it and printing
its public key as ``ollama serve`` does; a home it cannot write to only costs a
warning.

Observability wiring lives here too: the metrics registry is fed by the runner
supervisor's reports, the edge, the scheduler (at scrape time) and the event
bus (``transfer.bytes``); OpenTelemetry tracing is opened only when the
settings ask for it (``ollama_actors.tracing``).
"""

from __future__ import annotations

import argparse
import gc
import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import structlog
import trio

from ollama_actors.adapters.bundled_models import find_bundled_models
from ollama_actors.adapters.event_bus import Subscribe
from ollama_actors.bridge.reply import ask
from ollama_actors.bridge.tree import RunningTree, open_actor_tree
from ollama_actors.edge.admission import Admission
from ollama_actors.edge.app import create_app
from ollama_actors.edge.deps import EdgeDeps
from ollama_actors.edge.metrics import DaemonMetrics
from ollama_actors.edge.security import CorsPolicy
from ollama_actors.edge.server import hypercorn_config, prepare_unix_socket, serve_http, socket_gid
from ollama_actors.kernel.messages import cast
from ollama_actors.kernel.names import Names
from ollama_actors.logging import configure_logging
from ollama_actors.management.adapters.ssh_key import Ed25519Signer, default_key_path
from ollama_actors.management.messages import ImportBundled
from ollama_actors.bridge.event_pump import TrioEventPump
from ollama_actors.runner.adapters.runner_process import RunnerProcessRuntime
from ollama_actors.runner.messages import ListRunning
from ollama_actors.runner.ports import Runtime
from ollama_actors.settings import Settings, load_settings, parse_host
from ollama_actors.systemd import SystemdEnv
from ollama_actors.tracing import Tracing, open_tracing
from ollama_actors.tree import ROOT_FLAGS, daemon_children

__all__ = ["DaemonStopped", "ensure_keypair", "serve", "serve_daemon", "settings_from_args", "version"]


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
    systemd: SystemdEnv | None = None,
    tracing: Tracing | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> DaemonStopped:
    """Run the daemon until ``stop`` is set, a signal arrives, or the root gives up.

    ``runtime`` defaults to ``RunnerProcessRuntime``: each loaded model lives in its
    own runner process, so a native fault in llama.cpp ends that process only. Pass
    ``InProcessRuntime(LlamaCppRuntime())`` to run models inside the daemon (tests,
    benchmarks).

    ``systemd`` (read by ``serve`` from the environment): inherited sockets are served
    instead of binding; READY/STATUS/STOPPING/WATCHDOG go to ``NOTIFY_SOCKET``.

    ``tracing`` defaults to what ``settings.traces_exporter`` asks for (None: off);
    the daemon activates it for its lifetime and closes it (flushing spans) on exit.
    """
    if tracing is None:
        tracing = open_tracing(settings)
    if tracing is not None:
        tracing.activate()
        try:
            return await _serve_daemon(settings, runtime=runtime, stop=stop, handle_signals=handle_signals,
                                       names=names, systemd=systemd, tracing=tracing, task_status=task_status)
        finally:
            tracing.close()
    return await _serve_daemon(settings, runtime=runtime, stop=stop, handle_signals=handle_signals,
                               names=names, systemd=systemd, tracing=None, task_status=task_status)


async def _serve_daemon(
    settings: Settings,
    *,
    runtime: Runtime | None,
    stop: trio.Event | None,
    handle_signals: bool,
    names: Names | None,
    systemd: SystemdEnv | None,
    tracing: Tracing | None,
    task_status: trio.TaskStatus[list[str]],
) -> DaemonStopped:
    systemd = systemd if systemd is not None else SystemdEnv()
    if runtime is None:
        runtime = RunnerProcessRuntime(load_timeout_s=settings.load_timeout_s, event_pump=TrioEventPump())
    names = names if names is not None else Names()
    stop = stop if stop is not None else trio.Event()
    if handle_signals:  # a system task: it outlives the nurseries, for the second signal
        trio.lowlevel.spawn_system_task(_stop_on_signal, stop, systemd)
    if settings.socket is not None and not systemd.listen_fds:
        prepare_unix_socket(settings.socket)
    settings.models.mkdir(parents=True, exist_ok=True)
    log = structlog.get_logger()
    outcome = DaemonStopped()
    metrics = DaemonMetrics()  # this daemon's registry, fed by the tree and the edge
    admission = Admission()
    bundled = find_bundled_models if settings.bundled_models else None
    async with open_actor_tree(
        ROOT_FLAGS,
        lambda: daemon_children(settings, runtime, names, bundled=bundled, observer=metrics.observe_supervisor),
        shutdown_timeout=settings.grace_period_s + 30,
    ) as tree:
        names.register("root", tree.root)  # for introspection (/x/runner/tree)
        bus_follower = _EventBusFollower(names, metrics)
        bus_follower.follow()  # before anything can publish transfer.bytes
        if bundled is not None:
            imported = await ask(names.whereis("model_manager"), ImportBundled(), timeout=600)
            if imported:
                log.info("bundled_models_ready", models=list(imported))
        app = create_app(EdgeDeps(names=names, settings=settings, version=version(), metrics=metrics,
                                  admission=admission, tracing=tracing))
        http_stopped = trio.Event()
        async with trio.open_nursery() as nursery:
            binds = await nursery.start(
                lambda task_status: serve_http(
                    app,
                    hypercorn_config(settings, fd_binds=systemd.fd_binds or None),
                    shutdown_trigger=http_stopped.wait, task_status=task_status
                )
            )
            log.info("daemon_listening", binds=binds, models=str(settings.models), version=version())
            task_status.started(binds)
            systemd.notify("READY=1", f"STATUS=serving on {', '.join(binds)}", f"MAINPID={os.getpid()}")
            async with trio.open_nursery() as watchers:
                watchers.start_soon(_set_when, tree.exited.wait, stop)
                watchers.start_soon(bus_follower.serve)
                if systemd.watchdog_interval_s is not None:
                    watchers.start_soon(_watchdog, systemd, tree)
                if systemd.notify_socket:
                    watchers.start_soon(_status_lines, systemd, metrics, names, settings.request_timeout_s)
                await stop.wait()
                watchers.cancel_scope.cancel()
            outcome.root_failed = tree.exited.is_set()
            admission.draining = True  # new requests get 503 while streams finish
            systemd.notify(
                "STOPPING=1",
                "STATUS=root supervisor gave up" if outcome.root_failed else "STATUS=stopping: finishing streams",
            )
            if outcome.root_failed:
                log.error("root_supervisor_gave_up", reason=tree.exit_reason.describe() if tree.exit_reason else None)
            http_stopped.set()
    log.info("daemon_stopped", root_failed=outcome.root_failed)
    return outcome


class _EventBusFollower:
    """Keeps the metrics subscribed to whichever event bus is registered.

    A subscription lives in the bus actor's state, so a restarted bus (which,
    first in a rest_for_one root, restarts the whole tree) has none: the follower
    subscribes again when it sees a new bus ref.
    """

    CHECK_INTERVAL_S = 5.0

    def __init__(self, names: Names, metrics: DaemonMetrics) -> None:
        self._names, self._metrics = names, metrics
        self._bus: object = None

    def follow(self) -> None:
        """Subscribe to the current bus if it is not the one already subscribed to."""
        bus = self._names.whereis("event_bus")
        if bus is not None and bus is not self._bus and cast(bus, Subscribe(self._metrics.observe_event)):
            self._bus = bus

    async def serve(self) -> None:
        while True:
            await trio.sleep(self.CHECK_INTERVAL_S)
            self.follow()


async def _watchdog(systemd: SystemdEnv, tree: RunningTree) -> None:
    """``WATCHDOG=1`` every WATCHDOG_USEC/2, only while the root supervisor lives:
    a wedged or dead tree stops the pings and systemd restarts the daemon."""
    interval = systemd.watchdog_interval_s or 1.0
    while not tree.exited.is_set() and tree.root.is_alive():
        systemd.notify("WATCHDOG=1")
        await trio.sleep(interval)


STATUS_INTERVAL_S = 10.0


async def _status_lines(systemd: SystemdEnv, metrics: DaemonMetrics, names: Names, timeout: float) -> None:
    """``STATUS=`` every few seconds (``systemctl status`` shows it): models loaded,
    requests in flight."""
    while True:
        await trio.sleep(STATUS_INTERVAL_S)
        loaded = "?"
        scheduler = names.whereis("scheduler")
        if scheduler is not None:
            try:
                loaded = str(len(await ask(scheduler, ListRunning(), timeout=min(timeout, 5.0))))
            except Exception:  # a busy scheduler only costs one status line
                loaded = "?"
        in_flight = metrics.registry.get_sample_value("ollama_actors_http_requests_in_flight") or 0
        systemd.notify(f"STATUS=serving: {loaded} models loaded, {int(in_flight)} requests in flight")


async def _set_when(wait: object, event: trio.Event) -> None:
    await wait()  # type: ignore[operator]
    event.set()


async def _stop_on_signal(stop: trio.Event, systemd: SystemdEnv) -> None:
    """First SIGINT/SIGTERM: stop gracefully. A second one: exit at once (128 + signal),
    skipping the grace period; runner processes die with the daemon (PDEATHSIG)."""
    log = structlog.get_logger()
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            name = signal.Signals(signum).name
            if not stop.is_set():
                log.info("signal_received", signal=name)
                stop.set()
                continue
            log.warning("forced_exit", signal=name)
            systemd.notify("STATUS=forced exit on a second signal")
            sys.stderr.flush()
            os._exit(128 + signum)


def settings_from_args(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> Settings:
    """The daemon's settings: ``serve``'s flags > ``env`` > ``--config`` file > defaults.

    Raises:
        ValueError: an invalid setting, or a configuration file named by
            ``--config`` or ``OLLAMA_ACTORS_CONFIG`` that does not exist; one line,
            printed by ``serve`` as ``Error: …``.
    """
    overrides: dict[str, object] = {}
    if getattr(args, "host", None):
        overrides["host"], overrides["port"] = parse_host(args.host)
    if getattr(args, "models", None):
        overrides["models"] = Path(args.models).expanduser()
    if getattr(args, "socket", None):
        overrides["socket"] = Path(args.socket).expanduser()
    env = os.environ if env is None else env
    config = getattr(args, "config", None) or env.get("OLLAMA_ACTORS_CONFIG", "").strip().strip("\"'")
    if config and not Path(config).expanduser().is_file():  # a file named on purpose must be there
        raise ValueError(f"configuration file {config} not found")
    config_path = Path(config).expanduser() if config else None
    return load_settings(env, config_path=config_path, overrides=overrides)


def ensure_keypair(path: Path) -> bool:
    """Create the user's registry key at ``path`` if missing, as ``ollama serve`` does.

    Prints Ollama's two lines (the path, then the public key to register on
    ollama.com) to stderr when the key is created, and returns True then. A key
    that cannot be written (read-only home) is logged as a warning and the daemon
    starts anyway: only a registry that asks for a signed token request needs it.
    """
    try:
        created = Ed25519Signer(path).ensure()
        public = path.with_name(path.name + ".pub").read_text(encoding="utf-8") if created else ""
    except (OSError, ValueError) as error:
        structlog.get_logger().warning("keypair_not_created", path=str(path), error=str(error))
        return False
    if created:
        sys.stderr.write(f"Couldn't find '{path}'. Generating new private key.\n")
        sys.stderr.write(f"Your new public key is: \n\n{public}\n")
        sys.stderr.flush()
    return created


def serve(args: argparse.Namespace) -> int:
    """Entry point of ``ollama-actors serve`` (called by the CLI)."""
    try:
        settings = settings_from_args(args)
        CorsPolicy.from_origins(settings.origins)  # a malformed OLLAMA_ORIGINS stops the start
        socket_gid(settings.socket_group)  # so does an unknown socket group
        tracing = open_tracing(settings)  # and tracing asked for without its packages
    except (ValueError, OSError) as error:
        sys.stderr.write(f"Error: {error}\n")
        return 2
    configure_logging(debug=settings.debug)
    ensure_keypair(default_key_path())
    # Everything imported and built so far lives as long as the daemon: move it out
    # of the collector's generations, so full collections (tens of ms over ~90k
    # objects, several per thousand requests) only walk what requests create.
    gc.collect()
    gc.freeze()
    try:
        systemd = SystemdEnv.take(os.environ)  # systemd's protocol variables, read once here
        outcome = trio.run(lambda: serve_daemon(settings, handle_signals=True, systemd=systemd, tracing=tracing))
    except OSError as error:
        structlog.get_logger().error("daemon_failed_to_start", error=str(error))
        return 2
    return 1 if outcome.root_failed else 0
