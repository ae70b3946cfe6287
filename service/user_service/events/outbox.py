"""Domain events, written to the outbox in the transaction of the change (docs/api.md §6).

A relay publishes them afterwards (at least once, in order per aggregate), so an event is
never lost when the process dies between the commit and the publish. Payloads never carry
secrets.

**Ids follow commit order.** ``emit`` only queues the event on the session; it is inserted
at commit, after everything else was flushed, under a transaction-scoped lock on PostgreSQL
(SQLite has one writer). So an event id is allocated only while no other transaction can
allocate one and commit before it, and a reader that has seen id N will never later find a
committed event with a smaller id: the HTTP feed (``GET /v1/events?after=N``) and the relay can
page by id without losing an event. The lock is taken last, when the transaction holds every
row lock it will ever hold and only inserts into the outbox remain, so it cannot deadlock.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from user_service.db import utcnow
from user_service.models import OutboxEvent

_PENDING = "outbox_pending"
_OUTBOX_LOCK_KEY = 0x0E7E18  # PostgreSQL advisory lock: one outbox writer at a time


def emit(
    session: AsyncSession,
    event_type: str,
    *,
    aggregate_type: str,
    aggregate_id: object,
    payload: dict[str, Any] | None = None,
) -> OutboxEvent:
    """Queue an event; it is written by this session's commit, or dropped by its rollback."""
    now = utcnow()
    outbox_event = OutboxEvent(
        aggregate_type=aggregate_type,
        aggregate_id=str(aggregate_id),
        event_type=event_type,
        payload={"type": event_type, "occurred_at": now.isoformat(), **(payload or {})},
        occurred_at=now,
    )
    session.info.setdefault(_PENDING, []).append(outbox_event)
    return outbox_event


def emit_user_event(
    session: AsyncSession, event_type: str, user_id: uuid.UUID, **payload: object
) -> OutboxEvent:
    """``emit`` for an event about one user: its aggregate is the user, its payload names it."""
    return emit(
        session,
        event_type,
        aggregate_type="user",
        aggregate_id=user_id,
        payload={"user_id": str(user_id), **payload},
    )


@event.listens_for(Session, "before_commit")
def _write_pending_events(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    session.flush()  # every other change first: its row locks are taken before ours
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _OUTBOX_LOCK_KEY})
    session.add_all(pending)
    session.flush()


@event.listens_for(Session, "after_rollback")
def _drop_pending_events(session: Session) -> None:
    session.info.pop(_PENDING, None)
