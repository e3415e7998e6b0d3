"""keep_alive as Ollama: durations and numbers, 0 unloads after the response, negative
keeps forever, the latest request's value wins, expiry by timer messages."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import ollama
import pytest

from tests.fixtures.daemon import RunningDaemon
from tests.fixtures.daemons import TINY

OPTS = {"num_predict": 2, "temperature": 0, "seed": 1, "num_ctx": 512}


@pytest.fixture(scope="module")
def client(daemon: RunningDaemon) -> ollama.Client:
    return ollama.Client(host=daemon.base_url, timeout=60)


def _loaded(client: ollama.Client) -> dict[str, ollama.ProcessResponse.Model]:
    return {m.model: m for m in client.ps().models}


def _wait_unloaded(client: ollama.Client, model: str, timeout: float) -> float:
    """Seconds until ``model`` left /api/ps (a bounded poll on the daemon's state)."""
    started = time.monotonic()
    while model in _loaded(client):
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{model} still loaded after {timeout}s")
        time.sleep(0.05)
    return time.monotonic() - started


def test_a_short_keep_alive_expires_by_its_timer(client: ollama.Client) -> None:
    client.generate(model=TINY, prompt="x", options=OPTS, keep_alive="1s")
    assert TINY in _loaded(client)
    assert _wait_unloaded(client, TINY, timeout=15) < 15


def test_zero_unloads_right_after_the_response(client: ollama.Client) -> None:
    response = client.generate(model=TINY, prompt="x", options=OPTS, keep_alive=0)
    assert response.done
    _wait_unloaded(client, TINY, timeout=30)


def test_negative_keeps_the_model_forever_and_the_latest_value_wins(client: ollama.Client) -> None:
    client.generate(model=TINY, prompt="x", options=OPTS, keep_alive=-1)
    forever = _loaded(client)[TINY].expires_at
    assert forever is not None and forever - datetime.now(timezone.utc) > timedelta(days=365 * 200)
    client.generate(model=TINY, prompt="x", options=OPTS, keep_alive="10m")
    later = _loaded(client)[TINY].expires_at
    assert later is not None
    assert timedelta(minutes=9) < later - datetime.now(timezone.utc) <= timedelta(minutes=10, seconds=5)
    client.generate(model=TINY, prompt="x", options=OPTS, keep_alive=3600)  # a number is seconds
    hour = _loaded(client)[TINY].expires_at
    assert hour is not None and timedelta(minutes=59) < hour - datetime.now(timezone.utc)
    client.generate(model=TINY, prompt="", keep_alive=0)  # unload for the next tests


def test_the_default_keep_alive_is_five_minutes(client: ollama.Client) -> None:
    client.generate(model=TINY, prompt="x", options=OPTS)
    expires = _loaded(client)[TINY].expires_at
    assert expires is not None
    assert timedelta(minutes=4) < expires - datetime.now(timezone.utc) <= timedelta(minutes=5, seconds=5)
    client.generate(model=TINY, prompt="", keep_alive=0)
