"""Scheduling rules: reuse a loaded runner when it fits, evict the least recently used idle one."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
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


# ---- the memory budget ----

from ollama_actors.runner.domain.scheduling import (  # noqa: E402
    LoadedView,
    LoadPlan,
    human_bytes,
    kv_cache_bytes,
    memory_error_message,
    model_memory,
    plan_load,
)

GiB = 1 << 30


def test_the_kv_cache_is_layers_times_context_times_k_and_v_widths_in_f16() -> None:
    # Llama 3.2 1B: 16 layers, 8 KV heads × 64 = 512 for K and V, 4096 tokens → 128 MiB
    assert kv_cache_bytes(16, 4096, 512, 512) == 128 << 20


def test_a_model_needs_its_file_plus_the_kv_cache_for_every_slot() -> None:
    assert model_memory(GiB, 1000, 2048, 1) == GiB + 2_048_000
    assert model_memory(GiB, 1000, 2048, 4) == GiB + 8_192_000  # num_ctx × parallel, as Ollama splits it


def test_a_model_that_fits_loads_without_evicting() -> None:
    loaded = [LoadedView("a", True, 1.0, GiB)]
    assert plan_load(GiB, 2 * GiB, loaded, 3) == LoadPlan("load")


def test_the_least_recently_used_idle_runner_goes_first_when_memory_is_short() -> None:
    loaded = [LoadedView("new", True, 5.0, GiB), LoadedView("old", True, 1.0, GiB),
              LoadedView("busy", False, 0.0, GiB)]
    assert plan_load(2 * GiB, GiB, loaded, 5) == LoadPlan("load", ("old",))


def test_the_count_limit_evicts_even_when_memory_is_plenty() -> None:
    loaded = [LoadedView("a", True, 2.0, 1), LoadedView("b", True, 1.0, 1)]
    assert plan_load(1, 100 * GiB, loaded, 2) == LoadPlan("load", ("b",))


def test_busy_runners_holding_the_room_make_the_load_wait_for_the_least_recently_used() -> None:
    loaded = [LoadedView("recent", False, 9.0, 4 * GiB), LoadedView("busy", False, 1.0, 4 * GiB)]
    assert plan_load(2 * GiB, GiB, loaded, 3) == LoadPlan("wait", drain="busy")


def test_a_model_larger_than_everything_that_could_be_freed_is_refused() -> None:
    loaded = [LoadedView("a", True, 1.0, GiB), LoadedView("b", False, 2.0, GiB)]
    assert plan_load(4 * GiB, GiB, loaded, 3) == LoadPlan("refuse")
    assert plan_load(4 * GiB, GiB, [], 3) == LoadPlan("refuse")


def test_the_refusal_reads_as_ollamas() -> None:
    assert human_bytes(1536 << 20) == "1.5 GiB"
    assert memory_error_message(3 * GiB, 1536 << 20) == (
        "model requires more system memory (3.0 GiB) than is available (1.5 GiB)"
    )


_loaded = st.lists(
    st.builds(LoadedView, key=st.uuids().map(str), idle=st.booleans(),
              last_used=st.floats(0, 1e6), size=st.integers(0, 64 * GiB)),
    max_size=6,
)


@given(need=st.integers(0, 128 * GiB), available=st.integers(0, 128 * GiB), loaded=_loaded,
       max_loaded=st.integers(1, 4))
def test_a_load_plan_never_evicts_busy_runners_and_fits_what_it_loads(
    need: int, available: int, loaded: list[LoadedView], max_loaded: int
) -> None:
    plan = plan_load(need, available, loaded, max_loaded)
    by_key = {r.key: r for r in loaded}
    assert all(by_key[k].idle for k in plan.evict)
    if plan.action == "load":
        freed = sum(by_key[k].size for k in plan.evict)
        assert need <= available + freed
        assert len(loaded) - len(plan.evict) < max_loaded
        kept_idle = [r for r in loaded if r.idle and r.key not in plan.evict]
        assert all(by_key[k].last_used <= r.last_used for k in plan.evict for r in kept_idle)
    else:
        assert plan.evict == ()
    if plan.drain is not None:
        assert plan.action == "wait" and not by_key[plan.drain].idle
    if plan.action == "refuse":
        assert need > available + sum(r.size for r in loaded)


def test_the_kv_cache_per_token_comes_from_the_gguf_header(tmp_path: Path) -> None:
    from ollama_actors.adapters.gguf_metadata import read_gguf_info
    from tests.fixtures.tiny_gguf import write_tiny_llama_gguf

    info = read_gguf_info(write_tiny_llama_gguf(tmp_path / "tiny.gguf"))
    # 2 layers, 2 KV heads of 64 / 4 = 16 for K and for V, f16
    assert info.kv_bytes_per_token == kv_cache_bytes(2, 1, 2 * 16, 2 * 16) == 256
