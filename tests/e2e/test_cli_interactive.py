"""``ollama-actors run`` as a person uses it: on a real pseudo-terminal, against a daemon.

Every test drives ``python -m ollama_actors run …`` through
:class:`tests.fixtures.terminal.Terminal` (stdin/stdout/stderr and controlling
terminal on a pty), types what a user would type, and reads the screen with
bounded waits. The models are variants of ``tiny`` with a small ``num_predict``,
since random weights rarely say end-of-sequence; the interrupt test sets a huge
one and presses Ctrl-C. The non-interactive flags (``--verbose``, ``--format``,
``--keepalive``, piped stdin) run with pipes, as scripts use them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from tests.fixtures.daemon import RunningDaemon
from tests.fixtures.terminal import CTRL_C, CTRL_D, CTRL_P, Terminal

SHORT = "tiny-short"  # num_predict 16, temperature 0: quick, deterministic answers
PROMPT = r">>> $"  # the REPL's prompt, at the end of what was printed so far
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
ANSWER_THEN_PROMPT = r"\n(?P<answer>.*?)\n\n>>> "
Start = Callable[..., Terminal]  # the ``terminal`` fixture: run ARGS on a fresh pty


@pytest.fixture(scope="module")
def api(daemon: RunningDaemon) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=daemon.base_url, timeout=60) as client:
        created = client.post(
            "/api/create",
            json={"model": SHORT, "from": "tiny", "stream": False,
                  "parameters": {"num_predict": 16, "temperature": 0, "seed": 7}},
        )
        created.raise_for_status()
        yield client


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def _env(daemon: RunningDaemon, home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OLLAMA_", "XDG_RUNTIME_DIR"))}
    home.mkdir(exist_ok=True)
    env |= {"OLLAMA_SOCKET": str(daemon.socket), "HOME": str(home), "TERM": "xterm-256color",
            "INPUTRC": os.devnull, **extra}
    return env


@pytest.fixture
def terminal(daemon: RunningDaemon, api: httpx.Client, home: Path) -> Iterator[Start]:
    """Start ``run ARGS`` on a pty; every terminal started is closed after the test."""
    started: list[Terminal] = []

    def start(*args: str, **env: str) -> Terminal:
        term = Terminal(["run", *args], _env(daemon, home, **env))
        started.append(term)
        return term

    yield start
    for term in started:
        term.close()


def _cli(daemon: RunningDaemon, home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ollama_actors", *args],
        input=stdin, capture_output=True, text=True, timeout=120, env=_env(daemon, home),
    )


def _bye(term: Terminal) -> None:
    term.line("/bye")
    assert term.wait() == 0


# --- the REPL ------------------------------------------------------------------------


def test_a_prompt_streams_an_answer_and_prompts_again_then_ctrl_d_leaves(terminal: Start) -> None:
    term = terminal(SHORT)
    term.expect(PROMPT)
    term.line("hello there")
    answer = term.expect(r"hello there" + ANSWER_THEN_PROMPT)["answer"]
    assert answer.strip(SPINNER + " \n")
    term.line("and again")
    term.expect(r"and again" + ANSWER_THEN_PROMPT)
    term.send(CTRL_D)
    assert term.wait() == 0


def test_multi_line_input_is_one_message(terminal: Start, api: httpx.Client) -> None:
    term = terminal(SHORT)
    term.expect(PROMPT)
    term.line('"""first line')
    term.expect(r"\.\.\. $")
    term.line("second line")
    term.expect(r"\.\.\. $")
    term.line('third line"""')
    term.expect(ANSWER_THEN_PROMPT)
    term.line("/save multi-line-session")
    term.expect("Created new model 'multi-line-session'")
    _bye(term)
    messages = api.post("/api/show", json={"model": "multi-line-session"}).json()["messages"]
    assert messages[0] == {"role": "user", "content": "first line\nsecond line\nthird line"}
    assert messages[1]["role"] == "assistant" and messages[1]["content"].strip()
    api.request("DELETE", "/api/delete", json={"model": "multi-line-session"}).raise_for_status()


def test_ctrl_c_stops_a_generation_and_the_prompt_comes_back(terminal: Start) -> None:
    term = terminal(SHORT)
    term.expect(PROMPT)
    term.line("/set parameter num_predict 1000000")
    term.expect(r"Set parameter 'num_predict' to '1000000'\n>>> $")
    term.line("go on forever")
    term.expect(r"go on forever\n.{40}")  # the answer is streaming
    term.send(CTRL_C)
    interrupted = term.expect(r"(?P<partial>.*?)>>> $", timeout=30)["partial"]
    assert not interrupted.endswith("\n\n"), "the answer was cut short, not finished"
    term.line("/set parameter num_predict 4")
    term.expect(r">>> $")
    term.line("still there?")
    term.expect(r"still there\?" + ANSWER_THEN_PROMPT)
    term.wait_reading()
    term.send(CTRL_C)  # on an empty line: a reminder, not an exit
    term.expect(r"Use Ctrl \+ d or /bye to exit\.\n>>> $")
    _bye(term)


def test_set_parameter_and_verbose_show_the_timing_block(terminal: Start) -> None:
    term = terminal(SHORT)
    term.expect(PROMPT)
    term.line("/set parameter num_predict 5")
    term.expect(r"Set parameter 'num_predict' to '5'\n")
    term.line("/set parameter nonsense 5")
    term.expect(r"Couldn't set parameter: \".*\"\n")
    term.line("/set verbose")
    term.expect(r"Set 'verbose' mode\.\n>>> $")
    term.line("count with me")
    block = term.expect(r"count with me\n.*?\n\n(?P<block>total duration:.*?)>>> $")["block"]
    for label in ("total duration:", "prompt eval count:", "prompt eval rate:", "eval duration:", "eval rate:"):
        assert label in block
    assert "eval count:           5 token(s)" in block
    term.line("/set quiet")
    term.expect(r"Set 'quiet' mode\.\n>>> $")
    term.line("quietly")
    assert "total duration" not in term.expect(r"quietly" + ANSWER_THEN_PROMPT)[0]
    _bye(term)


def test_set_system_and_template_and_the_show_views(terminal: Start) -> None:
    term = terminal(SHORT)
    term.expect(PROMPT)
    term.line("/set system You are a terse robot.")
    term.expect(r"Set system message\.\n>>> $")
    term.line("/show system")
    term.expect(r"You are a terse robot\.\n\n>>> $")
    term.line('/set system """Line one')
    term.expect(r"\.\.\. $")
    term.line('line two"""')
    term.expect(r"Set system message\.\n>>> $")
    term.line("/show system")
    term.expect(r"Line one\nline two\n\n>>> $")
    term.line("/set template {{ .Prompt }}")
    term.expect(r"Set prompt template\.\n>>> $")
    term.line("/show template")
    term.expect(r"\{\{ \.Prompt \}\}\n>>> $")
    term.line("/show info")
    info = term.expect(r"(?P<info>.*?)>>> $")["info"]
    assert "Model" in info and "architecture" in info and "llama" in info
    term.line("/show license")
    term.expect(r"No license was specified for this model\.\n>>> $")
    term.line("/show modelfile")
    modelfile = term.expect(r"(?P<text>.*?)>>> $")["text"]
    assert '# Modelfile generated by "ollama show"' in modelfile and "PARAMETER num_predict 16" in modelfile
    term.line("/set parameter top_k 3")
    term.line("/show parameters")
    params = term.expect(r"Model defined parameters:(?P<text>.*?)>>> $")["text"]
    assert "num_predict" in params and "User defined parameters:" in params and "top_k" in params
    term.line("/show nonsense")
    term.expect(r"Unknown command '/show nonsense'\. Type /\? for help\n>>> $")
    term.line("hello robot")
    term.expect(r"hello robot" + ANSWER_THEN_PROMPT)
    _bye(term)


def test_format_json_and_think_modes(terminal: Start) -> None:
    term = terminal(SHORT)
    term.expect(PROMPT)
    term.line("/set format json")
    term.expect(r"Set format to 'json' mode\.\n>>> $")
    term.line("give me json")
    answer = term.expect(r"give me json" + ANSWER_THEN_PROMPT)["answer"]
    assert answer.strip(SPINNER + " \n\t").startswith("{")
    term.line("/set noformat")
    term.expect(r"Disabled format\.\n>>> $")
    term.line("/set think")
    term.expect(r'warning: model "tiny-short" does not support thinking output\n')
    term.expect(r"Set 'think' mode\.\n>>> $")
    term.line("think hard")
    term.expect(r'think hard\n.*error: .*does not support thinking.*\n>>> $')
    term.line("/set nothink")
    term.expect(r"Set 'nothink' mode\.\n>>> $")
    term.line("do not think")
    term.expect(r"do not think" + ANSWER_THEN_PROMPT)
    _bye(term)


def test_save_then_load_switches_to_the_saved_model(terminal: Start, api: httpx.Client) -> None:
    term = terminal(SHORT)
    term.expect(PROMPT)
    term.line("/set system Saved system.")
    term.line("/set parameter num_predict 6")
    term.line("remember me")
    term.expect(r"remember me" + ANSWER_THEN_PROMPT)
    term.line("/save saved-session")
    term.expect(r"Created new model 'saved-session'\n>>> $")
    term.line("/save Not A Name!")
    term.expect(r"Usage:\n  /save <modelname>\n>>> $")
    term.line("/save bad:na:me")
    term.expect(r"error: The model name 'bad:na:me' is invalid\n>>> $")
    shown = api.post("/api/show", json={"model": "saved-session"}).json()
    assert shown["system"] == "Saved system."
    assert "num_predict                    6" in shown["parameters"]
    assert [m["role"] for m in shown["messages"]] == ["system", "user", "assistant"]
    term.line("/load does-not-exist")
    term.expect(r"Loading model 'does-not-exist'\nCouldn't find model 'does-not-exist'\n>>> $")
    term.line("/load saved-session")
    term.expect(r"Loading model 'saved-session'\n.*>>> $")
    running = [m["name"] for m in api.get("/api/ps").json()["models"]]
    assert "saved-session:latest" in running
    term.line("/show modelfile")
    assert "FROM saved-session:latest" in term.expect(r"(?P<text>.*?)>>> $")["text"]
    term.line("/clear")
    term.expect(r"Cleared session context\n>>> $")
    term.line("after clearing")
    term.expect(r"after clearing" + ANSWER_THEN_PROMPT)
    _bye(term)
    api.request("DELETE", "/api/delete", json={"model": "saved-session"}).raise_for_status()


def test_help_and_unknown_commands(terminal: Start) -> None:
    term = terminal(SHORT)
    term.expect(PROMPT)
    term.line("/?")
    help_text = term.expect(r"Available Commands:(?P<text>.*?)>>> $")["text"]
    for command in ("/set", "/show", "/load", "/save", "/clear", "/bye", '"""'):
        assert command in help_text
    term.line("/? set")
    assert "/set parameter" in term.expect(r"Available Commands:(?P<text>.*?)>>> $")["text"]
    term.line("/? shortcuts")
    term.expect(r"Available keyboard shortcuts:.*>>> $")
    term.line("/nonsense")
    term.expect(r"Unknown command '/nonsense'\. Type /\? for help\n>>> $")
    term.line("/exit")
    assert term.wait() == 0


def test_history_is_kept_across_runs(terminal: Start, home: Path) -> None:
    first = terminal(SHORT)
    first.expect(PROMPT)
    first.line("a line worth remembering")
    first.expect(ANSWER_THEN_PROMPT)
    first.send(CTRL_D)
    assert first.wait() == 0
    history = home / ".ollama" / "history"
    assert "a line worth remembering" in history.read_text()
    second = terminal(SHORT)
    second.expect(PROMPT)
    second.send(CTRL_P)  # previous line, from the file
    second.expect(r"a line worth remembering$")
    second.send("\r")
    second.expect(ANSWER_THEN_PROMPT)
    _bye(second)


def test_no_history_is_written_with_ollama_nohistory(terminal: Start, home: Path) -> None:
    term = terminal(SHORT, OLLAMA_NOHISTORY="1")
    term.expect(PROMPT)
    term.line("/show license")
    term.expect(PROMPT)
    _bye(term)
    assert not (home / ".ollama" / "history").exists()


def test_a_spinner_turns_while_the_model_loads(terminal: Start, daemon: RunningDaemon,
                                               home: Path) -> None:
    assert _cli(daemon, home, "stop", SHORT).returncode == 0
    term = terminal(SHORT)
    before_prompt = term.expect(r"(?P<text>.*?)>>> $")["text"]
    assert any(frame in before_prompt for frame in SPINNER)
    _bye(term)
    assert "\x1b[?25h" in term.raw, "the cursor is shown again"


def test_verbose_flag_prints_the_timing_block_in_the_repl(terminal: Start) -> None:
    term = terminal(SHORT, "--verbose")
    term.expect(PROMPT)
    term.line("hi")
    term.expect(r"hi\n.*?\n\ntotal duration: .*eval rate: +[0-9.]+ tokens/s\n>>> $")
    _bye(term)


def test_a_prompt_argument_on_a_terminal_answers_once(terminal: Start) -> None:
    term = terminal(SHORT, "why is the sky blue?")
    assert term.wait() == 0
    assert ">>> " not in term.transcript
    assert term.transcript.strip(SPINNER + " \n")


# --- flags and pipes (no terminal) ----------------------------------------------------------


def test_verbose_flag_prints_ollamas_timing_block_on_stderr(daemon: RunningDaemon, api: httpx.Client,
                                                           home: Path) -> None:
    result = _cli(daemon, home, "run", SHORT, "hello", "--verbose")
    assert result.returncode == 0, result.stderr
    labels = [line.split(":")[0] for line in result.stderr.splitlines()]
    assert labels == ["total duration", "load duration", "prompt eval count", "prompt eval duration",
                      "prompt eval rate", "eval count", "eval duration", "eval rate"][-len(labels):]
    assert "eval count:           16 token(s)" in result.stderr
    assert not any(frame in result.stderr for frame in SPINNER), "no spinner in a pipe"


def test_format_json_flag_constrains_the_answer(daemon: RunningDaemon, api: httpx.Client, home: Path) -> None:
    result = _cli(daemon, home, "run", SHORT, "--format", "json", "give me json")
    assert result.returncode == 0, result.stderr
    assert result.stdout.lstrip().startswith("{")
    bad = _cli(daemon, home, "run", SHORT, "--format", "yaml", "x")
    assert bad.returncode == 1 and bad.stderr.startswith("Error: invalid format")


@pytest.mark.parametrize(("flag", "low", "high"), [("10m", 9 * 60, 10 * 60 + 5), ("-1s", 10**8, None)])
def test_keepalive_flag_sets_how_long_the_model_stays(daemon: RunningDaemon, api: httpx.Client, home: Path,
                                                      flag: str, low: float, high: float | None) -> None:
    result = _cli(daemon, home, "run", SHORT, f"--keepalive={flag}", "hi")
    assert result.returncode == 0, result.stderr
    models = {m["name"]: m for m in api.get("/api/ps").json()["models"]}
    expires = datetime.fromisoformat(models[f"{SHORT}:latest"]["expires_at"])
    left = (expires - datetime.now(timezone.utc)).total_seconds()
    assert left >= low and (high is None or left <= high)
    for bad in ("soon", "-1"):  # Go's time.ParseDuration: a bare number has no unit
        refused = _cli(daemon, home, "run", SHORT, f"--keepalive={bad}", "hi")
        assert refused.returncode == 1 and refused.stderr.startswith("Error: time: ")


def test_piped_stdin_goes_before_the_prompt_argument(daemon: RunningDaemon, api: httpx.Client,
                                                     home: Path) -> None:
    piped = _cli(daemon, home, "run", SHORT, "the argument", stdin="from the pipe")
    assert piped.returncode == 0, piped.stderr
    joined = _cli(daemon, home, "run", SHORT, "from the pipe the argument")
    assert piped.stdout == joined.stdout and piped.stdout.strip()
    only_pipe = _cli(daemon, home, "run", SHORT, stdin="from the pipe")
    assert only_pipe.returncode == 0 and only_pipe.stdout.strip()
    assert ">>> " not in only_pipe.stdout
