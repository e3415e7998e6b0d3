"""Whether a child is restarted, and which siblings go with it, per OTP (pure).

Invariant (OTP ordering): children are stopped in reverse start order and started
in start order, so a child started later, which may depend on earlier ones, is
always stopped before them and started after them. The failed child itself is
never in ``stop`` (it is already dead) and always in ``start``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ollama_actors.kernel.specs import Restart, Strategy

__all__ = ["RestartPlan", "plan_restart", "should_restart"]


@dataclass(frozen=True)
class RestartPlan:
    """Ids to stop (in this order, reverse start order), then ids to start (start order)."""

    stop: tuple[str, ...]
    start: tuple[str, ...]


def plan_restart(children: Sequence[str], failed: str, strategy: Strategy) -> RestartPlan:
    """Plan the restart after ``failed`` exited, ``children`` being in start order.

    Raises:
        ValueError: ``failed`` is not one of ``children``.
    """
    if failed not in children:
        raise ValueError(f"{failed!r} is not a child")
    index = list(children).index(failed)
    if strategy is Strategy.ONE_FOR_ONE:
        return RestartPlan(stop=(), start=(failed,))
    if strategy is Strategy.ONE_FOR_ALL:
        others = [child for child in children if child != failed]
        return RestartPlan(stop=tuple(reversed(others)), start=tuple(children))
    later = tuple(children[index + 1 :])
    return RestartPlan(stop=tuple(reversed(later)), start=(failed, *later))


def should_restart(restart: Restart, crashed: bool) -> bool:
    """OTP's restart types: permanent always, transient only after a crash
    (not after a normal exit or a shutdown), temporary never."""
    if restart is Restart.PERMANENT:
        return True
    return restart is Restart.TRANSIENT and crashed
