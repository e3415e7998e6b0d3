"""Byte-range parts of a blob download: the plan and the progress record (pure)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ollama_actors.management.domain.parts import MAX_PARTS, Part, PartsState, plan_parts

MB = 1000 * 1000


def test_a_blob_up_to_the_minimum_part_size_is_one_part() -> None:
    assert plan_parts(100 * MB, min_part=100 * MB, max_part=1000 * MB, count=16) == (Part(0, 100 * MB),)


def test_ollamas_numbers_split_a_large_blob_into_parts_of_at_least_100_mb() -> None:
    parts = plan_parts(4_661_211_424, min_part=100 * MB, max_part=1000 * MB, count=16)
    assert len(parts) == 16 and all(p.size == parts[0].size for p in parts[:-1])
    assert parts[0].size >= 100 * MB and parts[-1].end == 4_661_211_424
    small = plan_parts(350 * MB, min_part=100 * MB, max_part=1000 * MB, count=16)
    assert [p.size for p in small] == [100 * MB, 100 * MB, 100 * MB, 50 * MB]


@given(st.integers(1, 10**18), st.integers(1, 10**9), st.integers(1, 64))
def test_parts_cover_the_blob_exactly_and_stay_bounded(size: int, min_part: int, count: int) -> None:
    parts = plan_parts(size, min_part=min_part, max_part=min_part * 10, count=count)
    assert parts[0].start == 0 and parts[-1].end == size and len(parts) <= MAX_PARTS
    assert all(a.end == b.start for a, b in zip(parts, parts[1:]))


def test_progress_round_trips_through_json_and_counts_missing_parts() -> None:
    plan = plan_parts(10, min_part=4, max_part=4, count=16)
    state = PartsState.from_prefix(plan, 0).advanced(0, 4).advanced(2, 1)
    assert state.completed == 5 and state.missing() == (1, 2) and not state.complete
    assert PartsState.from_json(state.to_json(), plan) == state
    assert state.contiguous_prefix() == 4


def test_a_record_for_another_plan_or_a_damaged_one_is_not_trusted() -> None:
    plan = plan_parts(10, min_part=4, max_part=4, count=16)
    other = plan_parts(10, min_part=5, max_part=5, count=16)
    record = PartsState.from_prefix(plan, 6).to_json()
    assert PartsState.from_json(record, other) is None
    assert PartsState.from_json({"size": 10, "parts": [[0, 4, 9], [4, 8, 0], [8, 10, 0]]}, plan) is None
    assert PartsState.from_json({"size": 10, "parts": "x"}, plan) is None
    assert PartsState.from_json([], plan) is None


def test_a_single_stream_prefix_becomes_part_progress() -> None:
    plan = plan_parts(10, min_part=4, max_part=4, count=16)
    state = PartsState.from_prefix(plan, 6)
    assert [p.done for p in state.parts] == [4, 2, 0] and state.missing() == (1, 2)
    assert state.parts[1].offset == 6
