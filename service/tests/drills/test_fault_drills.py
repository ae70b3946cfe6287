"""The CI subset of ``make drills`` (docs/reliability.md): the service's own PostgreSQL cluster
and ``redis-server`` are stopped under it, and it must answer fast 503s, degrade, recover by
itself and lose nothing.

Each module run starts a cluster (``initdb`` in a temporary directory, a free port) and a Redis
of its own, never the machine's. Without ``initdb`` or ``redis-server`` these tests skip
locally and fail with ``CI`` or ``REQUIRE_POSTGRES_REDIS`` set.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from redis import Redis

from tests.conftest import client_for, make_settings, running_app
from tests.fixtures.backends import Backend, _migrate, must_have_real_services
from tests.fixtures.ephemeral import OwnPostgres, OwnRedis, ServiceMissing
from tests.fixtures.users import STRONG_PASSWORD, login, register, signed_in_user, unique_email

pytestmark = pytest.mark.anyio

RECOVERY_BOUND_SECONDS = 5.0


class Own:
    def __init__(self, pg: OwnPostgres, redis: OwnRedis, backend: Backend) -> None:
        self.pg, self.redis, self.backend = pg, redis, backend

    def scalar(self, sql: str) -> int:
        return int(self.pg.psql("drill", sql) or 0)


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Own]:
    redis: OwnRedis | None = None
    try:
        redis = OwnRedis()
        pg = OwnPostgres()
    except (ServiceMissing, FileNotFoundError) as exc:
        if redis is not None:
            redis.close()
        if must_have_real_services():
            pytest.fail(f"fault drills need their own PostgreSQL and Redis: {exc}", pytrace=False)
        pytest.skip(f"fault drills need their own PostgreSQL and Redis: {exc}")
    with pg, redis:
        pg.start()
        redis.start()
        url = pg.create_database("drill")
        _migrate(url)
        workdir: Path = tmp_path_factory.mktemp("drills")
        yield Own(pg, redis, Backend("drill", url, redis.url(0), workdir / "master.key", workdir))


# The production time limits (config.py's defaults): the drills prove the fast 503s.
PRODUCTION_DB_TIMEOUTS = {
    "db_connect_timeout_seconds": 2.0,
    "db_pool_timeout_seconds": 2.0,
    "db_statement_timeout_seconds": 5.0,
    "redis_timeout_seconds": 0.5,
}


def settings_for(own: Own, **overrides: object):
    return make_settings(
        own.backend, redis_key_prefix="drill", **{**PRODUCTION_DB_TIMEOUTS, **overrides}
    )


async def test_postgres_restart_gives_fast_503s_then_recovers_by_itself(own: Own) -> None:
    async with running_app(settings_for(own)) as app, client_for(app) as client:
        user = await signed_in_user(client)
        await anyio.to_thread.run_sync(own.pg.stop, "fast")
        try:
            for method, path, kwargs in (
                ("GET", "/v1/users/me", {"headers": user.headers}),
                ("POST", "/v1/auth/refresh", {}),
                (
                    "POST",
                    "/v1/auth/register",
                    {"json": {"email": unique_email(), "password": STRONG_PASSWORD, "name": "N"}},
                ),
            ):
                started = time.monotonic()
                response = await client.request(method, path, **kwargs)
                assert response.status_code == 503, (path, response.text)
                assert response.json()["code"] == "service_unavailable"
                assert response.headers["retry-after"]
                assert time.monotonic() - started < 3, path
            assert (await client.get("/health/ready")).status_code == 503
        finally:
            await anyio.to_thread.run_sync(own.pg.start)
        back = time.monotonic()
        while True:
            response = await client.get("/v1/users/me", headers=user.headers)
            if response.status_code == 200:
                break
            assert response.status_code == 503, response.text
            assert time.monotonic() - back < RECOVERY_BOUND_SECONDS, "no recovery within 5 s"
            await anyio.sleep(0.1)
        assert (await client.get("/health/ready")).status_code == 200
        assert (await client.post("/v1/auth/refresh")).status_code == 200
        await register(client)
    # Nothing half-written: every session has its token chain, every user its audit row.
    assert (
        own.scalar(
            "SELECT count(*) FROM sessions s WHERE NOT EXISTS "
            "(SELECT 1 FROM refresh_tokens r WHERE r.session_id = s.id)"
        )
        == 0
    )
    assert (
        own.scalar(
            "SELECT count(*) FROM (SELECT session_id FROM refresh_tokens WHERE rotated_at IS NULL "
            "GROUP BY session_id HAVING count(*) > 1) forks"
        )
        == 0
    )
    assert (
        own.scalar(
            "SELECT count(*) FROM users u WHERE NOT EXISTS (SELECT 1 FROM auth_events e "
            "WHERE e.user_id = u.id AND e.event_type = 'user.registered')"
        )
        == 0
    )


def stream_ids(redis_url: str) -> list[int]:
    client = Redis.from_url(redis_url, socket_timeout=2)
    try:
        entries = client.xrange("drill:events")
    finally:
        client.close()
    return [int(json.loads(fields[b"event"])["event_id"]) for _id, fields in entries]


async def wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await anyio.to_thread.run_sync(predicate):
            return True
        await anyio.sleep(0.2)
    return False


async def test_redis_stop_degrades_limits_locally_and_relays_events_after(own: Own) -> None:
    settings = settings_for(own, rate_limit_login_account="5 per 15 minutes")
    async with running_app(settings) as app, client_for(app) as client:
        user = await register(client)
        await login(client, user)
        pending = "SELECT count(*) FROM outbox_events WHERE published_at IS NULL"
        assert await wait_for(lambda: own.scalar(pending) == 0, 20), "outbox not relayed"
        first_new = own.scalar("SELECT coalesce(max(id), 0) FROM outbox_events") + 1

        await anyio.to_thread.run_sync(own.redis.stop)
        try:
            for _ in range(3):
                await register(client)
            assert (await client.get("/v1/users/me", headers=user.headers)).status_code == 200
            ready = await client.get("/health/ready")
            assert (ready.status_code, ready.json()["status"]) == (200, "degraded")
            victim = unique_email("limited")
            statuses = [
                (
                    await client.post(
                        "/v1/auth/login", json={"email": victim, "password": "Wrong-Password-12"}
                    )
                ).status_code
                for _ in range(7)
            ]
            assert statuses == [401] * 5 + [429] * 2  # per-instance fallback, never unlimited
            waiting = own.scalar(pending)
            assert waiting >= 3  # the three registrations' events wait in the outbox
        finally:
            await anyio.to_thread.run_sync(own.redis.start)

        expected = own.scalar(f"SELECT count(*) FROM outbox_events WHERE id >= {first_new}")
        redis_url = own.redis.url(0)

        def all_relayed() -> bool:
            return len({i for i in stream_ids(redis_url) if i >= first_new}) >= expected

        assert await wait_for(all_relayed, 30), "events were not relayed after Redis returned"
        ready = await client.get("/health/ready")
        assert ready.json()["status"] == "ok"
    ids = [i for i in stream_ids(redis_url) if i >= first_new]
    first_arrivals = list(dict.fromkeys(ids))
    assert first_arrivals == sorted(first_arrivals)  # in order; duplicates only re-sends
    in_outbox = own.pg.psql("drill", f"SELECT id FROM outbox_events WHERE id >= {first_new}")
    assert set(ids) == {int(line) for line in in_outbox.split()}  # none lost
