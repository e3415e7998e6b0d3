"""The ``ollama-actors`` command line: parse arguments, pick the daemon, run one command.

This is the CLI's only entry point and the only place that reads ``os.environ``
and the real terminal; everything below receives them. It follows Ollama's CLI
(reference §2): the same commands and flags, a ``HEAD /`` heartbeat before every
client command, ``Error: <message>`` on stderr with exit status 1 for any failure
(usage errors included, as cobra does), and ``serve`` handing over to the daemon.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from collections.abc import Mapping, Sequence
from importlib import metadata
from typing import NoReturn

from ollama_actors.cli.client import ClientError, DaemonClient
from ollama_actors.cli.commands import COMMANDS, Console
from ollama_actors.cli.host import resolve_daemon_address
from ollama_actors.domain.errors import OllamaError

__all__ = ["build_parser", "client_version", "main", "parse_args"]


class UsageError(Exception):
    """Bad command-line arguments (reported as ``Error: <message>``, exit 1)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse would exit 2 with its own format; Ollama (cobra) says "Error: ...".
        raise UsageError(message)


CLIENT_ENV = {
    "OLLAMA_HOST": "IP Address for the ollama-actors daemon (default 127.0.0.1:11434)",
    "OLLAMA_SOCKET": "unix socket of the daemon (default $XDG_RUNTIME_DIR/ollama-actors.sock)",
    "OLLAMA_NOHISTORY": "Do not preserve readline history",
    "OLLAMA_API_KEY": "sent as 'Authorization: Bearer <key>' when the daemon requires a key",
}


def _env_docs(variables: Mapping[str, str]) -> str:
    """Ollama's "Environment Variables:" help section."""
    return "Environment Variables:\n" + "".join(f"      {k:<27}   {v}\n" for k, v in variables.items())


def _client_env(*names: str) -> str:
    return _env_docs({name: CLIENT_ENV[name] for name in names})


def client_version() -> str:
    """This package's version, ``0.0.0`` when it runs from an uninstalled tree."""
    try:
        return metadata.version("ollama-actors")
    except metadata.PackageNotFoundError:
        return "0.0.0"


Subcommands = argparse._SubParsersAction  # argparse names no public type for it


def _command(
    sub: Subcommands[_Parser], name: str, text: str, *, env: str | None = None, aliases: Sequence[str] = ()
) -> argparse.ArgumentParser:
    """A subcommand whose help ends with Ollama's "Environment Variables:" section."""
    return sub.add_parser(
        name,
        aliases=list(aliases),
        help=text,
        epilog=env or _client_env("OLLAMA_HOST", "OLLAMA_SOCKET"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _add_serve(sub: Subcommands[_Parser]) -> None:
    from ollama_actors.settings import ENV_VARIABLES

    serve = _command(sub, "serve", "Start the ollama-actors daemon", env=_env_docs(ENV_VARIABLES), aliases=["start"])
    serve.add_argument("--host", help="address to listen on (default: OLLAMA_HOST or 127.0.0.1:11434)")
    serve.add_argument("--models", help="model store directory (default: OLLAMA_MODELS or ~/.ollama/models)")
    serve.add_argument("--socket", help="unix socket for the CLI (default: OLLAMA_SOCKET)")
    serve.add_argument("--config", help="TOML configuration file")


def _add_run(sub: Subcommands[_Parser]) -> argparse.ArgumentParser:
    run = _command(sub, "run", "Run a model", env=_client_env("OLLAMA_HOST", "OLLAMA_SOCKET", "OLLAMA_NOHISTORY"))
    run.add_argument("model")
    run.add_argument("prompt", nargs="*")
    run.add_argument("--format", default="", help='Response format (e.g. "json")')
    run.add_argument("--keepalive", default=None, help="Duration to keep a model loaded (e.g. 5m)")
    run.add_argument("--verbose", action="store_true", help="Show timings for response")
    run.add_argument("--insecure", action="store_true", help="Use an insecure registry")
    run.add_argument("--nowordwrap", action="store_true", help="Don't wrap words to the next line automatically")
    run.add_argument(
        "--think", default=None, metavar="VALUE", help="Enable thinking mode: true/false or high/medium/low/max"
    )
    run.add_argument("--hidethinking", action="store_true", help="Hide thinking output (if provided)")
    run.add_argument(
        "--truncate",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="Truncate embedding input to the context length",
    )
    run.add_argument("--dimensions", type=int, default=0, help="Truncate output embeddings to this dimension")
    return run


def _add_model_commands(sub: Subcommands[_Parser]) -> None:
    create = _command(sub, "create", "Create a model from a Modelfile")
    create.add_argument("model")
    create.add_argument("-f", "--file", default=None, help='Name of the Modelfile (default "Modelfile")')
    create.add_argument("-q", "--quantize", default=None, help="Quantize model to this level (e.g. q4_K_M)")
    show = _command(sub, "show", "Show information for a model")
    show.add_argument("model")
    for field in ("license", "modelfile", "parameters", "system", "template"):
        show.add_argument(f"--{field}", action="store_true", help=f"Show {field} of a model")
    show.add_argument("-v", "--verbose", action="store_true", help="Show detailed model information")
    _command(sub, "stop", "Stop a running model").add_argument("model")
    for name, text in (("pull", "Pull a model from a registry"), ("push", "Push a model to a registry")):
        transfer = _command(sub, name, text)
        transfer.add_argument("model")
        transfer.add_argument("--insecure", action="store_true", help="Use an insecure registry")
    _command(sub, "list", "List models", aliases=["ls"]).add_argument("prefix", nargs="?")
    _command(sub, "ps", "List running models").add_argument("prefix", nargs="?")
    cp = _command(sub, "cp", "Copy a model")
    cp.add_argument("source")
    cp.add_argument("destination")
    _command(sub, "rm", "Remove a model").add_argument("models", nargs="+", metavar="MODEL")


def _parsers() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    parser = _Parser(prog="ollama-actors", description="Large language model runner (Ollama in Python)")
    parser.add_argument("-v", "--version", action="store_true", help="Show version information")
    sub = parser.add_subparsers(dest="command", metavar="command")
    _add_serve(sub)
    _add_model_commands(sub)
    return parser, _add_run(sub)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (its ``error`` raises :class:`UsageError`)."""
    return _parsers()[0]


def _command_index(argv: Sequence[str]) -> int | None:
    # The root has only flags, so the first non-flag word is the command.
    return next((i for i, word in enumerate(argv) if not word.startswith("-")), None)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse ``argv`` like cobra: ``run``'s prompt words and flags may be mixed freely.

    A bare ``--think`` means ``--think=true`` (a following word stays part of the
    prompt, as with cobra's optional flag values).

    Raises:
        UsageError: unknown command, missing or extra arguments, bad flag values.
    """
    parser, run_parser = _parsers()
    index = _command_index(argv)
    if index is None or argv[index] != "run":
        return parser.parse_args(argv)
    rest = ["--think=true" if word == "--think" else word for word in argv[index + 1 :]]
    try:
        args = run_parser.parse_intermixed_args(rest)
    except UsageError as exc:  # intermixed parsing also names the optional prompt
        raise UsageError(str(exc).replace("model, prompt", "model")) from None
    args.command, args.version = "run", False
    return args


def _console(env: Mapping[str, str]) -> Console:
    try:
        width = os.get_terminal_size(sys.stdout.fileno()).columns or 80
    except (OSError, ValueError):
        width = 80
    return Console(
        out=sys.stdout,
        err=sys.stderr,
        inp=sys.stdin,
        out_is_tty=sys.stdout.isatty(),
        err_is_tty=sys.stderr.isatty(),
        in_is_tty=sys.stdin is not None and sys.stdin.isatty(),
        width=width,
        env=env,
    )


def _serve(args: argparse.Namespace) -> int:
    from ollama_actors.daemon import serve

    return serve(args)


def _run_client_command(args: argparse.Namespace, env: Mapping[str, str], console: Console) -> int:
    system = f"{platform.machine()} {sys.platform}"
    user_agent = f"ollama-actors/{client_version()} ({system}) Python/{platform.python_version()}"
    api_key = env.get("OLLAMA_API_KEY", "").strip() or None
    with DaemonClient(resolve_daemon_address(env), user_agent=user_agent, api_key=api_key) as client:
        client.heartbeat()
        COMMANDS[args.command](client, args, console)
    return 0


def main(
    argv: Sequence[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    console: Console | None = None,
) -> int:
    """Run the CLI and return the process exit status (0 ok, 1 error, 130 interrupted)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    env = os.environ if env is None else env
    try:
        args = parse_args(argv)
    except UsageError as exc:
        sys.stderr.write(f"Error: {exc}\n")
        return 1
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    if args.version:
        sys.stdout.write(f"ollama-actors version is {client_version()}\n")
        return 0
    if args.command is None:
        build_parser().print_help()
        return 0
    if args.command in ("serve", "start"):
        return _serve(args)
    console = console or _console(env)
    try:
        return _run_client_command(args, env, console)
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep Python from
        # complaining when it flushes stdout at exit.
        if console.out is sys.stdout:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (ClientError, OllamaError, OSError) as exc:
        console.err.write(f"Error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130
