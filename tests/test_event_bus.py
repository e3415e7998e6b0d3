"""The event bus logs what it publishes: ordinary events at info, the high-frequency
ones (``transfer.bytes``) at debug so a pull does not flood the log."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pykka
import pytest
from structlog.testing import capture_logs

from ollama_actors.adapters.event_bus import DEBUG_EVENTS, Event, EventBus, Subscribe, publisher
from ollama_actors.kernel.messages import cast
from ollama_actors.kernel.names import Names


@pytest.fixture
def bus() -> Iterator[tuple[Names, pykka.ActorRef[Any]]]:
    names = Names()
    ref = EventBus.start_link(None, names)
    try:
        yield names, ref
    finally:
        ref.stop(block=True, timeout=5)


def test_transfer_bytes_is_logged_at_debug_and_other_events_at_info(bus: tuple[Names, pykka.ActorRef[Any]]) -> None:
    names, ref = bus
    seen: list[Event] = []
    both = threading.Event()

    def subscriber(event: Event) -> None:  # called after the bus logged the event
        seen.append(event)
        if len(seen) == 2:
            both.set()

    with capture_logs() as logs:
        cast(ref, Subscribe(subscriber))
        publish = publisher(names)
        publish("transfer.bytes", {"direction": "in", "bytes": 1024})
        publish("model.created", {"model": "m:latest"})
        assert both.wait(5)
    events = [(entry["log_level"], entry["event_name"]) for entry in logs if entry["event"] == "event"]
    assert events == [("debug", "transfer.bytes"), ("info", "model.created")]
    assert [entry for entry in logs if entry.get("event_name") == "transfer.bytes"][0]["bytes"] == 1024
    assert "transfer.bytes" in DEBUG_EVENTS and "model.created" not in DEBUG_EVENTS
