"""In-process pub/sub: the EventBus actor (adapter for a real broker later).

Contexts learn of each other's changes only through events with stable wire
names (``model.created``, ``model.deleted``, ``runner.loaded``…). Subscribers
are callables invoked on the bus's thread; a failing subscriber is logged and
dropped, never allowed to take the bus down.

Every published event is logged with its data: at info level, except the
high-frequency ones in ``DEBUG_EVENTS`` (``transfer.bytes``, one per part,
chunk or attempt of a transfer), which are logged at debug level so a pull
does not flood the daemon's log.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from ollama_actors.kernel import ExitReason, GenServer, handle_cast
from ollama_actors.kernel.messages import cast
from ollama_actors.kernel.names import Names

__all__ = ["DEBUG_EVENTS", "Event", "EventBus", "Publish", "Subscribe", "publisher"]

DEBUG_EVENTS: frozenset[str] = frozenset({"transfer.bytes"})
"""Event names published many times per request: logged at debug, not info."""


@dataclass(frozen=True)
class Event:
    name: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Publish:
    event: Event


@dataclass(frozen=True)
class Subscribe:
    callback: Callable[[Event], None]


class EventBus(GenServer):
    def __init__(self, names: Names) -> None:
        super().__init__()
        self._names = names
        self._subscribers: list[Callable[[Event], None]] = []

    def init(self) -> None:
        self._names.register("event_bus", self.actor_ref)

    def terminate(self, reason: ExitReason) -> None:
        self._names.unregister("event_bus", self.actor_ref)

    @handle_cast(Subscribe)
    def _on_subscribe(self, msg: Subscribe) -> None:
        self._subscribers.append(msg.callback)

    @handle_cast(Publish)
    def _on_publish(self, msg: Publish) -> None:
        log = structlog.get_logger()
        level = log.debug if msg.event.name in DEBUG_EVENTS else log.info
        level("event", event_name=msg.event.name, **msg.event.data)
        for callback in list(self._subscribers):
            try:
                callback(msg.event)
            except Exception as error:  # a subscriber's bug must not stop the bus
                structlog.get_logger().warning("subscriber_failed", error=repr(error))
                self._subscribers.remove(callback)


def publisher(names: Names) -> Callable[[str, dict[str, Any]], None]:
    """A function that publishes on whichever bus is currently registered."""

    def publish(name: str, data: dict[str, Any]) -> None:
        bus = names.whereis("event_bus")
        if bus is not None:
            cast(bus, Publish(Event(name, data)))

    return publish
