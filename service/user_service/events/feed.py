"""The event feed over HTTP (``GET /v1/events``): the outbox as an ordered long-poll stream.

For deployments without Redis (the embedded default relays nothing), so resource servers
still learn revocations. Same event format as the Redis stream (``relay.wire_format``);
at-least-once, ordered by event id, which follows commit order (see ``outbox``). Reads use
their own short read-only sessions: a long poll never holds a transaction (on SQLite, never
the write lock).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import anyio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from user_service.db import read_only, utcnow
from user_service.events.relay import wire_format
from user_service.models import OutboxEvent

POLL_INTERVAL = 0.25  # seconds between looks at the outbox while a long poll waits
MAX_WAIT = 30


async def _page(
    sessionmaker: async_sessionmaker[AsyncSession],
    after: int | None,
    since: dt.datetime,
    limit: int,
) -> list[OutboxEvent]:
    query = select(OutboxEvent).order_by(OutboxEvent.id).limit(limit)
    if after is None:
        query = query.where(OutboxEvent.occurred_at >= since)
    else:
        query = query.where(OutboxEvent.id > after)
    async with read_only(sessionmaker) as session:
        return list((await session.execute(query)).scalars())


async def read_events(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    after: int | None,
    wait: float,
    limit: int,
    history_seconds: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """Events after ``after`` (or, without it, those of the last ``history_seconds``: every
    revocation a still-valid token could be affected by), waiting up to ``wait`` seconds for
    the first one. Returns the events and the cursor to pass as ``after`` next time."""
    since = utcnow() - dt.timedelta(seconds=history_seconds)
    deadline = time.monotonic() + min(wait, MAX_WAIT)
    while True:
        rows = await _page(sessionmaker, after, since, limit)
        if rows or time.monotonic() >= deadline:
            break
        await anyio.sleep(min(POLL_INTERVAL, max(0.0, deadline - time.monotonic())))
    if rows:
        return [wire_format(row) for row in rows], str(rows[-1].id)
    if after is not None:
        return [], str(after)
    # No history yet: start at the current end, so nothing committed later is skipped.
    async with read_only(sessionmaker) as session:
        newest = await session.scalar(select(OutboxEvent.id).order_by(OutboxEvent.id.desc()))
    return [], str(newest or 0)
