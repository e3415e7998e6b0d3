"""Kernel test fixtures: every test leaves no actor running."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pykka
import pytest

_TEARDOWN_S = 10.0
_PER_ACTOR_S = 2.0


@pytest.fixture(autouse=True)
def _stop_every_actor() -> Iterator[None]:
    """Stop all registered actors after each test, oldest first.

    Oldest first: roots are registered before their children, so a supervisor
    stops its subtree in order instead of restarting children stopped under it.
    An actor stuck past its deadline is skipped (its thread is a daemon).
    """
    yield
    deadline = time.monotonic() + _TEARDOWN_S
    stuck: set[str] = set()
    while time.monotonic() < deadline:
        refs = [ref for ref in pykka.ActorRegistry.get_all() if ref.actor_urn not in stuck]
        if not refs:
            return
        try:
            refs[0].stop(block=True, timeout=_PER_ACTOR_S)
        except pykka.Timeout:
            stuck.add(refs[0].actor_urn)
