"""Audit retention on both back-ends (docs/audit-retention.md): weekly partitions on
PostgreSQL, deletion on SQLite, the chain anchored across the cut, daily counts kept.

Each test gets a database of its own (pruning would cut the shared test database's chain).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from collections.abc import AsyncIterator

import pytest
import time_machine
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.admin.support import signed_in_with_roles
from tests.fixtures.backends import PG_HOST_DSN, _migrate, _pg_admin
from user_service.audit import partitions, retention
from user_service.audit import service as audit
from user_service.db import create_engine, create_sessionmaker, utcnow
from user_service.models import AuditChainAnchor, AuditDailyCount, AuthEvent

pytestmark = pytest.mark.anyio
DAY = dt.timedelta(days=1)


@pytest.fixture
async def fresh_db(backend, tmp_path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    if backend.name == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'retention.db'}"
        await asyncio.to_thread(_migrate, url)
        name = None
    else:
        name = f"qus_retention_{secrets.token_hex(4)}"
        await _pg_admin(f'CREATE DATABASE "{name}"')
        url = f"postgresql+asyncpg://postgres@{PG_HOST_DSN.split('@', 1)[1]}/{name}"
        await asyncio.to_thread(_migrate, url)
    engine = create_engine(url)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()
        if name:
            await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _record_at(sessionmaker, moment: dt.datetime, *event_types: str) -> None:
    with time_machine.travel(moment, tick=True):
        async with sessionmaker() as db:
            for event_type in event_types:
                await audit.record(db, event_type, actor="test", risk_score=40)
            await db.commit()


async def _maintain(sessionmaker, now: dt.datetime | None = None) -> retention.MaintenanceReport:
    async with sessionmaker() as db:
        report = await retention.maintain(db, retention_days=730, ahead_weeks=8, now=now)
        await db.commit()
    return report


async def _partition_names(sessionmaker) -> set[str]:
    async with sessionmaker() as db:
        return set((await db.execute(text(partitions.PARTITIONS_SQL))).scalars())


async def test_prune_removes_old_records_keeps_the_chain_verifiable_and_the_counts(
    backend, fresh_db
):
    now = utcnow()
    old, kept = now - 800 * DAY, now - 400 * DAY
    await _record_at(fresh_db, old, "login.success", "login.success", "login.failed")
    await _record_at(fresh_db, kept, "login.success", "logout")
    await _record_at(fresh_db, now - dt.timedelta(minutes=1), "login.success")

    # A run long ago (the service was running then) gives those weeks their partitions.
    first = await _maintain(fresh_db, now=old + DAY)
    assert first.rows_removed == 0 and first.days_counted == 1
    if backend.name == "postgres":
        assert first.table == "partitioned"
        names = await _partition_names(fresh_db)
        assert partitions.partition_name(partitions.week_start(old)) in names

    report = await _maintain(fresh_db)
    assert report.rows_removed == 3 and report.anchor_id is not None
    async with fresh_db() as db:
        remaining = list((await db.execute(select(AuthEvent).order_by(AuthEvent.id))).scalars())
        anchor = await db.get(AuditChainAnchor, report.anchor_id)
        verified = await audit.verify_chain(db)
        counts = {
            (row.day, row.event_type): row.events
            for row in (await db.execute(select(AuditDailyCount))).scalars()
        }
    assert [e.event_type for e in remaining] == [
        "login.success",
        "logout",
        "login.success",
        audit.PRUNED_EVENT,
    ]
    assert all(e.occurred_at >= report.boundary for e in remaining)
    assert remaining[0].prev_hash == anchor.last_hash and anchor.rows_removed == 3
    assert verified.ok and verified.anchor is not None and verified.checked == 4
    # Counts of the pruned days outlive their records.
    assert counts[(old.date(), "login.success")] == 2 and counts[(old.date(), "login.failed")] == 1
    assert counts[(kept.date(), "logout")] == 1
    if backend.name == "postgres":
        old_week = partitions.partition_name(partitions.week_start(old))
        assert old_week in report.partitions_dropped
        # The records of a week without a partition were moved out of the default one.
        kept_week = partitions.partition_name(partitions.week_start(kept))
        assert kept_week in report.partitions_created
        names = await _partition_names(fresh_db)
        assert old_week not in names
        ahead = partitions.partition_name(partitions.week_start(now + 8 * partitions.WEEK))
        assert ahead in names and partitions.DEFAULT_PARTITION in names
    else:
        assert report.table == "sqlite"

    # A second run finds nothing to do, and the chain goes on from the newest record.
    again = await _maintain(fresh_db)
    assert again.rows_removed == 0 and again.anchor_id is None
    await _record_at(fresh_db, utcnow(), "login.success")
    async with fresh_db() as db:
        assert (await audit.verify_chain(db)).ok


async def test_when_everything_was_pruned_the_next_record_chains_to_the_anchor(fresh_db):
    now = utcnow()
    await _record_at(fresh_db, now - 800 * DAY, "login.success")
    async with fresh_db() as db:
        report = await retention.maintain(db, retention_days=730, ahead_weeks=8)
        await db.commit()
        anchor = await db.get(AuditChainAnchor, report.anchor_id)
        [pruned] = list((await db.execute(select(AuthEvent))).scalars())
    assert pruned.event_type == audit.PRUNED_EVENT and pruned.prev_hash == anchor.last_hash
    assert pruned.id > anchor.last_id  # SQLite must not hand the pruned ids out again
    await _record_at(fresh_db, utcnow(), "login.success")
    async with fresh_db() as db:
        assert (await audit.verify_chain(db)).ok


async def test_a_forged_anchor_is_not_confirmed_by_the_chain(fresh_db):
    now = utcnow()
    await _record_at(fresh_db, now - dt.timedelta(minutes=5), "login.success", "logout")
    async with fresh_db() as db:
        first = (await db.execute(select(AuthEvent).order_by(AuthEvent.id))).scalars().first()
        # Someone deletes the first record and writes an anchor to hide it.
        db.add(
            AuditChainAnchor(
                pruned_before=now,
                last_id=first.id,
                last_hash=first.hash,
                rows_removed=1,
                method="delete",
            )
        )
        await db.delete(first)
        await db.commit()
        report = await audit.verify_chain(db)
    assert not report.ok and "confirms anchor" in (report.problem or "")


async def test_one_instance_prunes_at_a_time(backend, fresh_db):
    if backend.name != "postgres":
        pytest.skip("SQLite is one process; its write lock serialises the runs")
    async with fresh_db() as holder:
        await holder.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": retention._RETENTION_LOCK_KEY}
        )
        report = await _maintain(fresh_db)
        await holder.rollback()
    assert report.skipped and report.rows_removed == 0


async def test_the_scheduled_run_maintains_the_database(backend, fresh_db):
    await _record_at(fresh_db, utcnow() - 800 * DAY, "login.success")
    job = retention.AuditMaintenance(
        fresh_db, retention_days=730, ahead_weeks=8, interval_seconds=3600, start_delay_seconds=0
    )
    async with asyncio.timeout(20):
        task = asyncio.create_task(job.run())
        while job.runs == 0:
            await asyncio.sleep(0.05)
        task.cancel()
    async with fresh_db() as db:
        anchors = list((await db.execute(select(AuditChainAnchor))).scalars())
        assert len(anchors) == 1 and (await audit.verify_chain(db)).ok


async def test_compliance_reads_daily_counts(client, app):
    reader = await signed_in_with_roles(client, app, ["compliance"])
    async with app.state.services.sessionmaker() as db:
        await retention.refresh_daily_counts(db, utcnow())
        await db.commit()
    today = utcnow().date().isoformat()
    response = await client.get(
        "/v1/admin/audit/daily",
        params={"since": today, "event_type": "login.*", "limit": 1},
        headers=reader.headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["items"][0]["day"] == today and body["items"][0]["events"] >= 1
    assert body["items"][0]["event_type"].startswith("login.")
    if body["next_cursor"]:
        page = await client.get(
            "/v1/admin/audit/daily",
            params={"since": today, "event_type": "login.*", "cursor": body["next_cursor"]},
            headers=reader.headers,
        )
        assert page.status_code == 200 and body["items"][0] not in page.json()["items"]
    bad = await client.get(
        "/v1/admin/audit/daily",
        params={"since": today, "until": "2000-01-01"},
        headers=reader.headers,
    )
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_range"
    user = await signed_in_with_roles(client, app, ["user"])
    denied = await client.get("/v1/admin/audit/daily", headers=user.headers)
    assert denied.status_code == 403
