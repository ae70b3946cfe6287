"""The outbox relay: committed events → Redis Streams and pub/sub (docs/api.md §6).

At least once, in order per aggregate: events are read in id order (the order their
transactions appended them) and marked published only after Redis accepted them, so a crash
between the two re-sends rather than loses; consumers de-duplicate on ``event_id``. One
instance relays at a time (a PostgreSQL advisory lock elects it; SQLite is one process),
which keeps the order without coordination between instances.

Each event goes to the stream ``{prefix}:events`` (``XADD``, capped at ``MAXLEN ~ 100000``)
for consumers that catch up, and to the channel ``{prefix}:events`` for live listeners
(the SDK learns session revocations there). Without Redis, events stay in the outbox.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import structlog
from redis.asyncio import Redis
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from user_service.db import utcnow
from user_service.models import OutboxEvent

log = structlog.get_logger(__name__)

_RELAY_LOCK_KEY = 0x0E7E17
STREAM_MAXLEN = 100_000


def stream_name(prefix: str) -> str:
    return f"{prefix}:events"


def wire_format(event: OutboxEvent) -> dict[str, Any]:
    return {
        "event_id": event.id,
        "type": event.event_type,
        "aggregate_type": event.aggregate_type,
        "aggregate_id": event.aggregate_id,
        "occurred_at": event.occurred_at.isoformat(),
        "payload": event.payload,
    }


class OutboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        redis: Redis,
        prefix: str,
        *,
        batch_size: int = 200,
        idle_seconds: float = 0.5,
    ) -> None:
        self._engine = engine
        self._redis = redis
        self._channel = stream_name(prefix)
        self._batch_size = batch_size
        self._idle_seconds = idle_seconds

    async def relay_once(self, connection: AsyncConnection) -> int:
        """Publish one batch of pending events; returns how many were published."""
        rows = (
            await connection.execute(
                select(OutboxEvent)
                .where(OutboxEvent.published_at.is_(None))
                .order_by(OutboxEvent.id)
                .limit(self._batch_size)
            )
        ).all()
        if not rows:
            await connection.rollback()  # never sit idle inside a transaction (SQLite: a lock)
            return 0
        events = [OutboxEvent(**row._mapping) for row in rows]
        async with self._redis.pipeline(transaction=False) as pipe:
            for event in events:
                message = json.dumps(wire_format(event), separators=(",", ":"), default=str)
                pipe.xadd(self._channel, {"event": message}, maxlen=STREAM_MAXLEN, approximate=True)
                pipe.publish(self._channel, message)
            await pipe.execute()
        await connection.execute(
            update(OutboxEvent)
            .where(OutboxEvent.id.in_([event.id for event in events]))
            .values(published_at=utcnow(), attempts=OutboxEvent.attempts + 1)
        )
        await connection.commit()
        return len(events)

    async def _leader(self, connection: AsyncConnection) -> bool:
        if connection.dialect.name != "postgresql":
            return True
        result = await connection.execute(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": _RELAY_LOCK_KEY}
        )
        await connection.commit()
        return bool(result.scalar())

    async def _release(self, connection: AsyncConnection) -> None:
        """Give up leadership (a session-level lock would outlive a pooled connection)."""
        if connection.dialect.name != "postgresql":
            return
        try:
            await connection.rollback()
            await connection.execute(
                text("SELECT pg_advisory_unlock(:key)"), {"key": _RELAY_LOCK_KEY}
            )
            await connection.commit()
        except Exception as exc:
            log.warning("outbox_relay_release_failed", error=type(exc).__name__)

    async def run(self) -> None:
        """Relay until cancelled; survives Redis and database hiccups."""
        while True:
            try:
                async with self._engine.connect() as connection:
                    while not await self._leader(connection):  # noqa: ASYNC110 - polls a DB lock
                        await anyio.sleep(self._idle_seconds * 4)
                    try:
                        while True:
                            published = await self.relay_once(connection)
                            if published < self._batch_size:
                                await anyio.sleep(self._idle_seconds)
                    finally:
                        with anyio.CancelScope(shield=True):
                            await self._release(connection)
            except anyio.get_cancelled_exc_class():
                raise
            except Exception as exc:
                log.warning("outbox_relay_error", error=type(exc).__name__)
                await anyio.sleep(self._idle_seconds * 4)
