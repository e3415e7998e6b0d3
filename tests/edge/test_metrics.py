"""Metrics fed from outside the HTTP edge: transfer bytes from the event bus, and the
time-to-first-token clock the generation routes use."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from ollama_actors.adapters.event_bus import Event, EventBus, Subscribe, publisher
from ollama_actors.edge.metrics import TRANSFER_BYTES_EVENT, DaemonMetrics, FirstToken
from ollama_actors.kernel.messages import cast
from ollama_actors.kernel.names import Names
from ollama_actors.runner.messages import TextChunk

WAIT_S = 5.0


def _transfer_bytes(metrics: DaemonMetrics, direction: str) -> float | None:
    return metrics.registry.get_sample_value("ollama_actors_transfer_bytes_total", {"direction": direction})


@pytest.fixture
def bus_names() -> Iterator[Names]:
    names = Names()
    ref = EventBus.start_link(None, names)
    try:
        yield names
    finally:
        ref.stop(block=True, timeout=WAIT_S)


def test_transfer_bytes_events_on_a_real_bus_move_the_counter(bus_names: Names) -> None:
    metrics = DaemonMetrics()
    delivered = threading.Event()

    def subscriber(event: Event) -> None:
        metrics.observe_event(event)
        if event.name == "test.done":
            delivered.set()

    cast(bus_names.whereis("event_bus"), Subscribe(subscriber))
    publish = publisher(bus_names)
    publish(TRANSFER_BYTES_EVENT, {"direction": "pull", "bytes": 1000})
    publish(TRANSFER_BYTES_EVENT, {"direction": "pull", "bytes": 24})
    publish(TRANSFER_BYTES_EVENT, {"direction": "push", "bytes": 7})
    publish("test.done", {})  # the bus delivers in order: after this, all of the above were seen
    assert delivered.wait(WAIT_S)
    assert _transfer_bytes(metrics, "pull") == 1024
    assert _transfer_bytes(metrics, "push") == 7


def test_both_directions_are_exported_at_zero_before_any_transfer() -> None:
    metrics = DaemonMetrics()
    assert _transfer_bytes(metrics, "pull") == 0
    assert _transfer_bytes(metrics, "push") == 0


@pytest.mark.parametrize(
    "data",
    [{"direction": "sideways", "bytes": 5}, {"direction": "pull", "bytes": "5"}, {"direction": "pull"},
     {"direction": "pull", "bytes": -5}, {"direction": "pull", "bytes": True}, {}],
)
def test_malformed_transfer_events_are_ignored_not_raised(data: dict[str, object]) -> None:
    metrics = DaemonMetrics()
    metrics.observe_event(Event(TRANSFER_BYTES_EVENT, data))  # a raising subscriber would be dropped by the bus
    assert _transfer_bytes(metrics, "pull") == 0


def test_other_events_do_not_count() -> None:
    metrics = DaemonMetrics()
    metrics.observe_event(Event("model.created", {"direction": "pull", "bytes": 5}))
    assert _transfer_bytes(metrics, "pull") == 0


def _ttft_count(metrics: DaemonMetrics, model: str) -> float | None:
    return metrics.registry.get_sample_value("ollama_actors_time_to_first_token_seconds_count", {"model": model})


def test_first_token_counts_the_first_chunk_with_content_once() -> None:
    metrics = DaemonMetrics()
    clock = FirstToken(metrics, "m", time.monotonic_ns())
    clock.chunk(TextChunk(""))  # no content yet
    assert _ttft_count(metrics, "m") is None
    clock.chunk(TextChunk("", thinking="hmm"))
    clock.chunk(TextChunk("more"))
    clock.answered()
    assert _ttft_count(metrics, "m") == 1


def test_first_token_of_a_non_streamed_answer_is_the_answer() -> None:
    metrics = DaemonMetrics()
    started = time.monotonic_ns()
    FirstToken(metrics, "m", started).answered()
    assert _ttft_count(metrics, "m") == 1
    total = metrics.registry.get_sample_value("ollama_actors_time_to_first_token_seconds_sum", {"model": "m"})
    assert total is not None and 0 <= total < 60


def test_first_token_without_metrics_does_nothing() -> None:
    FirstToken(None, "m", time.monotonic_ns()).answered()
