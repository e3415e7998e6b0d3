"""The run spinner: Ollama's braille frames on a terminal's stderr, nothing in a pipe."""

from __future__ import annotations

import io

from ollama_actors.cli import render
from ollama_actors.cli.commands import Console, Spinner


def _console(err: io.StringIO, *, tty: bool) -> Console:
    return Console(out=io.StringIO(), err=err, inp=io.StringIO(), err_is_tty=tty)


def test_on_a_terminal_it_draws_a_frame_at_once_and_clears_its_line_when_stopped() -> None:
    err = io.StringIO()
    spinner = Spinner(_console(err, tty=True)).start()
    spinner.stop()
    spinner.stop()  # idempotent
    written = err.getvalue()
    assert written.startswith(render.spinner_frame(0))
    assert written.endswith(render.spinner_clear()) and written.count(render.spinner_clear()) == 1
    assert "\x1b[?25l" in written and written.endswith("\x1b[?25h")


def test_in_a_pipe_it_writes_nothing() -> None:
    err = io.StringIO()
    Spinner(_console(err, tty=False)).start().stop()
    assert err.getvalue() == ""


def test_frames_cycle_through_ollamas_braille_dots() -> None:
    frames = [render.spinner_frame(i) for i in range(11)]
    assert frames[0] == frames[10] and len(set(frames[:10])) == 10
    assert all(render.SPINNER_FRAMES[i] in frames[i] for i in range(10))
