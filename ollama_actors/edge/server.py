"""Hypercorn on trio: binds (TCP, unix socket, systemd fds), graceful shutdown.

``serve_http`` is started with ``nursery.start`` and reports the bound
addresses; it stops through its ``shutdown_trigger`` (never by cancelling its
nursery), letting streams finish within the grace period.
"""

from __future__ import annotations

import grp
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from quart_trio import QuartTrio

from ollama_actors.settings import Settings

__all__ = ["hypercorn_config", "prepare_unix_socket", "serve_http", "socket_gid"]


def socket_gid(group: str | None) -> int | None:
    """The gid for ``socket_group`` (a name or a number); ValueError if unknown."""
    if group is None:
        return None
    if group.isdigit():
        return int(group)
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise ValueError(f"unknown socket group {group!r}: name an existing group or a gid") from None


def prepare_unix_socket(path: Path) -> None:
    """Make the socket's folder; remove a stale socket file nobody listens on.

    Raises OSError if another daemon is listening there (we must not steal it).
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        path.unlink(missing_ok=True)  # stale: the previous daemon died without cleaning up
        return
    finally:
        probe.close()
    raise OSError(f"another daemon is already listening on {path}")


def hypercorn_config(settings: Settings, *, tcp: bool = True, fd_binds: list[str] | None = None) -> Config:
    """Binds: ``fd_binds`` (systemd socket activation) replace the TCP and unix binds."""
    config = Config()
    binds = [settings.bind] if tcp else []
    if settings.socket is not None:
        binds.append(f"unix:{settings.socket}")
    if fd_binds:
        binds = list(fd_binds)
    config.bind = binds
    config.graceful_timeout = settings.grace_period_s
    config.accesslog = None
    config.errorlog = "-"
    config.loglevel = "WARNING"
    config.keep_alive_timeout = 30
    config.umask = 0o117  # the unix socket: mode 0660, for the owner and its group
    gid = socket_gid(settings.socket_group)
    if gid is not None:  # Hypercorn chowns the socket file when both are set
        config.user, config.group = os.getuid(), gid
    return config


async def serve_http(
    app: QuartTrio,
    config: Config,
    *,
    shutdown_trigger: Callable[[], Awaitable[None]],
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until ``shutdown_trigger`` returns; reports the bound URLs."""
    try:
        await serve(app, config, shutdown_trigger=shutdown_trigger, task_status=task_status)
    finally:
        for bind in config.bind:
            if bind.startswith("unix:"):
                Path(bind[5:]).unlink(missing_ok=True)
