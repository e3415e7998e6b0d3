"""ProgressView: bars redrawn in place on a terminal with speed and time left."""

from __future__ import annotations

import io

from ollama_actors.cli.commands import ProgressView


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_running_bar_shows_speed_and_time_left_measured_between_updates() -> None:
    out, clock = io.StringIO(), _Clock()
    view = ProgressView(out, tty=True, width=100, clock=clock)
    view.bar("d1", "pulling 1a2b3c4d5e6f:", 3_000_000, 27_000_000)
    assert "/s" not in out.getvalue()  # one sample: no speed yet
    clock.now += 3
    view.bar("d1", "pulling 1a2b3c4d5e6f:", 12_000_000, 27_000_000)
    last = out.getvalue().rsplit("\r\x1b[K", 1)[-1]
    assert last.startswith("pulling 1a2b3c4d5e6f:  44% ▕")
    assert last.endswith("▏  12 MB/ 27 MB    3 MB/s      5s")


def test_the_finished_bar_drops_speed_and_a_pipe_gets_only_final_lines() -> None:
    out, clock = io.StringIO(), _Clock()
    view = ProgressView(out, tty=False, width=80, clock=clock)
    view.bar("d1", "pulling 1a2b3c4d5e6f:", 1_000, 2_000)
    clock.now += 1
    view.bar("d1", "pulling 1a2b3c4d5e6f:", 2_000, 2_000)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and "100%" in lines[0] and "/s" not in lines[0]
