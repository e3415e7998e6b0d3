"""The restart window (pure): hypothesis against a brute-force model of OTP's rule."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ollama_actors.kernel import RestartWindow

gaps = st.lists(st.floats(min_value=0.0, max_value=10.0, allow_nan=False), max_size=30)
intensities = st.integers(min_value=0, max_value=5)
periods = st.floats(min_value=0.001, max_value=10.0, allow_nan=False)


def times_from(deltas: list[float]) -> list[float]:
    now, times = 100.0, []
    for delta in deltas:
        now += delta
        times.append(now)
    return times


@given(gaps, intensities, periods)
def test_exceeded_iff_more_than_intensity_restarts_lie_within_the_period(
    deltas: list[float], intensity: int, period: float
) -> None:
    window = RestartWindow(intensity, period)
    times = times_from(deltas)
    for i, now in enumerate(times):
        window = window.record(now)
        in_period = [t for t in times[: i + 1] if now - t < period]
        assert window.exceeded == (len(in_period) > intensity)


@given(gaps, intensities, periods)
def test_the_window_keeps_only_restarts_younger_than_the_period(
    deltas: list[float], intensity: int, period: float
) -> None:
    window = RestartWindow(intensity, period)
    for now in times_from(deltas):
        window = window.record(now)
        assert window.restarts[-1] == now
        assert all(now - t < period for t in window.restarts)
        assert list(window.restarts) == sorted(window.restarts)


@given(st.integers(min_value=1, max_value=5), periods, st.integers(min_value=1, max_value=20))
def test_restarts_spaced_a_full_period_apart_never_exceed_a_positive_intensity(
    intensity: int, period: float, count: int
) -> None:
    window = RestartWindow(intensity, period)
    for n in range(count):
        window = window.record(100.0 + n * period * 1.01)
        assert not window.exceeded


@given(st.integers(min_value=0, max_value=5), periods)
def test_intensity_plus_one_restarts_at_one_instant_exceed(intensity: int, period: float) -> None:
    window = RestartWindow(intensity, period)
    for _ in range(intensity):
        window = window.record(1.0)
        assert not window.exceeded
    assert window.record(1.0).exceeded


def test_recording_returns_a_new_window_and_leaves_the_old_one_alone() -> None:
    empty = RestartWindow(1, 5.0)
    assert empty.record(1.0).restarts == (1.0,)
    assert empty.restarts == ()
