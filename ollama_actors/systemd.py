"""The two systemd protocols the daemon speaks: ``sd_notify`` and socket activation.

``sd_notify`` is written by hand: it is one datagram (``READY=1``, ``STATUS=…``,
``STOPPING=1``, ``WATCHDOG=1``) sent to the unix socket named by ``NOTIFY_SOCKET``
(``@`` meaning the abstract namespace). Twenty lines here avoid a C dependency
(libsystemd through ``systemd-python``/``sdnotify``) that would need headers on
every machine and would do nothing more.

Socket activation: systemd passes listening sockets as fds 3, 4, … and names their
count in ``LISTEN_FDS`` and the receiving process in ``LISTEN_PID``. We check the
pid, turn them into Hypercorn ``fd://N`` binds, and clear the variables so that
children (runner processes) never believe the fds are theirs.

These variables are systemd's protocol, not settings; ``SystemdEnv.take`` reads
them once, at the entry point (``daemon.serve``).
"""

from __future__ import annotations

import os
import socket
from collections.abc import MutableMapping
from dataclasses import dataclass

__all__ = ["LISTEN_FDS_START", "SystemdEnv"]

LISTEN_FDS_START = 3


@dataclass(frozen=True)
class SystemdEnv:
    notify_socket: str | None = None
    watchdog_usec: int | None = None
    listen_fds: tuple[int, ...] = ()

    @classmethod
    def take(cls, environ: MutableMapping[str, str], pid: int | None = None) -> SystemdEnv:
        """Read the variables; remove the socket-activation ones (sd_listen_fds(unset=1))."""
        pid = os.getpid() if pid is None else pid
        fds: tuple[int, ...] = ()
        listen_pid = environ.pop("LISTEN_PID", "")
        count = environ.pop("LISTEN_FDS", "")
        environ.pop("LISTEN_FDNAMES", None)
        if listen_pid.isdigit() and int(listen_pid) == pid and count.isdigit():
            fds = tuple(range(LISTEN_FDS_START, LISTEN_FDS_START + int(count)))
            for fd in fds:
                os.set_inheritable(fd, False)  # runner processes must not hold them
        watchdog = environ.get("WATCHDOG_USEC", "")
        watchdog_pid = environ.get("WATCHDOG_PID", "")
        watchdog_ok = watchdog.isdigit() and int(watchdog) > 0 and (not watchdog_pid or watchdog_pid == str(pid))
        return cls(
            notify_socket=environ.get("NOTIFY_SOCKET") or None,
            watchdog_usec=int(watchdog) if watchdog_ok else None,
            listen_fds=fds,
        )

    @property
    def fd_binds(self) -> list[str]:
        return [f"fd://{fd}" for fd in self.listen_fds]

    @property
    def watchdog_interval_s(self) -> float | None:
        return None if self.watchdog_usec is None else self.watchdog_usec / 2 / 1_000_000

    def notify(self, *lines: str) -> bool:
        """Send ``lines`` as one datagram; False (never an error) when not under systemd."""
        if not self.notify_socket:
            return False
        address = self.notify_socket
        if address.startswith("@"):
            address = "\0" + address[1:]
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(address)
                sock.sendall("\n".join(lines).encode())
        except OSError:
            return False
        return True
