"""SQLite with Redis: the relay must not hold the database's write lock while idle."""

import anyio
import pytest

from tests.conftest import client_for, running_app
from tests.fixtures.backends import REDIS_BASE, REDIS_DB
from tests.fixtures.users import register

pytestmark = pytest.mark.anyio


async def test_requests_are_not_blocked_by_an_idle_relay(backend, backend_settings):
    if backend.name != "sqlite":
        pytest.skip("the write lock is SQLite's")
    settings = backend_settings(
        redis_url=f"{REDIS_BASE}/{REDIS_DB}", redis_key_prefix=f"{backend.redis_prefix}sqlrelay"
    )
    async with running_app(settings) as app, client_for(app) as http:
        await anyio.sleep(1.5)  # let the relay go idle
        with anyio.fail_after(5):  # a held lock would make this wait 30 s, then fail
            await register(http)
            await register(http)
