"""Outbox retention: events are kept long enough for every consumer, then deleted.

An event is deleted once it is older than ``OUTBOX_RETENTION_DAYS`` (default 7) **and** it can
no longer be owed to anyone: with Redis, only after the relay published it (an unpublished
event is never dropped, however old — Redis may simply have been down); without Redis, the
HTTP feed is the only way out, and a feed consumer that has been away for longer than the
retention resumes at its cursor (events of the longest token lifetime are all it needs to
learn revocations). Runs hourly inside the service, next to the audit maintenance; on
PostgreSQL several instances may run it at once harmlessly (a plain ``DELETE``).
"""

from __future__ import annotations

import datetime as dt

import anyio
import structlog
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from user_service.db import utcnow
from user_service.models import OutboxEvent

log = structlog.get_logger(__name__)


async def prune_outbox(
    session: AsyncSession, *, retention_days: int, relayed: bool, now: dt.datetime | None = None
) -> int:
    """Delete old events no consumer can still be owed; returns how many."""
    cutoff = (now or utcnow()) - dt.timedelta(days=retention_days)
    statement = delete(OutboxEvent).where(OutboxEvent.occurred_at < cutoff)
    if relayed:
        statement = statement.where(OutboxEvent.published_at.is_not(None))
    result = await session.execute(statement.execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


class OutboxRetention:
    """Runs :func:`prune_outbox` every ``interval_seconds`` (a lifespan background task)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        retention_days: int,
        relayed: bool,
        interval_seconds: float,
        start_delay_seconds: float,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._retention_days = retention_days
        self._relayed = relayed
        self._interval = interval_seconds
        self._start_delay = start_delay_seconds

    async def run_once(self) -> int:
        async with self._sessionmaker() as session:
            removed = await prune_outbox(
                session, retention_days=self._retention_days, relayed=self._relayed
            )
            await session.commit()
        return removed

    async def run(self) -> None:
        await anyio.sleep(self._start_delay)
        while True:
            try:
                removed = await self.run_once()
                if removed:
                    log.info("outbox_pruned", events_removed=removed)
            except anyio.get_cancelled_exc_class():
                raise
            except Exception as exc:
                log.warning("outbox_prune_failed", error=type(exc).__name__)
            await anyio.sleep(self._interval)
