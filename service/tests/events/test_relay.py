"""The outbox relay publishes committed events to Redis, at least once and in order."""

import json

import anyio
import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from tests.fixtures.users import login, register
from user_service.events.relay import OutboxRelay, stream_name
from user_service.models import OutboxEvent

pytestmark = pytest.mark.anyio


def needs_redis(backend):
    if backend.redis_url is None:
        pytest.skip("the embedded back-end has no Redis: events stay in the outbox")


async def test_events_reach_the_stream_and_channel_in_order(app, client, backend):
    needs_redis(backend)
    prefix = app.state.services.settings.redis_key_prefix
    redis = Redis.from_url(backend.redis_url)
    pubsub = redis.pubsub()
    await pubsub.subscribe(stream_name(prefix))
    await pubsub.get_message(timeout=1)  # the subscribe confirmation
    user = await register(client)
    await login(client, user)
    seen: list[dict] = []
    with anyio.fail_after(10):
        while len([e for e in seen if e["aggregate_id"] == user.user_id]) < 2:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
            if message:
                seen.append(json.loads(message["data"]))
    mine = [e for e in seen if e["aggregate_id"] == user.user_id]
    assert [e["type"] for e in mine] == ["user.registered", "session.created"]
    assert mine[0]["event_id"] < mine[1]["event_id"]
    entries = await redis.xrange(stream_name(prefix))
    streamed = [json.loads(fields[b"event"]) for _, fields in entries]
    assert [e["event_id"] for e in streamed] == sorted(e["event_id"] for e in streamed)
    await pubsub.aclose()
    await redis.aclose()


async def test_an_event_stays_pending_until_redis_accepts_it(backend, backend_settings):
    needs_redis(backend)
    from tests.conftest import client_for, running_app

    # No REDIS_URL: this app runs no relay of its own, so only this test publishes.
    async with running_app(backend_settings(redis_url=None)) as quiet, client_for(quiet) as http:
        user = await register(http)
        engine = quiet.state.services.engine

        async def published_at():
            async with quiet.state.services.sessionmaker() as db:
                return await db.scalar(
                    select(OutboxEvent.published_at).where(OutboxEvent.aggregate_id == user.user_id)
                )

        broken = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
        async with engine.connect() as connection:
            with pytest.raises(Exception):  # noqa: B017 - any Redis error will do
                await OutboxRelay(engine, broken, "unused").relay_once(connection)
        await broken.aclose()
        assert await published_at() is None

        prefix = f"{backend.redis_prefix}relay"
        working = Redis.from_url(backend.redis_url)
        async with engine.connect() as connection:
            relay = OutboxRelay(engine, working, prefix, batch_size=100_000)
            assert await relay.relay_once(connection) >= 1
        assert await published_at() is not None
        streamed = [json.loads(f[b"event"]) for _, f in await working.xrange(stream_name(prefix))]
        assert any(e["aggregate_id"] == user.user_id for e in streamed)
        await working.aclose()


async def test_the_embedded_mode_keeps_events_in_the_outbox(app, client, backend):
    if backend.redis_url is not None:
        pytest.skip("only the embedded back-end runs without Redis")
    user = await register(client)
    async with app.state.services.sessionmaker() as db:
        rows = list(
            (
                await db.execute(
                    select(OutboxEvent).where(OutboxEvent.aggregate_id == user.user_id)
                )
            ).scalars()
        )
    assert rows and all(row.published_at is None for row in rows)
