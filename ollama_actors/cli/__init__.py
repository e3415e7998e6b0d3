"""The ``ollama-actors`` command line: an ordinary API client of the daemon.

``main`` is the console-script entry point; the client and address helpers are
public for end-to-end tests and tools that talk to a running daemon.
"""

from ollama_actors.cli.client import ClientError, DaemonClient, DaemonUnreachableError
from ollama_actors.cli.host import DaemonAddress, resolve_daemon_address
from ollama_actors.cli.main import main

__all__ = [
    "ClientError",
    "DaemonAddress",
    "DaemonClient",
    "DaemonUnreachableError",
    "main",
    "resolve_daemon_address",
]
