"""Timers: a message delivered to an actor later, instead of a sleep inside it.

Each timer is a daemon ``threading.Timer`` (few timers live at once: keep_alive
expiries, retries). Invariant: once ``cancel()`` has returned, the message will
not be sent; a message already sent stays in the mailbox (as with OTP's
``erlang:cancel_timer``), so handlers must tolerate a late timer, e.g. by
matching a token carried in the message. A timer firing at a dead actor is
silently dropped.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import pykka

from ollama_actors.kernel.messages import send_info

__all__ = ["TimerRef", "send_after"]


class TimerRef:
    """A pending ``send_after``; cancel it when the reason for it is gone."""

    def __init__(self, ref: pykka.ActorRef[Any], delay_s: float, message: object) -> None:
        self._lock = threading.Lock()
        self._settled = False  # fired or cancelled
        self._timer = threading.Timer(delay_s, self._fire, args=(ref, message))
        self._timer.daemon = True

    @property
    def active(self) -> bool:
        """True until the timer fired or was cancelled."""
        return not self._settled

    def cancel(self) -> None:
        """Prevent delivery if it has not happened yet. Idempotent; never blocks long."""
        with self._lock:
            self._settled = True
        self._timer.cancel()

    def _start(self) -> None:
        self._timer.start()

    def _fire(self, ref: pykka.ActorRef[Any], message: object) -> None:
        with self._lock:
            if self._settled:
                return
            self._settled = True
            send_info(ref, message)  # False when the actor is gone: dropped


def send_after(ref: pykka.ActorRef[Any], delay_s: float, message: object) -> TimerRef:
    """Deliver ``Info(message)`` to ``ref`` after ``delay_s`` seconds.

    Any: the target's actor class does not matter.

    Raises:
        ValueError: ``delay_s`` is negative or not finite.
    """
    if isinstance(delay_s, bool) or not math.isfinite(delay_s) or delay_s < 0:
        raise ValueError(f"delay_s must be finite seconds >= 0, got {delay_s!r}")
    timer = TimerRef(ref, delay_s, message)
    timer._start()
    return timer
