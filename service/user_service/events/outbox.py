"""Domain events, written to the outbox in the transaction of the change (SPEC §6).

A relay publishes them afterwards (at least once, in order per aggregate), so an event is
never lost when the process dies between the commit and the publish. Payloads never carry
secrets.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from user_service.db import utcnow
from user_service.models import OutboxEvent


def emit(
    session: AsyncSession,
    event_type: str,
    *,
    aggregate_type: str,
    aggregate_id: object,
    payload: dict[str, Any] | None = None,
) -> OutboxEvent:
    now = utcnow()
    event = OutboxEvent(
        aggregate_type=aggregate_type,
        aggregate_id=str(aggregate_id),
        event_type=event_type,
        payload={"type": event_type, "occurred_at": now.isoformat(), **(payload or {})},
        occurred_at=now,
    )
    session.add(event)
    return event
