"""``GET /v1/admin/audit/daily``: events per day and type, for compliance (docs/api.md §6).

Read from ``audit_daily_counts``, which the retention job refreshes (hourly by default) and
keeps after the records themselves are pruned — two years of records, counts for as long as
the installation lives.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from user_service.admin.dependencies import AuditReader
from user_service.audit import retention
from user_service.deps import DbSession
from user_service.exceptions import BadRequest
from user_service.kit.pagination import decode_cursor, encode_cursor
from user_service.kit.validation import cursor_str

router = APIRouter(prefix="/v1/admin/audit", tags=["admin"])


class DailyCountOut(BaseModel):
    day: dt.date
    event_type: str
    events: int
    max_risk_score: int


class DailyCountPage(BaseModel):
    items: list[DailyCountOut]
    next_cursor: str | None


def _invalid_cursor() -> BadRequest:
    return BadRequest("The cursor is not valid.", code="invalid_cursor")


@router.get("/daily", response_model=DailyCountPage)
async def daily_counts(
    reader: AuditReader,
    db: DbSession,
    since: dt.date | None = None,
    until: dt.date | None = None,
    event_type: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
) -> DailyCountPage:
    """Audit events per UTC day and type, newest day first (roles admin and compliance).
    ``since``/``until`` are inclusive days; ``event_type`` may end in ``.*``."""
    if since and until and since > until:
        raise BadRequest("since must not be after until.", code="invalid_range")
    after: tuple[dt.date, str] | None = None
    position = decode_cursor(cursor)
    if position:
        try:
            after = (dt.date.fromisoformat(cursor_str(position, "day", 10)), "")
        except ValueError as exc:
            raise _invalid_cursor() from exc
        after = (after[0], cursor_str(position, "event_type", 64))
    rows = await retention.daily_counts(
        db, since=since, until=until, event_type=event_type, after=after, limit=limit + 1
    )
    next_cursor = (
        encode_cursor(
            {"day": rows[limit - 1].day.isoformat(), "event_type": rows[limit - 1].event_type}
        )
        if len(rows) > limit
        else None
    )
    return DailyCountPage(
        items=[
            DailyCountOut(
                day=row.day,
                event_type=row.event_type,
                events=row.events,
                max_risk_score=row.max_risk_score,
            )
            for row in rows[:limit]
        ],
        next_cursor=next_cursor,
    )
