"""SQL for the audit log."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Sequence

from sqlalchemy import Select, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from user_service.models import AuditChainAnchor, AuthEvent

# Arbitrary constant naming the audit chain's advisory lock on PostgreSQL.
_CHAIN_LOCK_KEY = 0x51A0D17


async def lock_chain(session: AsyncSession) -> None:
    """Serialise chain appends until commit (SQLite's BEGIN IMMEDIATE already does)."""
    await session.run_sync(lock_chain_sync)


def lock_chain_sync(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHAIN_LOCK_KEY})


# The newest record is looked for in this recent window first: on a partitioned table an
# unbounded ``ORDER BY id DESC LIMIT 1`` probes every weekly partition's index.
_RECENT = dt.timedelta(days=8)


def chain_head_sync(session: Session, now: dt.datetime) -> tuple[str | None, int | None]:
    """The hash the next record chains to: the newest record's, else (everything pruned)
    the newest anchor's — then also the lowest id the next record may take, since SQLite
    hands out max(rowid) + 1 and would reuse the ids of the pruned records."""
    newest = select(AuthEvent.hash).order_by(AuthEvent.id.desc()).limit(1)
    found = session.execute(newest.where(AuthEvent.occurred_at >= now - _RECENT)).scalar()
    if found is None:
        found = session.execute(newest).scalar()
    if found is not None:
        return found, None
    anchor = session.execute(_LATEST_ANCHOR).scalar()
    return (anchor.last_hash, anchor.last_id + 1) if anchor else (None, None)


_LATEST_ANCHOR = select(AuditChainAnchor).order_by(AuditChainAnchor.id.desc()).limit(1)


async def latest_anchor(session: AsyncSession) -> AuditChainAnchor | None:
    return (await session.execute(_LATEST_ANCHOR)).scalar_one_or_none()


def query_events(
    *,
    user_id: uuid.UUID | None,
    event_type: str | Sequence[str] | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    before_id: int | None,
    limit: int,
) -> Select[AuthEvent]:
    """``event_type`` is one type or several (any of them); each may end in ``.*``."""
    query = select(AuthEvent).order_by(AuthEvent.id.desc()).limit(limit)
    if user_id is not None:
        query = query.where(AuthEvent.user_id == user_id)
    types = [event_type] if isinstance(event_type, str) else list(event_type or [])
    if types:
        query = query.where(
            or_(
                *(
                    AuthEvent.event_type.startswith(kind[:-1])
                    if kind.endswith(".*")
                    else AuthEvent.event_type == kind
                    for kind in types
                )
            )
        )
    if since is not None:
        query = query.where(AuthEvent.occurred_at >= since)
    if until is not None:
        query = query.where(AuthEvent.occurred_at < until)
    if before_id is not None:
        query = query.where(AuthEvent.id < before_id)
    return query


async def list_events(session: AsyncSession, query: Select[AuthEvent]) -> list[AuthEvent]:
    return list((await session.execute(query)).scalars())


async def iterate_chain(
    session: AsyncSession, batch: int = 1000, after: int = 0
) -> AsyncIterator[AuthEvent]:
    while True:
        rows = list(
            (
                await session.execute(
                    select(AuthEvent)
                    .where(AuthEvent.id > after)
                    .order_by(AuthEvent.id)
                    .limit(batch)
                )
            ).scalars()
        )
        if not rows:
            return
        for row in rows:
            yield row
        after = rows[-1].id


async def iterate_user_events(
    session: AsyncSession, user_id: uuid.UUID, batch: int = 1000
) -> AsyncIterator[AuthEvent]:
    after = 0
    while True:
        rows = list(
            (
                await session.execute(
                    select(AuthEvent)
                    .where(AuthEvent.user_id == user_id, AuthEvent.id > after)
                    .order_by(AuthEvent.id)
                    .limit(batch)
                )
            ).scalars()
        )
        if not rows:
            return
        for row in rows:
            yield row
        after = rows[-1].id
