"""Outbox retention: old events go once no consumer can be owed them (both back-ends)."""

import datetime as dt

import pytest
from sqlalchemy import func, select, update

from tests.fixtures.users import signed_in_user
from user_service.db import utcnow
from user_service.events.retention import prune_outbox
from user_service.models import OutboxEvent

pytestmark = pytest.mark.anyio


async def _backdate_all(app, days: int) -> int:
    async with app.state.services.sessionmaker() as db:
        await db.execute(update(OutboxEvent).values(occurred_at=utcnow() - dt.timedelta(days=days)))
        await db.commit()
        return int(await db.scalar(select(func.count()).select_from(OutboxEvent)) or 0)


async def _prune(app, *, relayed: bool) -> int:
    async with app.state.services.sessionmaker() as db:
        removed = await prune_outbox(db, retention_days=7, relayed=relayed)
        await db.commit()
        return removed


async def test_events_past_the_retention_are_deleted_and_recent_ones_kept(client, app):
    await signed_in_user(client)
    old = await _backdate_all(app, days=8)
    assert old >= 2
    await signed_in_user(client)  # recent: user.registered, session.created
    assert await _prune(app, relayed=False) == old
    async with app.state.services.sessionmaker() as db:
        assert await db.scalar(select(func.count()).select_from(OutboxEvent)) == 2


async def test_with_a_relay_an_unpublished_event_is_never_dropped(client, app):
    await signed_in_user(client)
    old = await _backdate_all(app, days=30)
    # One transaction, so the running relay cannot publish anything in between.
    async with app.state.services.sessionmaker() as db:
        await db.execute(update(OutboxEvent).values(published_at=None))
        first = await db.scalar(select(func.min(OutboxEvent.id)))
        await db.execute(
            update(OutboxEvent).where(OutboxEvent.id == first).values(published_at=utcnow())
        )
        removed = await prune_outbox(db, retention_days=7, relayed=True)
        left = await db.scalar(select(func.count()).select_from(OutboxEvent))
        await db.commit()
    assert removed == 1  # only the published one
    assert left == old - 1
