"""The ``run`` REPL: read a line, chat with the model, print the answer, keep the history.

A subset of Ollama's interactive mode (reference §2.2): prompt ``>>> `` (``... ``
while a ``\"\"\"`` block is open), ``/bye``/``/exit`` and Ctrl-D exit, Ctrl-C on an
empty line reminds how to exit and during an answer stops it, ``/?`` help,
``/set`` (system, template, parameter, verbose, quiet, format, noformat, think,
nothink, wordwrap, nowordwrap, history, nohistory), ``/show``, ``/clear``, ``/load``,
``/save``, ``/list``. Each turn sends the whole conversation to ``/api/chat``.

The session is a plain object owned by :func:`run_interactive` for the length of
the loop; line editing and history come from the standard ``readline`` module
when it is available (history in ``~/.ollama/history`` unless
``OLLAMA_NOHISTORY`` is set).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ollama_actors.cli import render
from ollama_actors.cli.client import JSON, ClientError, DaemonClient
from ollama_actors.cli.commands import Console, ResponsePrinter, Spinner
from ollama_actors.domain.errors import OllamaError

__all__ = ["Session", "chat", "preload", "run_interactive", "save_request", "typed_parameter"]

try:  # line editing and history where the platform has it
    import readline
except ImportError:  # pragma: no cover - e.g. some minimal builds
    readline = None  # type: ignore[assignment]

USAGE = """Available Commands:
  /set            Set session variables
  /show           Show model information
  /load <model>   Load a session or model
  /save <model>   Save your current session
  /clear          Clear session context
  /bye            Exit
  /?, /help       Help for a command
  /? shortcuts    Help for keyboard shortcuts

Use \"\"\" to begin a multi-line message.

"""
USAGE_SET = """Available Commands:
  /set parameter ...     Set a parameter
  /set system <string>   Set system message
  /set template <string> Set prompt template
  /set history           Enable history
  /set nohistory         Disable history
  /set wordwrap          Enable wordwrap
  /set nowordwrap        Disable wordwrap
  /set format json       Enable JSON mode
  /set noformat          Disable formatting
  /set verbose           Show LLM stats
  /set quiet             Disable LLM stats
  /set think             Enable thinking
  /set nothink           Disable thinking

"""
USAGE_SHOW = """Available Commands:
  /show info         Show details for this model
  /show license      Show model license
  /show modelfile    Show Modelfile for this model
  /show parameters   Show parameters for this model
  /show system       Show system message
  /show template     Show prompt template

"""
USAGE_SHORTCUTS = """Available keyboard shortcuts:
  Ctrl + a            Move to the beginning of the line (Home)
  Ctrl + e            Move to the end of the line (End)
   Alt + b            Move back (left) one word
   Alt + f            Move forward (right) one word
  Ctrl + k            Delete the sentence after the cursor
  Ctrl + u            Delete the sentence before the cursor
  Ctrl + w            Delete the word before the cursor

  Ctrl + l            Clear the screen
  Ctrl + c            Stop the model from responding
  Ctrl + d            Exit ollama-actors (/bye)

"""
USAGE_PARAMETERS = """Available Parameters:
  /set parameter seed <int>             Random number seed
  /set parameter num_predict <int>      Max number of tokens to predict
  /set parameter top_k <int>            Pick from top k num of tokens
  /set parameter top_p <float>          Pick token based on sum of probabilities
  /set parameter min_p <float>          Pick token based on top token probability * min_p
  /set parameter num_ctx <int>          Set the context size
  /set parameter temperature <float>    Set creativity level
  /set parameter repeat_penalty <float> How strongly to penalize repetitions
  /set parameter repeat_last_n <int>    Set how far back to look for repetitions
  /set parameter num_gpu <int>          The number of layers to send to the GPU
  /set parameter stop <string> <string> ...   Set the stop parameters

"""
QUOTES = '"""'


@dataclass
class Session:
    """What one REPL remembers between turns (model, settings, conversation)."""

    model: str
    think: bool | str | None = None
    format: Any = None  # Any: "json" or a JSON Schema object
    keep_alive: int | str | None = None
    verbose: bool = False
    word_wrap: bool = True
    hide_thinking: bool = False
    system: str = ""
    template: str = ""
    options: dict[str, Any] = field(default_factory=dict)  # Any: typed option values
    messages: list[JSON] = field(default_factory=list)
    loaded_messages: list[JSON] = field(default_factory=list)
    parent_model: str = ""

    @classmethod
    def from_run(cls, args: argparse.Namespace, body: JSON, info: JSON) -> Session:
        """The session ``run`` starts with: its flags plus the model's MESSAGE history."""
        return cls(
            model=args.model,
            think=body.get("think"),
            format=body.get("format"),
            keep_alive=body.get("keep_alive"),
            verbose=args.verbose,
            word_wrap=not args.nowordwrap,
            hide_thinking=args.hidethinking,
            loaded_messages=list(info.get("messages") or []),
            parent_model=str((info.get("details") or {}).get("parent_model") or ""),
        )


def _cut_suffix(text: str, suffix: str) -> tuple[str, bool]:
    return (text[: -len(suffix)], True) if text.endswith(suffix) else (text, False)


class _LineReader:
    """Reads lines with ``readline`` editing on a terminal, plainly otherwise."""

    def __init__(self, console: Console, history_file: str | None) -> None:
        self._console = console
        self._history_file = history_file
        self._use_input = readline is not None and console.inp is sys.stdin
        self.history = history_file is not None
        if self._use_input and history_file and os.path.exists(history_file):
            readline.read_history_file(history_file)

    def read(self, prompt: str) -> str:
        """One line without its newline; ``EOFError`` on Ctrl-D, ``KeyboardInterrupt`` on Ctrl-C."""
        if self._use_input:
            line = input(prompt)
            if not self.history and readline.get_current_history_length():
                readline.remove_history_item(readline.get_current_history_length() - 1)
            return line
        self._console.out.write(prompt)
        self._console.out.flush()
        line = self._console.inp.readline()
        if not line:
            raise EOFError
        return line.rstrip("\n")

    def close(self) -> None:
        """Save the history file."""
        if self._use_input and self._history_file:
            os.makedirs(os.path.dirname(self._history_file), exist_ok=True)
            readline.write_history_file(self._history_file)


def _history_file(env: Mapping[str, str]) -> str | None:
    no_history = env.get("OLLAMA_NOHISTORY", "").strip().strip("\"'")
    if no_history and no_history not in ("0", "f", "F", "false", "FALSE", "False"):
        return None
    home = env.get("HOME") or os.path.expanduser("~")
    return os.path.join(home, ".ollama", "history")


class _Repl:
    """The loop's state machine: multi-line buffer, slash commands, chat turns."""

    def __init__(self, client: DaemonClient, session: Session, console: Console, reader: _LineReader) -> None:
        self.client, self.session, self.console, self.reader = client, session, console, reader
        self.buffer = ""
        self.multiline: str | None = None  # "prompt", "system" or "template" while a """ block is open
        self.commands: dict[str, Callable[[list[str]], bool]] = {
            "/bye": self._bye,
            "/exit": self._bye,
            "/?": self._help,
            "/help": self._help,
            "/set": self._set,
            "/show": self._show,
            "/clear": self._clear,
            "/load": self._load,
            "/save": self._save,
            "/list": self._list,
        }
        # what a /set system|template """ block sets once it is closed
        self.settings: dict[str, Callable[[str], None]] = {
            "system": lambda text: self._set_system(text, replace=False),
            "template": self._set_template,
        }

    def say(self, text: str) -> None:
        self.console.out.write(text + "\n")
        self.console.out.flush()

    def tell(self, text: str) -> None:
        self.console.err.write(text)
        self.console.err.flush()

    # --- the loop ----------------------------------------------------------------

    def run(self) -> None:
        while True:
            try:
                line = self.reader.read("... " if self.multiline else ">>> ")
            except EOFError:
                self.say("")
                return
            except KeyboardInterrupt:
                if not self.buffer:
                    self.say("\nUse Ctrl + d or /bye to exit.")
                self.buffer, self.multiline = "", None
                continue
            if not self.handle(line):
                return

    def handle(self, line: str) -> bool:
        """Process one input line; False ends the session."""
        if self.multiline is not None:
            before, closed = _cut_suffix(line, QUOTES)
            self.buffer += before
            if not closed:
                self.buffer += "\n"
                return True
            if self.multiline in self.settings:
                self.settings[self.multiline](self.buffer)
                self.buffer = ""
            self.multiline = None
        elif line.startswith(QUOTES):
            text, closed = _cut_suffix(line[len(QUOTES) :], QUOTES)
            self.buffer += text
            if not closed:
                self.buffer += "\n"
                self.multiline = "prompt"
        elif line.startswith("/"):
            words = line.split()
            handler = self.commands.get(words[0])
            if handler is None:
                self.say(f"Unknown command '{words[0]}'. Type /? for help")
                return True
            return handler(words)
        else:
            self.buffer += line
        if self.buffer and self.multiline is None:
            self._turn(self.buffer)
            self.buffer = ""
        return True

    def _turn(self, text: str) -> None:
        self.session.messages.append({"role": "user", "content": text})
        try:
            answer = chat(self.client, self.session, self.console)
        except ClientError as exc:
            if "does not support thinking" in str(exc) or "invalid think value" in str(exc):
                self.say(f"error: {exc}")
                return
            raise
        if answer is not None:
            self.session.messages.append(answer)

    # --- slash commands ------------------------------------------------------------

    def _bye(self, words: list[str]) -> bool:
        return False

    def _help(self, words: list[str]) -> bool:
        topic = words[1] if len(words) > 1 else ""
        texts = {"set": USAGE_SET, "/set": USAGE_SET, "show": USAGE_SHOW, "/show": USAGE_SHOW}
        texts |= {"shortcut": USAGE_SHORTCUTS, "shortcuts": USAGE_SHORTCUTS}
        self.tell(texts.get(topic, "") if topic else USAGE)
        return True

    def _clear(self, words: list[str]) -> bool:
        system = self.session.system
        self.session.messages = [{"role": "system", "content": system}] if system else []
        self.say("Cleared session context")
        return True

    def _list(self, words: list[str]) -> bool:
        now = datetime.now(timezone.utc)
        prefix = words[1] if len(words) > 1 else ""
        self.console.out.write(render.render_list(self.client.list_models(), now, prefix))
        return True

    def _set_system(self, text: str, *, replace: bool) -> None:
        self.session.system = text
        message = {"role": "system", "content": text}
        messages = self.session.messages
        if replace and messages and messages[-1].get("role") == "system":
            messages[-1] = message
        else:
            messages.append(message)
        self.say("Set system message.")

    def _set(self, words: list[str]) -> bool:
        if len(words) < 2:
            self.tell(USAGE_SET)
            return True
        what, session = words[1], self.session
        simple: dict[str, tuple[str, Callable[[], None]]] = {
            "wordwrap": ("Set 'wordwrap' mode.", lambda: setattr(session, "word_wrap", True)),
            "nowordwrap": ("Set 'nowordwrap' mode.", lambda: setattr(session, "word_wrap", False)),
            "verbose": ("Set 'verbose' mode.", lambda: setattr(session, "verbose", True)),
            "quiet": ("Set 'quiet' mode.", lambda: setattr(session, "verbose", False)),
            "noformat": ("Disabled format.", lambda: setattr(session, "format", None)),
            "nothink": ("Set 'nothink' mode.", lambda: setattr(session, "think", False)),
            "history": ("", lambda: setattr(self.reader, "history", True)),
            "nohistory": ("", lambda: setattr(self.reader, "history", False)),
        }
        if what in simple:
            message, apply = simple[what]
            apply()
            if message:
                self.say(message)
        elif what == "format":
            self._set_format(words)
        elif what == "think":
            self._set_think(words)
        elif what == "parameter":
            self._set_parameter(words)
        elif what in ("system", "template"):
            self._set_text_command(words)
        else:
            self.say(f"Unknown command '/set {what}'. Type /? for help")
        return True

    def _set_format(self, words: list[str]) -> None:
        if len(words) < 3 or words[2] != "json":
            self.say("Invalid or missing format. For 'json' mode use '/set format json'")
            return
        self.session.format = "json"
        self.say("Set format to 'json' mode.")

    def _set_think(self, words: list[str]) -> None:
        level = words[2] if len(words) > 2 else ""
        self.session.think = level or True
        self._warn_if_no_thinking()
        self.say(f"Set 'think' mode to '{level}'." if level else "Set 'think' mode.")

    def _warn_if_no_thinking(self) -> None:
        try:
            capabilities = self.client.show(self.session.model).get("capabilities") or []
        except ClientError:
            return
        if "thinking" not in capabilities:
            self.tell(f'warning: model "{self.session.model}" does not support thinking output\n')

    def _set_parameter(self, words: list[str]) -> None:
        if len(words) < 4:
            self.tell(USAGE_PARAMETERS)
            return
        name, values = words[2], words[3:]
        try:
            typed = typed_parameter(name, values)
        except OllamaError as exc:
            self.say(f"Couldn't set parameter: {json.dumps(str(exc))}")
            return
        self.say(f"Set parameter '{name}' to '{', '.join(values)}'")
        self.session.options[name] = typed

    def _set_template(self, text: str) -> None:
        self.session.template = text
        self.say("Set prompt template.")

    def _set_text_command(self, words: list[str]) -> None:
        """``/set system|template TEXT``, or a ``\"\"\"`` block that ends on a later line."""
        if len(words) < 3:
            self.tell(USAGE_SET)
            return
        what, text = words[1], " ".join(words[2:])
        if text.startswith(QUOTES):
            text, closed = _cut_suffix(text[len(QUOTES) :], QUOTES)
            if not closed:
                self.buffer, self.multiline = text + "\n", what
                return
        if what == "system":
            self._set_system(text, replace=True)
        else:
            self._set_template(text)

    def _show(self, words: list[str]) -> bool:
        if len(words) < 2:
            self.tell(USAGE_SHOW)
            return True
        resp = self.client.show(self.session.model, system=self.session.system, options=self.session.options)
        views: dict[str, Callable[[JSON], None]] = {
            "info": lambda r: self.tell(render.render_show(r)),
            "license": lambda r: self.say(r.get("license") or "No license was specified for this model."),
            "modelfile": lambda r: self.say(str(r.get("modelfile") or "")),
            "parameters": self._show_parameters,
            "system": self._show_system,
            "template": self._show_template,
        }
        view = views.get(words[1])
        if view is None:
            self.say(f"Unknown command '/show {words[1]}'. Type /? for help")
        else:
            view(resp)
        return True

    def _show_parameters(self, resp: JSON) -> None:
        self.say("Model defined parameters:")
        params = str(resp.get("parameters") or "")
        lines = params.split("\n") if params else []
        none = "  No additional parameters were specified for this model."
        self.say("\n".join(f"  {line}" for line in lines) or none)
        self.say("")
        if self.session.options:
            self.say("User defined parameters:")
            for key, value in self.session.options.items():
                self.say(f"  {key:<30} {render.go_value(value)}")
            self.say("")

    def _show_template(self, resp: JSON) -> None:
        text = self.session.template or str(resp.get("template") or "")
        self.say(text or "No prompt template was specified for this model.")

    def _show_system(self, resp: JSON) -> None:
        text = self.session.system or str(resp.get("system") or "")
        self.say(text + "\n" if text else "No system message was specified for this model.")

    def _load(self, words: list[str]) -> bool:
        if len(words) != 2:
            self.say("Usage:\n  /load <modelname>")
            return True
        model = words[1]
        self.say(f"Loading model '{model}'")
        try:
            info = self.client.show(model)
            session = Session(model=model, think=self.session.think, keep_alive=self.session.keep_alive)
            preload(self.client, session, self.console)
        except ClientError as exc:
            if "not found" in str(exc):
                self.say(f"Couldn't find model '{model}'")
                return True
            if "does not support thinking" in str(exc):
                self.say(f"error: {exc}")
                return True
            raise
        self.session.model, self.session.messages = model, []
        self.session.loaded_messages = list(info.get("messages") or [])
        self.session.parent_model = str((info.get("details") or {}).get("parent_model") or "")
        return True

    def _save(self, words: list[str]) -> bool:
        if len(words) != 2:
            self.say("Usage:\n  /save <modelname>")
            return True
        try:
            for _ in self.client.create(save_request(words[1], self.session)):
                pass
        except ClientError as exc:
            if "invalid model name" in str(exc):
                self.say(f"error: The model name '{words[1]}' is invalid")
                return True
            raise
        self.say(f"Created new model '{words[1]}'")
        return True


def typed_parameter(name: str, values: list[str]) -> Any:  # Any: an option's typed value
    """Type ``/set parameter`` values as a Modelfile ``PARAMETER`` line would be.

    A list option (``stop``) takes every value; any other option its first, as
    Ollama's ``FormatParams`` does.

    Raises:
        OllamaError: unknown or deprecated parameter, or a value of the wrong type.
    """
    from ollama_actors.modelfile.domain import PARAMETER_TYPES, parameter_value

    if PARAMETER_TYPES.get(name) == "list":
        return [parameter_value(name, value) for value in values]
    return parameter_value(name, values[0])


def save_request(name: str, session: Session) -> JSON:
    """The ``/api/create`` body of ``/save``: the base model plus this session's changes."""
    body: JSON = {"model": name, "from": session.parent_model or session.model}
    if session.system:
        body["system"] = session.system
    if session.template:
        body["template"] = session.template
    if session.options:
        body["parameters"] = dict(session.options)
    messages = session.loaded_messages + session.messages
    if messages:
        body["messages"] = messages
    return body


def preload(client: DaemonClient, session: Session, console: Console | None = None) -> None:
    """Load the model before the first prompt (``/api/generate`` with no prompt), with a spinner."""
    body: JSON = {"model": session.model}
    if session.keep_alive is not None:
        body["keep_alive"] = session.keep_alive
    if session.think is not None:
        body["think"] = session.think
    spinner = Spinner(console).start() if console is not None else None
    try:
        for _ in client.generate(body):
            pass
    finally:
        if spinner is not None:
            spinner.stop()


def chat(client: DaemonClient, session: Session, console: Console) -> JSON | None:
    """One streamed ``/api/chat`` turn; the assistant's message, or None if interrupted."""
    body: JSON = {"model": session.model, "messages": session.messages}
    for key, value in (
        ("format", session.format),
        ("options", session.options or None),
        ("think", session.think),
        ("keep_alive", session.keep_alive),
    ):
        if value is not None:
            body[key] = value
    printer = ResponsePrinter(console, hide_thinking=session.hide_thinking, word_wrap=session.word_wrap)
    latest: JSON = {}
    role = "assistant"
    stream = client.chat(body)
    spinner = Spinner(console).start()
    try:
        for chunk in stream:
            spinner.stop()
            latest, message = chunk, chunk.get("message") or {}
            role = str(message.get("role") or role)
            content, thinking = str(message.get("content") or ""), str(message.get("thinking") or "")
            printer.feed(content, thinking, message.get("tool_calls") or ())
    except KeyboardInterrupt:
        stream.close()
        console.out.write("\n")
        return None
    except ClientError:
        printer.end_line()
        raise
    finally:
        spinner.stop()
    console.out.write("\n\n")
    if session.verbose and latest.get("done"):
        console.err.write(render.render_metrics(latest))
    answer: JSON = {"role": role, "content": "".join(printer.content)}
    if printer.thinking:
        answer["thinking"] = "".join(printer.thinking)
    return answer


def run_interactive(client: DaemonClient, session: Session, console: Console) -> None:
    """Preload the model, replay its MESSAGE history, then read and answer until /bye or Ctrl-D."""
    preload(client, session, console)
    for message in session.loaded_messages:
        if message.get("role") == "user":
            console.out.write(f">>> {message.get('content', '')}\n")
        elif message.get("role") == "assistant":
            printer = ResponsePrinter(console, word_wrap=session.word_wrap)
            printer.feed(str(message.get("content") or ""))
            console.out.write("\n\n")
    reader = _LineReader(console, _history_file(console.env or {}))
    try:
        _Repl(client, session, console, reader).run()
    finally:
        reader.close()
