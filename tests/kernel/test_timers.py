"""send_after: a message delivered later, cancellable, harmless to dead actors."""

from __future__ import annotations

import pytest

from ollama_actors.kernel import send_after
from tests.kernel.support import WAIT_S, Echo, Ping, Recorder, Worker, ask


def test_a_timer_delivers_its_message_as_info() -> None:
    recorder = Recorder()
    ref = Worker.start_link(None, recorder, "w")
    timer = send_after(ref, 0.01, Ping("tick"))
    recorder.wait_for(lambda ev: ("ping", "w", "tick") in ev)
    assert not timer.active


def test_a_cancelled_timer_never_delivers() -> None:
    recorder = Recorder()
    ref = Worker.start_link(None, recorder, "w")
    timer = send_after(ref, 60.0, Ping("late"))
    assert timer.active
    timer.cancel()
    assert not timer.active
    timer._timer.join(WAIT_S)  # the timer's thread has ended: nothing can be sent any more
    assert not timer._timer.is_alive()
    assert ask(ref, Echo("after")) == "after"
    assert ("ping", "w", "late") not in recorder.events


def test_cancelling_twice_or_after_firing_is_harmless() -> None:
    recorder = Recorder()
    ref = Worker.start_link(None, recorder, "w")
    timer = send_after(ref, 0.0, Ping(1))
    recorder.wait_for(lambda ev: ("ping", "w", 1) in ev)
    timer.cancel()
    timer.cancel()


def test_a_timer_firing_at_a_dead_actor_is_dropped() -> None:
    ref = Worker.start_link(None, Recorder(), "w")
    ref.stop()
    timer = send_after(ref, 0.0, Ping())
    timer._timer.join(WAIT_S)
    assert not timer.active


@pytest.mark.parametrize("delay", [-1.0, float("nan"), float("inf")])
def test_a_nonsense_delay_is_rejected(delay: float) -> None:
    ref = Worker.start_link(None, Recorder(), "w")
    with pytest.raises(ValueError):
        send_after(ref, delay, Ping())
