"""Declarations of a supervision tree: child specs and supervisor flags (pure).

Invariant: a ``ChildSpec`` or ``SupFlags`` that exists holds valid values (checked
in ``__post_init__``), and ``validate_children`` rejects duplicate ids, so a
supervisor never discovers a bad declaration half-way through starting a tree.
Defaults are OTP's: ``permanent``, 5 s shutdown for workers and unbounded for
supervisors, ``one_for_one``, at most 1 restart in 5 s.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import pykka

    from ollama_actors.kernel.link import Link

__all__ = [
    "ChildKind",
    "ChildSpec",
    "Restart",
    "Strategy",
    "SupFlags",
    "WORKER_SHUTDOWN_S",
    "validate_children",
]

WORKER_SHUTDOWN_S: Final[float] = 5.0


class Restart(Enum):
    """When a child that exited is started again (OTP restart types)."""

    PERMANENT = "permanent"  # always
    TRANSIENT = "transient"  # only after a crash
    TEMPORARY = "temporary"  # never; removed from the supervisor on exit


class Strategy(Enum):
    """Which siblings a child's restart takes down with it (OTP strategies)."""

    ONE_FOR_ONE = "one_for_one"
    ONE_FOR_ALL = "one_for_all"
    REST_FOR_ONE = "rest_for_one"


class ChildKind(Enum):
    WORKER = "worker"
    SUPERVISOR = "supervisor"


class _KindDefault(float):
    """Marks "use OTP's default for this child's kind" while staying a plain float
    to type checkers; ``ChildSpec.__post_init__`` replaces it with the real value."""


_KIND_DEFAULT: Final[float] = _KindDefault(WORKER_SHUTDOWN_S)


@dataclass(frozen=True)
class ChildSpec:
    """How a supervisor starts, restarts and stops one child.

    ``start`` receives the ``Link`` the kernel uses to report the child's exit and
    must block until the child's init() succeeded (``GenServer.start_link`` does),
    raising if it failed. ``shutdown`` is the seconds a stop may take before the
    child is abandoned; ``None`` waits forever (the default for supervisors, whose
    own children have deadlines); ``0`` does not wait at all.
    """

    id: str
    # Any: the ref's actor type is whatever the child's class is.
    start: Callable[[Link], pykka.ActorRef[Any]]
    restart: Restart = Restart.PERMANENT
    shutdown: float | None = _KIND_DEFAULT
    kind: ChildKind = ChildKind.WORKER

    def __post_init__(self) -> None:
        if isinstance(self.shutdown, _KindDefault):
            default = None if self.kind is ChildKind.SUPERVISOR else WORKER_SHUTDOWN_S
            object.__setattr__(self, "shutdown", default)
        _check_child_spec(self)


def _check_child_spec(spec: ChildSpec) -> None:
    if not isinstance(spec.id, str) or not spec.id:
        raise ValueError(f"child id must be a non-empty string, got {spec.id!r}")
    if not callable(spec.start):
        raise ValueError(f"child {spec.id!r}: start must be callable")
    if not isinstance(spec.restart, Restart):
        raise ValueError(f"child {spec.id!r}: restart must be a Restart, got {spec.restart!r}")
    if not isinstance(spec.kind, ChildKind):
        raise ValueError(f"child {spec.id!r}: kind must be a ChildKind, got {spec.kind!r}")
    if spec.shutdown is not None and not _is_duration(spec.shutdown):
        raise ValueError(
            f"child {spec.id!r}: shutdown must be None or seconds >= 0, got {spec.shutdown!r}"
        )


@dataclass(frozen=True)
class SupFlags:
    """A supervisor's strategy and restart intensity: more than ``intensity``
    restarts within ``period`` seconds make it give up and escalate."""

    strategy: Strategy = Strategy.ONE_FOR_ONE
    intensity: int = 1
    period: float = 5.0

    def __post_init__(self) -> None:
        if not isinstance(self.strategy, Strategy):
            raise ValueError(f"strategy must be a Strategy, got {self.strategy!r}")
        if isinstance(self.intensity, bool) or not isinstance(self.intensity, int):
            raise ValueError(f"intensity must be an int >= 0, got {self.intensity!r}")
        if self.intensity < 0:
            raise ValueError(f"intensity must be an int >= 0, got {self.intensity!r}")
        if not _is_duration(self.period) or self.period == 0:
            raise ValueError(f"period must be seconds > 0, got {self.period!r}")


def validate_children(children: Sequence[ChildSpec]) -> tuple[ChildSpec, ...]:
    """Return ``children`` as a tuple after checking their types and that ids are unique.

    Raises:
        ValueError: an element is not a ChildSpec, or two share an id.
    """
    seen: set[str] = set()
    for spec in children:
        if not isinstance(spec, ChildSpec):
            raise ValueError(f"children must be ChildSpecs, got {spec!r}")
        if spec.id in seen:
            raise ValueError(f"duplicate child id {spec.id!r}")
        seen.add(spec.id)
    return tuple(children)


def _is_duration(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value) and value >= 0
