"""One function per CLI command: arguments → API calls → rendered output.

Commands only translate (style §6): they read parsed arguments, call the daemon
through :class:`DaemonClient`, and print what :mod:`render` makes of the replies.
No business rule lives here; the daemon decides everything about models.

Output follows Ollama: results on stdout; progress (pull, push, create), warnings
and ``--verbose`` statistics on stderr. Failures raise (:class:`CommandError`,
:class:`ClientError`, ``OllamaError``); the entry point prints ``Error: <message>``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pwd
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any, Literal, TextIO

from ollama_actors.cli import render
from ollama_actors.cli.client import JSON, ClientError, DaemonClient
from ollama_actors.cli.modelfile_request import Upload, build_create_request
from ollama_actors.domain.durations import parse_go_duration
from ollama_actors.domain.errors import InvalidModelNameError, InvalidRequestError, OllamaError
from ollama_actors.domain.names import is_valid_name, parse_name

__all__ = [
    "COMMANDS",
    "CommandError",
    "Console",
    "OsFiles",
    "ProgressView",
    "ResponsePrinter",
    "Spinner",
    "copy_command",
    "create_command",
    "keep_alive_value",
    "list_command",
    "ps_command",
    "pull_command",
    "push_command",
    "remove_command",
    "run_command",
    "show_command",
    "stop_command",
    "unload_model",
]

SHOW_FIELDS = ("license", "modelfile", "parameters", "system", "template")
CHUNK = 1 << 20
SPIN_INTERVAL_S = 0.1  # Ollama's progress redraws every 100 ms


class CommandError(OllamaError):
    """A command cannot go on; the message is shown as ``Error: <message>``."""


@dataclass(frozen=True)
class Console:
    """The process's terminal as commands see it (injected so tests can capture it)."""

    out: TextIO
    err: TextIO
    inp: TextIO
    out_is_tty: bool = False
    err_is_tty: bool = False
    in_is_tty: bool = False
    width: int = 80
    env: Mapping[str, str] | None = None


# --- progress ----------------------------------------------------------------------


class ProgressView:
    """Progress lines on stderr: redrawn in place on a terminal, final states only in a pipe.

    Each item has a key (a status text, or a digest for a transfer). On a
    terminal the latest item's line is rewritten until another item starts; in a
    pipe an item is printed once, when it is final, so logs stay readable.
    """

    RATE_WINDOW_S = 5.0  # the speed is measured over the last few seconds, as Ollama's bar

    def __init__(
        self, stream: TextIO, *, tty: bool, width: int = 80, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._stream, self._tty, self._width = stream, tty, width
        self._current: str | None = None
        self._printed: set[str] = set()
        self._clock = clock
        self._samples: dict[str, deque[tuple[float, int]]] = {}

    def line(self, key: str, text: str, *, final: bool = True) -> None:
        """Show ``text`` as the state of item ``key``."""
        if self._tty:
            prefix = "\r\x1b[K" if key == self._current else ("\n" if self._current is not None else "")
            self._stream.write(prefix + text)
            self._current = key
        elif final and key not in self._printed:
            self._stream.write(text + "\n")
            self._printed.add(key)
        self._stream.flush()

    def status(self, text: str) -> None:
        """A status line (``pulling manifest``, ``writing manifest``, ``success``)."""
        if text and text != self._current:
            self.line(text, text)

    def bar(self, key: str, message: str, completed: int, total: int) -> None:
        """A transfer bar for ``key`` (a digest)."""
        line = render.progress_line(message, completed, total, self._width, rate=self._rate(key, completed))
        self.line(key, line, final=completed >= total)

    def _rate(self, key: str, completed: int) -> float:
        """Bytes per second for ``key`` over the last ``RATE_WINDOW_S`` (0 until measurable)."""
        now = self._clock()
        samples = self._samples.setdefault(key, deque())
        samples.append((now, completed))
        while len(samples) > 2 and now - samples[0][0] > self.RATE_WINDOW_S:
            samples.popleft()
        (start, first), (end, last) = samples[0], samples[-1]
        return (last - first) / (end - start) if end - start >= 0.1 and last > first else 0.0

    def close(self) -> None:
        """End the in-place line on a terminal."""
        if self._tty and self._current is not None:
            self._stream.write("\n")
            self._stream.flush()
        self._current = None


def _pull_label(status: str, digest: str) -> str:
    return f"pulling {digest.removeprefix('sha256:').strip()[:12]}:"


def _status_label(verb: str) -> Callable[[str, str], str]:
    return lambda status, digest: status or f"{verb} {digest[7:19]}..."


def _show_transfer(
    progress: ProgressView, items: Iterator[JSON], label: Callable[[str, str], str], *, skip_empty: bool
) -> None:
    """Render a pull/push/create progress stream: a bar per digest, a line per status."""
    for item in items:
        digest, status = str(item.get("digest") or ""), str(item.get("status") or "")
        completed, total = int(item.get("completed") or 0), int(item.get("total") or 0)
        if not digest:
            progress.status(status)
        elif not (skip_empty and completed == 0):  # pull skips a layer's first 0% line, as Ollama
            # Keyed by status too: create's "quantizing …" bar names the digest that
            # was just uploaded under "copying file …".
            progress.bar(f"{status} {digest}", label(status, digest), completed, total)


# --- list, ps, show, cp, rm, stop ----------------------------------------------------


def list_command(client: DaemonClient, args: argparse.Namespace, console: Console) -> None:
    """``list [PREFIX]``: GET /api/tags as a table."""
    now = datetime.now(timezone.utc)
    console.out.write(render.render_list(client.list_models(), now, args.prefix or ""))


def ps_command(client: DaemonClient, args: argparse.Namespace, console: Console) -> None:
    """``ps [PREFIX]``: GET /api/ps as a table."""
    now = datetime.now(timezone.utc)
    console.out.write(render.render_ps(client.list_running(), now, args.prefix or ""))


def show_command(client: DaemonClient, args: argparse.Namespace, console: Console) -> None:
    """``show MODEL``: POST /api/show; one raw field with a selector flag, else the info view."""
    chosen = [f for f in SHOW_FIELDS if getattr(args, f, False)]
    if len(chosen) > 1:
        raise CommandError(
            "only one of '--license', '--modelfile', '--parameters', '--system', or '--template' can be specified"
        )
    resp = client.show(args.model, verbose=args.verbose)
    if "image" in (resp.get("capabilities") or []):
        raise CommandError("image generation models are not currently supported")
    if chosen:
        console.out.write(render.render_show_field(resp, chosen[0]))
    else:
        console.out.write(render.render_show(resp, args.verbose))


def copy_command(client: DaemonClient, args: argparse.Namespace, console: Console) -> None:
    """``cp SOURCE DESTINATION``: POST /api/copy."""
    client.copy(args.source, args.destination)
    console.out.write(f"copied '{args.source}' to '{args.destination}'\n")


def unload_model(client: DaemonClient, model: str) -> None:
    """Unload ``model`` now: POST /api/show (it must exist), then /api/generate with keep_alive 0."""
    client.show(model)
    for _ in client.generate({"model": model, "keep_alive": 0}):
        pass


def remove_command(client: DaemonClient, args: argparse.Namespace, console: Console) -> None:
    """``rm MODEL...``: unload each model (as Ollama does), then DELETE /api/delete."""
    for model in args.models:
        try:
            unload_model(client, model)
        except ClientError as exc:
            if "not found" not in str(exc).lower():
                console.err.write(f"Warning: unable to stop model '{model}'\n")
        client.delete(model)
        console.out.write(f"deleted '{model}'\n")


def stop_command(client: DaemonClient, args: argparse.Namespace, console: Console) -> None:
    """``stop MODEL``: POST /api/generate with keep_alive 0."""
    try:
        unload_model(client, args.model)
    except ClientError as exc:
        if "not found" in str(exc):
            raise CommandError(f'couldn\'t find model "{args.model}" to stop') from exc
        raise


# --- pull, push --------------------------------------------------------------------


def _pull(client: DaemonClient, model: str, insecure: bool, console: Console) -> None:
    progress = ProgressView(console.err, tty=console.err_is_tty, width=console.width)
    body: JSON = {"model": model, **({"insecure": True} if insecure else {})}
    try:
        _show_transfer(progress, client.pull(body), _pull_label, skip_empty=True)
    finally:
        progress.close()


def pull_command(client: DaemonClient, args: argparse.Namespace, console: Console) -> None:
    """``pull MODEL``: POST /api/pull, progress on stderr."""
    _pull(client, args.model, args.insecure, console)


def push_command(client: DaemonClient, args: argparse.Namespace, console: Console) -> None:
    """``push MODEL``: POST /api/push, progress on stderr, then where the model went."""
    progress = ProgressView(console.err, tty=console.err_is_tty, width=console.width)
    body: JSON = {"model": args.model, **({"insecure": True} if args.insecure else {})}
    try:
        _show_transfer(progress, client.push(body), _status_label("pushing"), skip_empty=False)
    except ClientError as exc:
        text = str(exc).lower()
        if "access denied" in text or "unauthorized" in text:
            raise CommandError(
                "you are not authorized to push to this namespace, create the model under a namespace you own"
            ) from exc
        raise
    finally:
        progress.close()
    console.out.write(f"\nYou can find your model at:\n\n\t{_push_destination(args.model)}\n")


def _push_destination(model: str) -> str:
    """Where a pushed model can be found: an ollama.com page, else its full name."""
    try:
        name = parse_name(model)
    except InvalidModelNameError:
        return model
    if name.host.endswith((".ollama.ai", ".ollama.com")):
        return "https://ollama.com/" + name.display.removesuffix(":latest")
    return name.full


# --- create ------------------------------------------------------------------------


class OsFiles:
    """The real file system for :func:`build_create_request` (and the blob uploads)."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def kind(self, path: str) -> Literal["file", "dir"] | None:
        """``"dir"``, ``"file"`` or ``None``."""
        if os.path.isdir(path):
            return "dir"
        return "file" if os.path.exists(path) else None

    def listing(self, directory: str) -> Sequence[str]:
        """Files at the top level of ``directory`` and one level down."""
        found = []
        for entry in sorted(os.scandir(directory), key=lambda e: e.name):
            if entry.is_file():
                found.append(entry.name)
            elif entry.is_dir():
                found += [f"{entry.name}/{sub.name}" for sub in os.scandir(entry.path) if sub.is_file()]
        return found

    def realpath(self, path: str) -> str:
        """Symbolic links resolved."""
        return os.path.realpath(path)

    def digest(self, path: str) -> str:
        """SHA-256 of the file, read in 1 MiB chunks."""
        sha = hashlib.sha256()
        with open(path, "rb") as handle:
            while block := handle.read(CHUNK):
                sha.update(block)
        return f"sha256:{sha.hexdigest()}"

    def expanduser(self, path: str) -> str:
        """``~`` from ``HOME`` (else the password database), ``~user`` from the database."""
        user, _, rest = path[1:].partition("/")
        if user:
            try:
                home = pwd.getpwnam(user).pw_dir
            except KeyError as exc:
                raise InvalidRequestError(f"failed to find user '{user}': user: unknown user {user}") from exc
        else:
            home = self._env.get("HOME") or pwd.getpwuid(os.getuid()).pw_dir
        return os.path.join(home, rest) if rest else home


def _read_modelfile(file_arg: str | None) -> tuple[str, str]:
    """The Modelfile's text and directory; no default ``Modelfile`` means ``FROM .``."""
    path = os.path.abspath(file_arg or "Modelfile")
    if not os.path.exists(path):
        if file_arg:
            raise CommandError("specified Modelfile wasn't found")
        return "FROM .\n", os.getcwd()
    with open(path, encoding="utf-8-sig") as handle:
        return handle.read(), os.path.dirname(path)


def _upload(client: DaemonClient, upload: Upload, progress: ProgressView) -> None:
    """Ensure the daemon holds ``upload`` as a blob: HEAD, then POST only if missing."""
    label = f"copying file {upload.digest}"
    progress.line(upload.digest, f"{label} 0%", final=False)
    if not client.blob_exists(upload.digest):
        size = os.path.getsize(upload.path)

        def chunks() -> Iterator[bytes]:
            sent = 0
            with open(upload.path, "rb") as handle:
                while block := handle.read(CHUNK):
                    sent += len(block)
                    progress.line(upload.digest, f"{label} {100 * sent // max(size, 1)}%", final=False)
                    yield block

        client.upload_blob(upload.digest, chunks(), size)
    progress.line(upload.digest, f"{label} 100%")


def create_command(client: DaemonClient, args: argparse.Namespace, console: Console) -> None:
    """``create MODEL [-f Modelfile] [-q TYPE]``: parse, upload local files, POST /api/create."""
    from ollama_actors.modelfile.domain import parameter_warnings, parameters_dict, parse_modelfile

    if not is_valid_name(args.model):
        raise CommandError(f"invalid model name: {args.model}")
    text, directory = _read_modelfile(args.file)
    modelfile = parse_modelfile(text)
    for warning in parameter_warnings(modelfile.instructions):
        console.out.write(warning + "\n")  # Ollama prints these on stdout
    progress = ProgressView(console.err, tty=console.err_is_tty, width=console.width)
    try:
        progress.status("gathering model components")
        plan = build_create_request(
            args.model,
            modelfile.instructions,
            parameters_dict(modelfile.instructions),
            modelfile_dir=directory,
            files=OsFiles(console.env or {}),
            quantize=args.quantize,
        )
        for upload in plan.uploads:
            _upload(client, upload, progress)
        _show_transfer(progress, client.create(plan.body), _status_label("pulling"), skip_empty=False)
    finally:
        progress.close()


# --- run ---------------------------------------------------------------------------


def keep_alive_value(text: str | None) -> int | str | None:
    """``--keepalive`` as Ollama's client sends it: ``-1`` when negative, else ``"5m0s"``.

    Raises:
        InvalidRequestError: not a Go duration (``time: invalid duration "x"``).
    """
    if text is None or text == "":
        return None
    seconds = parse_go_duration(text)
    return -1 if seconds < 0 else render.go_duration(round(seconds * 1e9))


def _format_value(text: str | None) -> Any:  # Any: "json" or a JSON Schema object
    if not text:
        return None
    if text == "json":
        return "json"
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CommandError(f'invalid format: "{text}"; expected "json" or a valid JSON Schema object') from exc


def _think_value(text: str | None) -> bool | str | None:
    if text is None:
        return None
    if text in ("", "true"):
        return True
    if text == "false":
        return False
    if text in ("high", "medium", "low", "max"):
        return text
    raise CommandError(f'invalid value for --think: "{text}" (must be true, false, high, medium, low, or max)')


class ResponsePrinter:
    """Prints a streamed answer: reasoning between ``Thinking...`` markers, then content.

    Word-wraps on a terminal (unless disabled) and records the full content so a
    chat can append the assistant's message to its history.
    """

    def __init__(self, console: Console, *, hide_thinking: bool = False, word_wrap: bool = True) -> None:
        self._console, self._hide = console, hide_thinking
        self._wrap = word_wrap and console.out_is_tty
        self._plain = not console.out_is_tty
        self._state = render.WrapState()
        self._opened = self._closed = False
        self.content: list[str] = []
        self.thinking: list[str] = []

    def _show(self, text: str) -> None:
        if self._wrap:
            self._state, text = render.wrap_stream(self._state, text, self._console.width)
        self._console.out.write(text)

    def end_line(self) -> None:
        """Finish a partly printed answer with a newline (before an error message)."""
        printed = "".join(self.content)
        if (printed and not printed.endswith("\n")) or self._opened:
            self._console.out.write("\n")
            self._console.out.flush()

    def feed(self, content: str, thinking: str = "", tool_calls: Sequence[Mapping[str, Any]] = ()) -> None:
        """Print one chunk of a generate/chat stream."""
        out = self._console.out
        if thinking and not self._hide:
            if not self._opened:
                out.write(render.thinking_open(self._plain))
                self._opened, self._closed = True, False
            self.thinking.append(thinking)
            self._show(thinking)
        if self._opened and not self._closed and (content or tool_calls):
            if not "".join(self.thinking).endswith("\n"):
                out.write("\n")
            out.write(render.thinking_close(self._plain))
            self._opened, self._closed = False, True
            self._state = render.WrapState()
        self.content.append(content)
        self._show(content)
        if tool_calls:
            out.write(render.tool_calls_text(tool_calls, self._plain))
        out.flush()


class Spinner:
    """Ollama's spinner on stderr while the model loads or the first token is awaited.

    Only on a terminal (in a pipe it writes nothing). The first frame is drawn at
    once, then one every 100 ms from a helper thread; :meth:`stop` (idempotent)
    waits for that thread, so the spinner never writes after it returns, then
    erases its line and shows the cursor again.
    """

    def __init__(self, console: Console) -> None:
        self._stream, self._enabled = console.err, console.err_is_tty
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Spinner:
        """Begin turning (a no-op off a terminal); returns ``self``."""
        if self._enabled and self._thread is None:
            self._thread = threading.Thread(target=self._spin, name="spinner", daemon=True)
            self._thread.start()
        return self

    def _spin(self) -> None:
        frame = 0
        while True:
            self._stream.write(render.spinner_frame(frame))
            self._stream.flush()
            frame += 1
            if self._stopped.wait(SPIN_INTERVAL_S):
                return

    def stop(self) -> None:
        """Stop turning and clear the spinner's line."""
        if self._thread is None:
            return
        self._stopped.set()
        self._thread.join()
        self._thread = None
        self._stream.write(render.spinner_clear())
        self._stream.flush()


def _show_or_pull(client: DaemonClient, model: str, insecure: bool, console: Console) -> JSON:
    """POST /api/show; on 404 pull the model (progress on stderr) and show it again."""
    try:
        return client.show(model)
    except ClientError as missing:
        if missing.status != 404:
            raise
        try:
            _pull(client, model, insecure, console)
        except ClientError as exc:
            if exc.status in (404, 405, 501):  # the daemon cannot pull: report the model missing
                raise missing from exc
            raise
    return client.show(model)


def _embed(client: DaemonClient, args: argparse.Namespace, prompt: str, console: Console) -> None:
    if not prompt:
        raise CommandError(
            f'embedding models require input text. Usage: ollama-actors run {args.model} "your text here"'
        )
    body: JSON = {"model": args.model, "input": prompt}
    if (keep_alive := keep_alive_value(args.keepalive)) is not None:
        body["keep_alive"] = keep_alive
    if args.truncate is not None:
        body["truncate"] = args.truncate
    if args.dimensions:
        body["dimensions"] = args.dimensions
    embeddings = client.embed(body).get("embeddings") or []
    if not embeddings:
        raise CommandError("no embeddings returned")
    console.out.write(json.dumps(embeddings[0], separators=(",", ":")) + "\n")


def _generate(client: DaemonClient, body: JSON, args: argparse.Namespace, console: Console) -> None:
    """One-shot POST /api/generate, streamed to stdout; Ctrl-C stops it quietly."""
    printer = ResponsePrinter(console, hide_thinking=args.hidethinking, word_wrap=not args.nowordwrap)
    latest: JSON = {}
    stream = client.generate(body)
    spinner = Spinner(console).start()
    try:
        for chunk in stream:
            spinner.stop()
            latest = chunk
            content, thinking = str(chunk.get("response") or ""), str(chunk.get("thinking") or "")
            printer.feed(content, thinking, chunk.get("tool_calls") or ())
    except KeyboardInterrupt:
        stream.close()
        return
    except ClientError:
        printer.end_line()  # so "Error: ..." does not trail the partial answer
        raise
    finally:
        spinner.stop()
    if body.get("prompt"):
        console.out.write("\n\n")
        console.out.flush()
    if latest.get("done") and args.verbose:
        console.err.write(render.render_metrics(latest))


def run_command(client: DaemonClient, args: argparse.Namespace, console: Console) -> None:
    """``run MODEL [PROMPT...]``: one-shot generate, or the REPL on a terminal.

    Stdin that is not a terminal is read and put before the prompt arguments
    (joined with a space), as Ollama does.
    """
    parts = list(args.prompt)
    if not console.in_is_tty:
        piped = console.inp.read()
        parts = [piped, *parts] if piped else parts
    interactive = not parts and console.in_is_tty and console.out_is_tty
    think = _think_value(args.think)
    info = _show_or_pull(client, args.model, args.insecure, console)
    capabilities = info.get("capabilities") or []
    if think is None and "thinking" in capabilities:
        think = True
    prompt = " ".join(parts)
    if "embedding" in capabilities:
        return _embed(client, args, prompt, console)
    if "image" in capabilities:
        raise CommandError("image generation models are not currently supported")
    body: JSON = {"model": args.model, "prompt": prompt}
    for key, value in (
        ("format", _format_value(args.format)),
        ("keep_alive", keep_alive_value(args.keepalive)),
        ("think", think),
    ):
        if value is not None:
            body[key] = value
    if interactive:
        from ollama_actors.cli.interactive import Session, run_interactive

        session = Session.from_run(args, body, info)
        return run_interactive(client, session, console)
    _generate(client, body, args, console)


COMMANDS: Mapping[str, Callable[[DaemonClient, argparse.Namespace, Console], None]] = MappingProxyType(
    {
        "create": create_command,
        "show": show_command,
        "run": run_command,
        "stop": stop_command,
        "pull": pull_command,
        "push": push_command,
        "list": list_command,
        "ls": list_command,
        "ps": ps_command,
        "cp": copy_command,
        "rm": remove_command,
    }
)
