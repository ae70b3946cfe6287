"""The User Service's domain events as a resource server receives them (docs/api.md §6).

Both transports (the Redis stream + pub/sub, and the ``GET /v1/events`` long-poll feed)
deliver the same JSON at least once; :class:`EventHub` parses it, drops duplicates by
``event_id`` and hands each event once to every matching subscriber, in arrival order.
"""

from __future__ import annotations

import datetime as dt
import inspect
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("quantagro_auth.events")

EventCallback = Callable[["Event"], Awaitable[None] | None]

_SEEN_LIMIT = 100_000


def parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class Event:
    """One outbox event: ``{event_id, type, aggregate_type, aggregate_id, occurred_at,
    payload}``. Payloads carry ids and statuses, never secrets."""

    event_id: int
    type: str
    aggregate_type: str
    aggregate_id: str
    occurred_at: dt.datetime | None
    payload: Mapping[str, Any] = field(compare=False, hash=False)

    @classmethod
    def from_wire(cls, data: Any) -> Event:
        """Parse the wire format; raises ``ValueError`` on anything else."""
        if not isinstance(data, Mapping):
            raise ValueError("an event is a JSON object")
        event_id, event_type = data.get("event_id"), data.get("type")
        if isinstance(event_id, bool) or not isinstance(event_id, int):
            raise ValueError("event_id must be an integer")
        if not isinstance(event_type, str) or not event_type:
            raise ValueError("type must be a string")
        payload = data.get("payload")
        return cls(
            event_id=event_id,
            type=event_type,
            aggregate_type=str(data.get("aggregate_type") or ""),
            aggregate_id=str(data.get("aggregate_id") or ""),
            occurred_at=parse_time(data.get("occurred_at")),
            payload=dict(payload) if isinstance(payload, Mapping) else {},
        )

    def get(self, name: str) -> str | None:
        """A payload field as a string (ids are strings on the wire), or ``None``."""
        value = self.payload.get(name)
        return None if value is None else str(value)


def matches(pattern: str, event_type: str) -> bool:
    """``"*"``, an exact type, or a prefix pattern such as ``"trading_account.*"``."""
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type


async def call(callback: Callable[..., Awaitable[None] | None], *args: Any) -> None:
    """Run a sync or async callback; its failure is logged, never propagated."""
    try:
        result = callback(*args)
        if inspect.isawaitable(result):
            await result
    except Exception:
        log.exception("quantagro_auth callback %r failed", callback)


class EventHub:
    """De-duplicates and dispatches events; ``client.events``."""

    def __init__(self) -> None:
        self._subscribers: list[tuple[tuple[str, ...], EventCallback]] = []
        self._seen: OrderedDict[int, None] = OrderedDict()
        self.last_event_id: int | None = None
        self.received = 0

    def subscribe(self, callback: EventCallback, *types: str) -> Callable[[], None]:
        """Call ``callback(event)`` for every new event whose type matches one of ``types``
        (all events when none is given; ``"trading_account.*"`` matches a family).

        Returns a function that unsubscribes.
        """
        entry = (types or ("*",), callback)
        self._subscribers.append(entry)

        def unsubscribe() -> None:
            if entry in self._subscribers:
                self._subscribers.remove(entry)

        return unsubscribe

    def on(self, *types: str) -> Callable[[EventCallback], EventCallback]:
        """Decorator form of :meth:`subscribe`."""

        def register(callback: EventCallback) -> EventCallback:
            self.subscribe(callback, *types)
            return callback

        return register

    def seen(self, event_id: int) -> bool:
        return event_id in self._seen

    async def publish(self, data: Any) -> Event | None:
        """Accept one event from a transport; returns it, or ``None`` when it was a duplicate
        or malformed."""
        try:
            event = data if isinstance(data, Event) else Event.from_wire(data)
        except ValueError as exc:
            log.warning("event_ignored: %s", exc)
            return None
        if event.event_id in self._seen:
            return None
        self._seen[event.event_id] = None
        if len(self._seen) > _SEEN_LIMIT:
            self._seen.popitem(last=False)
        if self.last_event_id is None or event.event_id > self.last_event_id:
            self.last_event_id = event.event_id
        self.received += 1
        for types, callback in list(self._subscribers):
            if any(matches(pattern, event.type) for pattern in types):
                await call(callback, event)
        return event
