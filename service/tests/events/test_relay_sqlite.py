"""SQLite with Redis: the relay must not hold the database's write lock while idle."""

import secrets

import anyio
import pytest
from redis.asyncio import Redis

from tests.conftest import client_for, running_app
from tests.fixtures.backends import REDIS_BASE, REDIS_DB
from tests.fixtures.users import register

pytestmark = pytest.mark.anyio


async def test_requests_are_not_blocked_by_an_idle_relay(backend, backend_settings):
    if backend.name != "sqlite":
        pytest.skip("the write lock is SQLite's")
    prefix = f"tsqlrelay{secrets.token_hex(4)}"
    redis_url = f"{REDIS_BASE}/{REDIS_DB}"
    settings = backend_settings(redis_url=redis_url, redis_key_prefix=prefix)
    try:
        async with running_app(settings) as app, client_for(app) as http:
            await anyio.sleep(1.5)  # let the relay go idle
            with anyio.fail_after(5):  # a held lock would make this wait 30 s, then fail
                await register(http)
                await register(http)
    finally:
        redis = Redis.from_url(redis_url)
        async for key in redis.scan_iter(match=f"{prefix}*"):
            await redis.delete(key)
        await redis.aclose()
