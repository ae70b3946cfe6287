"""The alert service's own table and every query on it.

Each row carries the ``user_id`` of the token that created it, and every query filters on it:
that filter, not a permission check, is what keeps one trader's alerts invisible to another
(another user's alert id simply finds nothing, so the API answers 404 for it too).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Boolean, DateTime, Float, Index, Integer, String, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_user_id_seq", "user_id", "seq"),)

    # ``seq`` orders the list and makes the cursor; ``alert_id`` is what clients see.
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(
        String(36), unique=True, default=lambda: str(uuid.uuid4())
    )
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    symbol: Mapped[str] = mapped_column(String(32))
    condition: Mapped[str] = mapped_column(String(8))  # "above" | "below"
    price: Mapped[float] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)  # False: paused
    # Stored as UTC; SQLite drops the zone, so it is put back on the way out.
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)

    def to_dict(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "user_id": self.user_id,
            "symbol": self.symbol,
            "condition": self.condition,
            "price": self.price,
            "note": self.note,
            "active": self.active,
            "created_at": self.created_at.replace(tzinfo=dt.UTC).isoformat(),
            "updated_at": self.updated_at.replace(tzinfo=dt.UTC).isoformat(),
        }


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


async def create_schema(engine: AsyncEngine) -> None:
    """An example creates its table at start-up; a real service would use migrations."""
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)


async def add(db: AsyncSession, user_id: str, fields: dict[str, Any]) -> Alert:
    now = _now()
    alert = Alert(user_id=user_id, created_at=now, updated_at=now, **fields)
    db.add(alert)
    await db.flush()
    return alert


async def get(db: AsyncSession, user_id: str, alert_id: str) -> Alert | None:
    return await db.scalar(
        select(Alert).where(Alert.user_id == user_id, Alert.alert_id == alert_id)
    )


async def page(
    db: AsyncSession, user_id: str, *, after: int | None, limit: int
) -> tuple[list[Alert], int | None]:
    """Oldest first; returns the rows and the ``seq`` to continue after (or None at the end)."""
    query = select(Alert).where(Alert.user_id == user_id).order_by(Alert.seq).limit(limit + 1)
    if after is not None:
        query = query.where(Alert.seq > after)
    rows = list(await db.scalars(query))
    if len(rows) > limit:
        return rows[:limit], rows[limit - 1].seq
    return rows, None


async def update(db: AsyncSession, alert: Alert, fields: dict[str, Any]) -> Alert:
    for name, value in fields.items():
        setattr(alert, name, value)
    alert.updated_at = _now()
    await db.flush()
    return alert


async def delete(db: AsyncSession, alert: Alert) -> None:
    await db.delete(alert)
    await db.flush()
