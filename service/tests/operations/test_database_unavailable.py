"""A database that cannot serve us is a fast 503 with ``Retry-After``, never a 500 or a hang.

Found by the PostgreSQL restart drill (docs/reliability.md): a refused connection surfaced as
a raw ``ConnectionRefusedError``, was answered 500, and uvicorn then dropped the keep-alive
connection. These tests break the database under a running app in ways each back-end knows:
nothing listening, every pooled connection taken, SQLite locked past its busy timeout.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest
from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tests.fixtures.ephemeral import free_port
from tests.fixtures.users import STRONG_PASSWORD, signed_in_user, unique_email
from user_service.db import create_sessionmaker, database_unavailable

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def database_swapped(app: FastAPI, engine: AsyncEngine) -> AsyncIterator[None]:
    """Serve the app's requests (and readiness) from ``engine`` for a while."""
    services = app.state.services
    saved = services.engine, services.sessionmaker
    services.engine, services.sessionmaker = engine, create_sessionmaker(engine)
    try:
        yield
    finally:
        services.engine, services.sessionmaker = saved
        await engine.dispose()


def unreachable_engine(app: FastAPI) -> AsyncEngine:
    """The same back-end, but its connections cannot be had."""
    url = app.state.services.settings.database_url
    if url.startswith("sqlite"):
        engine = create_async_engine(url)

        @event.listens_for(engine.sync_engine, "do_connect")
        def _locked(*_: object) -> None:
            raise sqlite3.OperationalError("database is locked")

        return engine
    return create_async_engine(
        f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/gone",
        connect_args={"timeout": 2},
    )


def assert_unavailable(response, started: float) -> None:
    assert response.status_code == 503, response.text
    assert response.json() == {
        "detail": "The service is temporarily unavailable. Try again shortly.",
        "code": "service_unavailable",
    }
    assert response.headers["retry-after"] == "2"
    assert time.monotonic() - started < 3


async def test_requests_get_a_fast_503_while_the_database_is_unreachable(client, app):
    user = await signed_in_user(client)
    async with database_swapped(app, unreachable_engine(app)):
        for method, path, kwargs in (
            ("GET", "/v1/users/me", {"headers": user.headers}),
            ("POST", "/v1/auth/login", {"json": {"email": user.email, "password": "x" * 12}}),
            (
                "POST",
                "/v1/auth/register",
                {"json": {"email": unique_email(), "password": STRONG_PASSWORD, "name": "N"}},
            ),
        ):
            started = time.monotonic()
            assert_unavailable(await client.request(method, path, **kwargs), started)
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"] == "down"
    assert (await client.get("/v1/users/me", headers=user.headers)).status_code == 200


async def test_an_exhausted_pool_is_a_503_and_readiness_does_not_hang(client, app):
    user = await signed_in_user(client)
    url = app.state.services.settings.database_url
    engine = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=0.3)
    async with database_swapped(app, engine):
        held = await engine.connect()  # the only connection, taken by someone slow
        try:
            started = time.monotonic()
            assert_unavailable(await client.get("/v1/users/me", headers=user.headers), started)
            engine.pool._timeout = 30  # type: ignore[attr-defined]  # a pool that waits long
            started = time.monotonic()
            ready = await client.get("/health/ready")
            assert ready.status_code == 503
            assert time.monotonic() - started < 5
        finally:
            await held.close()


def test_only_unavailability_is_classified_as_unavailable():
    refused = ConnectionRefusedError(111, "Connection refused")
    assert database_unavailable(refused)
    assert database_unavailable(sa_exc.TimeoutError("QueuePool limit reached"))
    assert database_unavailable(
        sa_exc.OperationalError("SELECT 1", {}, asyncpg.exceptions.AdminShutdownError())
    )
    assert database_unavailable(asyncpg.exceptions.CannotConnectNowError())
    assert database_unavailable(
        sa_exc.OperationalError("BEGIN", {}, sqlite3.OperationalError("database is locked"))
    )
    wrapped = RuntimeError("while committing")
    wrapped.__cause__ = refused
    assert database_unavailable(wrapped)
    # A wrong statement or a broken constraint is a bug or a conflict, not an outage.
    assert not database_unavailable(
        sa_exc.ProgrammingError("SELECT nope", {}, asyncpg.exceptions.UndefinedColumnError())
    )
    assert not database_unavailable(
        sa_exc.OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: users"))
    )
    assert not database_unavailable(
        sa_exc.IntegrityError("INSERT", {}, asyncpg.exceptions.UniqueViolationError())
    )
    assert not database_unavailable(ValueError("bad"))


@pytest.mark.parametrize(
    "settings_overrides",
    [
        {
            "db_connect_timeout_seconds": 2.5,
            "db_pool_timeout_seconds": 4.5,
            "db_statement_timeout_seconds": 6.5,
        }
    ],
)
async def test_the_serving_engine_takes_its_time_limits_from_the_settings(app, settings_overrides):
    engine = app.state.services.engine
    if engine.dialect.name == "sqlite":
        pytest.skip("the time limits are PostgreSQL's (SQLite has its busy timeout)")
    assert engine.pool.timeout() == 4.5
    async with engine.connect() as connection:
        raw = (await connection.get_raw_connection()).driver_connection
        assert raw._config.command_timeout == 6.5
