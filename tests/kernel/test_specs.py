"""ChildSpec and SupFlags: OTP defaults and validation."""

from __future__ import annotations

import math
from typing import Any

import pytest

from ollama_actors.kernel import (
    ChildKind,
    ChildSpec,
    Restart,
    Strategy,
    SupFlags,
    validate_children,
)


def start(link: Any) -> Any:
    raise NotImplementedError


def test_defaults_are_otps() -> None:
    spec = ChildSpec("w", start)
    assert (spec.restart, spec.shutdown, spec.kind) == (Restart.PERMANENT, 5.0, ChildKind.WORKER)
    assert SupFlags() == SupFlags(Strategy.ONE_FOR_ONE, 1, 5.0)


def test_a_supervisor_child_waits_unbounded_unless_told_otherwise() -> None:
    assert ChildSpec("s", start, kind=ChildKind.SUPERVISOR).shutdown is None
    assert ChildSpec("s", start, kind=ChildKind.SUPERVISOR, shutdown=5.0).shutdown == 5.0
    assert ChildSpec("w", start, shutdown=None).shutdown is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"id": ""},
        {"start": "not callable"},
        {"restart": "permanent"},
        {"kind": "worker"},
        {"shutdown": -1.0},
        {"shutdown": math.inf},
        {"shutdown": math.nan},
    ],
)
def test_invalid_child_specs_are_rejected(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ChildSpec(**{"id": "w", "start": start, **kwargs})


@pytest.mark.parametrize(
    "kwargs",
    [
        {"strategy": "one_for_one"},
        {"intensity": -1},
        {"intensity": 1.5},
        {"intensity": True},
        {"period": 0},
        {"period": -1.0},
        {"period": math.inf},
    ],
)
def test_invalid_sup_flags_are_rejected(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        SupFlags(**kwargs)


def test_validate_children_rejects_duplicate_ids_and_non_specs() -> None:
    a = ChildSpec("a", start)
    assert validate_children([a]) == (a,)
    with pytest.raises(ValueError, match="duplicate"):
        validate_children([a, ChildSpec("a", start)])
    with pytest.raises(ValueError):
        validate_children([a, "b"])  # type: ignore[list-item]
