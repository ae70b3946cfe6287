"""SQL for sign-in markers and the previous located sign-in."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from user_service.models import MarkerKind, SignInMarker, UserSession

Marker = tuple[MarkerKind, str]


async def has_markers(db: AsyncSession, user_id: uuid.UUID) -> bool:
    result = await db.execute(select(SignInMarker.kind).where(SignInMarker.user_id == user_id))
    return result.first() is not None


async def known(db: AsyncSession, user_id: uuid.UUID, markers: list[Marker]) -> set[Marker]:
    if not markers:
        return set()
    result = await db.execute(
        select(SignInMarker.kind, SignInMarker.value).where(
            SignInMarker.user_id == user_id,
            tuple_(SignInMarker.kind, SignInMarker.value).in_(markers),
        )
    )
    return {(row[0], row[1]) for row in result}


async def last_located_sign_in(
    db: AsyncSession, user_id: uuid.UUID
) -> tuple[str, dt.datetime] | None:
    result = await db.execute(
        select(UserSession.country, UserSession.created_at)
        .where(UserSession.user_id == user_id, UserSession.country.is_not(None))
        .order_by(UserSession.created_at.desc())
        .limit(1)
    )
    row = result.first()
    return (row[0], row[1]) if row is not None and row[0] is not None else None


async def remember(
    db: AsyncSession, user_id: uuid.UUID, markers: list[Marker], now: dt.datetime
) -> None:
    if not markers:
        return
    insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(SignInMarker)
    await db.execute(
        statement.on_conflict_do_update(
            index_elements=["user_id", "kind", "value"],
            set_={"last_seen_at": statement.excluded.last_seen_at},
        ),
        [
            {
                "user_id": user_id,
                "kind": kind,
                "value": value,
                "first_seen_at": now,
                "last_seen_at": now,
            }
            for kind, value in sorted(markers)  # one order everywhere: no upsert deadlocks
        ],
    )
