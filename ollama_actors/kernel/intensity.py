"""The restart window: has a supervisor restarted too often to keep trying? (pure)

OTP's rule: a supervisor that sees more than ``intensity`` restarts within
``period`` seconds stops its children and fails, so the fault escalates to a
supervisor that can restart a larger, hopefully healthier, part of the tree.

Invariant: a window keeps only restarts younger than ``period`` relative to the
last one recorded, so its size is bounded by ``intensity + 1`` in practice and it
never needs a clock of its own (the caller passes monotonic times).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RestartWindow"]


@dataclass(frozen=True)
class RestartWindow:
    """Restart times (monotonic seconds, oldest first) that still count.

    A restart at time ``t`` counts until ``t + period`` (exclusive): it is
    forgotten once ``period`` seconds have passed.
    """

    intensity: int
    period: float
    restarts: tuple[float, ...] = ()

    def record(self, now: float) -> RestartWindow:
        """Return the window with a restart at ``now`` added and expired ones dropped.

        ``now`` must not be earlier than the restarts already recorded (a monotonic
        clock guarantees it).
        """
        recent = tuple(t for t in self.restarts if now - t < self.period)
        return RestartWindow(self.intensity, self.period, (*recent, now))

    @property
    def exceeded(self) -> bool:
        """True when more than ``intensity`` restarts are in the window: give up."""
        return len(self.restarts) > self.intensity
