"""``GET /v1/events``: the outbox as a long-poll feed for services holding ``events:read``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel
from quantagro_auth.principals import ServicePrincipal

from user_service.auth.dependencies import RequireScope
from user_service.db import commit_before_slow_call
from user_service.deps import DbSession, Services
from user_service.events.feed import MAX_WAIT, read_events
from user_service.sessions.cookies import no_store

router = APIRouter(prefix="/v1", tags=["events"])
EventReader = Annotated[ServicePrincipal, RequireScope("events:read")]


class EventsPage(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None


@router.get("/events", response_model=EventsPage)
async def events(
    client: EventReader,
    services: Services,
    db: DbSession,
    response: Response,
    after: Annotated[str | None, Query(pattern=r"^[0-9]{1,18}$")] = None,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> EventsPage:
    """Events after ``after`` in commit order, the same JSON as the Redis stream
    (``{event_id, type, aggregate_type, aggregate_id, occurred_at, payload}``), waiting up to
    ``wait`` seconds for the first. Without ``after``: the events of the longest token
    lifetime. Pass ``next_cursor`` as ``after`` next time; de-duplicate on ``event_id``."""
    no_store(response)
    await commit_before_slow_call(db)  # authentication done; the long poll holds no transaction
    settings = services.settings
    items, cursor = await read_events(
        services.sessionmaker,
        after=int(after) if after is not None else None,
        wait=wait,
        limit=limit,
        history_seconds=max(settings.access_token_ttl_seconds, settings.service_token_ttl_seconds),
    )
    return EventsPage(items=items, next_cursor=cursor)
