"""Database engine, the declarative base and the per-request unit of work.

One transaction per request: ``deps.get_db`` (the ``DbSession`` dependency) opens it,
services only ``flush()``, and the dependency commits when the endpoint returns (or when a
``UserServiceError`` asks for its side effects to be kept) and rolls back otherwise. The one
commit inside a request is ``commit_before_slow_call``: it ends a request's reads before a
call that may take seconds.

SQLite (the embedded default) gets ``foreign_keys=ON``, WAL and a busy timeout, and every
transaction starts with ``BEGIN IMMEDIATE`` so that concurrent writers queue on the busy
timeout instead of failing on a read-to-write lock upgrade.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import structlog
from sqlalchemy import JSON, DateTime, MetaData, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.types import TypeDecorator

from user_service.exceptions import UserServiceError

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every back-end (SQLite drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime, dict[str, Any]: JSONType}


READ_ONLY_OPTION = "user_service_read_only"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own BEGIN is deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Read-only work (see ``read_only``) must not queue behind, or block, a writer.
        deferred = conn.get_execution_options().get(READ_ONLY_OPTION)
        conn.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")


def secure_sqlite_file(database_url: str) -> None:
    """Create the SQLite file (and its folder) owner-only, like the key file: it holds password
    hashes and sealed secrets. SQLite gives its -wal and -shm files the same mode."""
    path_text = database_url.split(":///", 1)[1] if ":///" in database_url else ""
    if not path_text or path_text.startswith(":memory:"):
        return
    path = Path(path_text)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        path.chmod(0o600)  # a file created by an older version, or by hand


# PostgreSQL time limits, so that a database that is down, restarting or frozen costs a request
# a quick 503 instead of a hang (docs/reliability.md): a new connection gets CONNECT_TIMEOUT
# seconds, a request waits at most POOL_TIMEOUT for a pooled connection, and — on the serving
# engine only (``build_services``), not for migrations or the CLI's long reads — one statement
# (the pool's pre-ping included) at most COMMAND_TIMEOUT before asyncpg gives up on it. The
# serving engine takes them from the settings (``DB_*_TIMEOUT_SECONDS``); these are defaults.
# Their sum bounds a request on a frozen database — the wait for a pooled connection, its
# pre-ping, a reconnect: 2 + 5 + 2 = 9 s, under a 10 s client timeout (with 5 s for the pool
# wait, a `make drills` run saw one request pass 10 s).
CONNECT_TIMEOUT_SECONDS = 2.0
POOL_TIMEOUT_SECONDS = 2.0
COMMAND_TIMEOUT_SECONDS = 5.0


def create_engine(
    database_url: str,
    *,
    pool_size: int = 10,
    echo: bool = False,
    command_timeout: float | None = None,
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
    pool_timeout: float = POOL_TIMEOUT_SECONDS,
) -> AsyncEngine:
    # hide_parameters: a failed statement's error (and log line) never quotes bound values —
    # an e-mail, a password hash, a sealed secret.
    if database_url.startswith("sqlite"):
        secure_sqlite_file(database_url)
        engine = create_async_engine(database_url, echo=echo, hide_parameters=True)
        _configure_sqlite(engine)
        return engine
    return create_async_engine(
        database_url,
        echo=echo,
        hide_parameters=True,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_timeout=pool_timeout,
        connect_args={"timeout": connect_timeout, "command_timeout": command_timeout},
    )


_SQLITE_BUSY = ("database is locked", "database is busy")


def database_unavailable(error: BaseException) -> bool:
    """True when ``error`` says the database cannot serve us right now — down, restarting,
    unreachable, its connections cut, out of pooled connections, too slow, or (SQLite) locked
    past the busy timeout — rather than that a statement is wrong. Such errors are answered
    with a 503 the client may retry; anything else stays a 500.

    Looks through SQLAlchemy's wrapper (``.orig``) and the exception chain, because the
    driver's error arrives wrapped, or raw (a refused connection is a plain ``OSError``).
    """
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, sa_exc.TimeoutError):  # no pooled connection within the wait
            return True
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(
            current,
            asyncpg.PostgresConnectionError  # class 08: connection failures
            | asyncpg.exceptions.OperatorInterventionError  # 57: shutdown, starting, cancelled
            | asyncpg.InterfaceError  # "connection is closed", "another operation in progress"
            | asyncpg.exceptions.ConnectionDoesNotExistError
            | ConnectionError  # refused, reset, aborted
            | TimeoutError,  # connect or command timeout
        ):
            return True
        if isinstance(current, sqlite3.OperationalError) and str(current).startswith(_SQLITE_BUSY):
            return True
        pending.extend([getattr(current, "orig", None), current.__cause__, current.__context__])
    return False


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def read_only(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session for reads outside the request's unit of work (key reloads, checks).

    On SQLite its transaction is deferred: it neither takes nor waits for the write lock, so
    it cannot deadlock against a request that holds it. Elsewhere it is an ordinary session.
    """
    async with sessionmaker() as session:
        await session.connection(execution_options={READ_ONLY_OPTION: True})
        yield session


AfterCommit = Callable[[], Awaitable[None]]

_UNIT_OF_WORK = "unit_of_work"
_AFTER_COMMIT = "after_commit"


def in_unit_of_work(session: AsyncSession | Session) -> bool:
    """True when ``session`` was opened by :func:`unit_of_work`, whose after-commit callbacks
    run once it has committed, before its caller goes on (a request: before the response)."""
    return _UNIT_OF_WORK in session.info


def on_commit(session: AsyncSession | Session, callback: AfterCommit) -> None:
    """Run ``callback`` once this unit of work has committed (never if it rolls back).

    For effects outside the database that must not happen for a change that did not:
    sending mail, publishing a cache invalidation. Outside a unit of work nobody would run
    the callback, so that is an error rather than an effect silently lost.
    """
    if not in_unit_of_work(session):
        raise RuntimeError("on_commit needs a session opened by db.unit_of_work")
    session.info[_AFTER_COMMIT].append(callback)


async def _run_after_commit(session: AsyncSession) -> None:
    callbacks: list[AfterCommit] = session.info[_AFTER_COMMIT]
    session.info[_AFTER_COMMIT] = []
    for callback in callbacks:
        try:
            await callback()
        except Exception:
            structlog.get_logger(__name__).exception("after_commit_failed")


@asynccontextmanager
async def unit_of_work(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """Yield a session; commit on success, keep or discard side effects on error."""
    async with sessionmaker() as session:
        session.info[_UNIT_OF_WORK] = True
        session.info[_AFTER_COMMIT] = []
        try:
            yield session
        except UserServiceError as error:
            if error.commit:
                await session.commit()
                await _run_after_commit(session)
            else:
                await session.rollback()
            raise
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()
            await _run_after_commit(session)


async def commit_before_slow_call(session: AsyncSession) -> None:
    """End the request's transaction before a call that may take seconds (a broker, a long
    poll), so that no pooled connection — and on SQLite (``BEGIN IMMEDIATE``) not the one
    write lock — is held while it runs.

    Only for a request that has read and not yet written: it refuses (``RuntimeError``, a bug)
    while changes are pending in the session, so no half-made change is committed early. It
    cannot see rows already flushed, so it comes before the request's first write. Afterwards
    the request goes on in a new transaction that the unit of work commits or rolls back as
    usual, and objects loaded before stay usable (``expire_on_commit=False``); but what was
    read is no longer held by a transaction, so a write that depends on it must check it
    again (trading accounts write a broker's verdict with compare-and-set).
    """
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("a slow call must not happen with unflushed changes pending")
    await session.commit()
