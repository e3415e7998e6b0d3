"""Restart plans and restart types (pure): hypothesis properties of OTP's ordering."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ollama_actors.kernel import Restart, RestartPlan, Strategy, plan_restart, should_restart

child_lists = st.lists(st.text(min_size=1, max_size=4), min_size=1, max_size=12, unique=True)


@st.composite
def children_and_failed(draw: st.DrawFn) -> tuple[list[str], str]:
    children = draw(child_lists)
    return children, draw(st.sampled_from(children))


@given(children_and_failed(), st.sampled_from(Strategy))
def test_stops_are_in_reverse_start_order_and_starts_in_start_order(
    case: tuple[list[str], str], strategy: Strategy
) -> None:
    children, failed = case
    plan = plan_restart(children, failed, strategy)
    order = {child: i for i, child in enumerate(children)}
    assert [order[c] for c in plan.stop] == sorted((order[c] for c in plan.stop), reverse=True)
    assert [order[c] for c in plan.start] == sorted(order[c] for c in plan.start)


@given(children_and_failed(), st.sampled_from(Strategy))
def test_the_failed_child_is_started_never_stopped_and_every_stopped_child_is_started(
    case: tuple[list[str], str], strategy: Strategy
) -> None:
    children, failed = case
    plan = plan_restart(children, failed, strategy)
    assert failed in plan.start and failed not in plan.stop
    assert set(plan.start) == set(plan.stop) | {failed}


@given(children_and_failed())
def test_each_strategy_takes_down_exactly_its_siblings(case: tuple[list[str], str]) -> None:
    children, failed = case
    index = children.index(failed)
    assert plan_restart(children, failed, Strategy.ONE_FOR_ONE) == RestartPlan((), (failed,))
    all_plan = plan_restart(children, failed, Strategy.ONE_FOR_ALL)
    assert all_plan.start == tuple(children)
    rest_plan = plan_restart(children, failed, Strategy.REST_FOR_ONE)
    assert rest_plan.start == tuple(children[index:])
    assert set(rest_plan.stop) == set(children[index + 1 :])


def test_a_failed_id_that_is_not_a_child_is_rejected() -> None:
    with pytest.raises(ValueError):
        plan_restart(["a"], "b", Strategy.ONE_FOR_ONE)


@given(st.sampled_from(Restart), st.booleans())
def test_restart_types_follow_otp(restart: Restart, crashed: bool) -> None:
    expected = {
        Restart.PERMANENT: True,
        Restart.TRANSIENT: crashed,
        Restart.TEMPORARY: False,
    }[restart]
    assert should_restart(restart, crashed) is expected
