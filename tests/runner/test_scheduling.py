"""Scheduling rules: reuse a loaded runner when it fits, evict the least recently used idle one."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ollama_actors.runner.domain.scheduling import RunnerView, expires_at, pick_eviction, satisfies
from ollama_actors.runner.ports import LoadSpec

BASE = LoadSpec(model_path="/models/blobs/sha256-aaaa", num_ctx=4096)


def test_a_runner_satisfies_the_same_spec() -> None:
    assert satisfies(BASE, BASE)


@pytest.mark.parametrize("wanted_ctx", [4096, 2048, 4])
def test_a_runner_with_a_bigger_or_equal_context_serves_a_smaller_one(wanted_ctx: int) -> None:
    assert satisfies(BASE, replace(BASE, num_ctx=wanted_ctx))


def test_a_runner_with_a_smaller_context_does_not_serve_a_bigger_one() -> None:
    assert not satisfies(BASE, replace(BASE, num_ctx=8192))


@pytest.mark.parametrize(
    "change",
    [
        {"model_path": "/models/blobs/sha256-bbbb"},
        {"adapters": ("/models/blobs/sha256-cccc",)},
        {"num_batch": 1024},
        {"num_thread": 4},
        {"num_gpu": 0},
        {"use_mmap": False},
    ],
)
def test_a_different_file_or_runner_option_needs_a_reload(change: dict[str, object]) -> None:
    assert not satisfies(BASE, replace(BASE, **change))  # type: ignore[arg-type]


_views = st.lists(
    st.builds(
        RunnerView,
        key=st.text(min_size=1, max_size=8),
        idle=st.booleans(),
        last_used=st.floats(min_value=0, max_value=1e9, allow_nan=False),
    ),
    max_size=12,
    unique_by=lambda view: view.key,
)


@given(_views)
def test_pick_eviction_chooses_the_least_recently_used_idle_runner(views: list[RunnerView]) -> None:
    chosen = pick_eviction(views)
    idle = [view for view in views if view.idle]
    if not idle:
        assert chosen is None
        return
    by_key = {view.key: view for view in views}
    assert chosen in by_key
    assert by_key[chosen].idle
    assert by_key[chosen].last_used == min(view.last_used for view in idle)


@given(_views)
def test_pick_eviction_never_picks_a_busy_runner_whatever_its_age(views: list[RunnerView]) -> None:
    busy = {view.key for view in views if not view.idle}
    assert pick_eviction(views) not in busy


@pytest.mark.parametrize(
    ("views", "expected"),
    [
        ([], None),
        ([RunnerView("a", idle=False, last_used=1.0)], None),
        ([RunnerView("a", idle=True, last_used=5.0), RunnerView("b", idle=True, last_used=2.0)], "b"),
        ([RunnerView("old", idle=False, last_used=0.0), RunnerView("new", idle=True, last_used=9.0)], "new"),
    ],
)
def test_pick_eviction_table(views: list[RunnerView], expected: str | None) -> None:
    assert pick_eviction(views) == expected


def test_pick_eviction_accepts_any_iterable_once() -> None:
    views = iter([RunnerView("a", idle=True, last_used=3.0), RunnerView("b", idle=True, last_used=1.0)])
    assert pick_eviction(views) == "b"


NOW = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("keep_alive", "delta"),
    [(300.0, timedelta(minutes=5)), (0.0, timedelta(0)), (0.5, timedelta(milliseconds=500))],
)
def test_expires_at_is_now_plus_keep_alive(keep_alive: float, delta: timedelta) -> None:
    assert expires_at(NOW, keep_alive) == NOW + delta


def test_forever_expires_about_292_years_ahead() -> None:
    """Ollama's forever is the maximum int64 nanoseconds, so expires_at lies ~292 years out."""
    years = (expires_at(NOW, float("inf")) - NOW).days / 365.25
    assert 290 < years < 293
