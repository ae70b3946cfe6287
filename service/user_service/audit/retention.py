"""Audit retention: weekly partitions ahead, expired records removed, the chain anchored,
daily counts kept (docs/api.md §6; docs/audit-retention.md).

One maintenance run, in one transaction:

1. **Daily counts** — ``audit_daily_counts`` is recomputed from the day before its newest day
   (so late records of yesterday count) up to today; days already pruned keep their counts.
2. **Partitions ahead** (PostgreSQL, partitioned table) — one per week up to
   ``AUDIT_PARTITIONS_AHEAD_WEEKS`` ahead; rows that landed in the default partition for a
   week that now gets its own partition are moved into it.
3. **Prune** — records older than the boundary go: on a partitioned table whole weeks are
   dropped (the boundary is the Monday on or before now - ``AUDIT_RETENTION_DAYS``, so a record
   lives 730 to 736 days), on a hypertable chunks are dropped, on SQLite and plain tables
   rows are deleted. The removed records are always a *prefix* of the chain (every id up to
   the newest removed one), an anchor row keeps the hash of the newest removed record, and an
   ``audit.pruned`` record in the chain confirms the anchor.

On PostgreSQL one instance runs it at a time (``pg_try_advisory_xact_lock``; the others skip)
and the drop waits at most ``lock_timeout`` for readers, then gives up until the next run.
The chain lock is taken only for step 3, so audit appends (sign-ins) wait just for the drop.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
import structlog
from sqlalchemy import Date, and_, cast, delete, func, or_, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from user_service.audit import partitions, repository
from user_service.audit import service as audit
from user_service.db import utcnow
from user_service.models import AuditChainAnchor, AuditDailyCount, AuthEvent

log = structlog.get_logger(__name__)

# Arbitrary constant naming the retention job's advisory lock on PostgreSQL.
_RETENTION_LOCK_KEY = 0x51A0D18
LOCK_TIMEOUT = "5s"
TableKind = Literal["partitioned", "hypertable", "plain", "sqlite"]


@dataclass
class MaintenanceReport:
    table: TableKind | None = None
    boundary: dt.datetime | None = None
    partitions_created: list[str] = field(default_factory=list)
    partitions_dropped: list[str] = field(default_factory=list)
    rows_removed: int = 0
    anchor_id: int | None = None
    days_counted: int = 0
    skipped: str | None = None
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "boundary": self.boundary.isoformat() if self.boundary else None,
            "partitions_created": len(self.partitions_created),
            "partitions_dropped": len(self.partitions_dropped),
            "rows_removed": self.rows_removed,
            "anchor_id": self.anchor_id,
            "days_counted": self.days_counted,
            "skipped": self.skipped,
            "seconds": round(self.seconds, 3),
        }


async def table_kind(session: AsyncSession) -> TableKind:
    if session.get_bind().dialect.name != "postgresql":
        return "sqlite"
    if (await session.execute(text(partitions.TIMESCALE_INSTALLED_SQL))).scalar() and (
        await session.execute(text(partitions.IS_HYPERTABLE_SQL))
    ).scalar():
        return "hypertable"
    relkind = (await session.execute(text(partitions.RELKIND_SQL))).scalar()
    return "partitioned" if relkind == "p" else "plain"


async def maintain(
    session: AsyncSession,
    *,
    retention_days: int,
    ahead_weeks: int,
    now: dt.datetime | None = None,
) -> MaintenanceReport:
    """One maintenance run in the caller's transaction (the caller commits)."""
    started = time.perf_counter()
    now = now or utcnow()
    report = MaintenanceReport()
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
        locked = await session.execute(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _RETENTION_LOCK_KEY}
        )
        if not locked.scalar():
            report.skipped = "another instance is running audit maintenance"
            return report
    report.table = await table_kind(session)
    report.days_counted = await refresh_daily_counts(session, now)
    cutoff = now - dt.timedelta(days=retention_days)
    if report.table == "partitioned":
        report.partitions_created = await ensure_partitions(session, now, ahead_weeks, cutoff)
    await _prune(session, report, cutoff, now)
    report.seconds = time.perf_counter() - started
    return report


# --- daily counts -----------------------------------------------------------------------------


def _day_expression(session: AsyncSession) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone("UTC", AuthEvent.occurred_at), Date)
    return func.date(AuthEvent.occurred_at)  # SQLite stores UTC text: 'YYYY-MM-DD HH:MM:SS…'


async def refresh_daily_counts(session: AsyncSession, now: dt.datetime) -> int:
    """Recount the days from the day before the newest counted one; returns how many days."""
    newest = (await session.execute(select(func.max(AuditDailyCount.day)))).scalar()
    if newest is not None:
        if isinstance(newest, str):
            newest = dt.date.fromisoformat(newest)
        start_day = newest - dt.timedelta(days=1)
    else:
        oldest = (await session.execute(select(func.min(AuthEvent.occurred_at)))).scalar()
        if oldest is None:
            return 0
        if isinstance(oldest, str):  # func.min() on SQLite bypasses the column type
            oldest = dt.datetime.fromisoformat(oldest)
        start_day = oldest.date()
    start = dt.datetime.combine(start_day, dt.time(), tzinfo=dt.UTC)
    day = _day_expression(session).label("day")
    rows = (
        await session.execute(
            select(day, AuthEvent.event_type, func.count(), func.max(AuthEvent.risk_score))
            .where(AuthEvent.occurred_at >= start, AuthEvent.occurred_at <= now)
            .group_by(day, AuthEvent.event_type)
        )
    ).all()
    if not rows:
        return 0
    values = [
        {
            "day": row[0] if isinstance(row[0], dt.date) else dt.date.fromisoformat(row[0]),
            "event_type": row[1],
            "events": row[2],
            "max_risk_score": row[3] or 0,
        }
        for row in rows
    ]
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(AuditDailyCount)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["day", "event_type"],
            set_={
                "events": statement.excluded.events,
                "max_risk_score": statement.excluded.max_risk_score,
            },
        ),
        values,
    )
    return len({value["day"] for value in values})


# --- partitions ahead -------------------------------------------------------------------------


async def _partition_names(session: AsyncSession) -> set[str]:
    return set((await session.execute(text(partitions.PARTITIONS_SQL))).scalars())


async def ensure_partitions(
    session: AsyncSession, now: dt.datetime, ahead_weeks: int, cutoff: dt.datetime
) -> list[str]:
    """Create the weekly partitions up to ``ahead_weeks`` ahead, and one for any week whose
    records fell into the default partition (the job was not running); returns new names."""
    existing = await _partition_names(session)
    stray = (
        await session.execute(
            text(f"SELECT min(occurred_at) FROM {partitions.DEFAULT_PARTITION}")  # noqa: S608
        )
    ).scalar()
    first = min(now, stray) if stray is not None else now
    last = now + partitions.WEEK * ahead_weeks
    created = []
    for monday in partitions.weeks_between(first.date(), last.date()):
        name = partitions.partition_name(monday)
        if name in existing or partitions.partition_end(monday) <= cutoff:
            continue
        await _create_partition(session, monday)
        created.append(name)
    return created


async def _create_partition(session: AsyncSession, monday: dt.date) -> None:
    start = dt.datetime.combine(monday, dt.time(), tzinfo=dt.UTC)
    end = partitions.partition_end(monday)
    name = partitions.partition_name(monday)
    bounds = {"start": start, "end": end}
    in_default = (
        await session.execute(
            text(
                f"SELECT count(*) FROM {partitions.DEFAULT_PARTITION} "  # noqa: S608
                "WHERE occurred_at >= :start AND occurred_at < :end"
            ),
            bounds,
        )
    ).scalar()
    if not in_default:
        await session.execute(text(partitions.create_partition_sql(monday)))
        return
    # Records of this week sit in the default partition: move them into a new table, then
    # attach it (PostgreSQL refuses a new partition while the default holds its rows).
    await session.execute(text(f"CREATE TABLE {name} (LIKE auth_events INCLUDING DEFAULTS)"))
    await session.execute(
        text(
            f"WITH moved AS (DELETE FROM {partitions.DEFAULT_PARTITION} "  # noqa: S608
            "WHERE occurred_at >= :start AND occurred_at < :end RETURNING *) "
            f"INSERT INTO {name} SELECT * FROM moved"
        ),
        bounds,
    )
    await session.execute(
        text(
            f"ALTER TABLE auth_events ATTACH PARTITION {name} "
            f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
        )
    )


# --- prune ------------------------------------------------------------------------------------


def _boundary(kind: TableKind, cutoff: dt.datetime) -> dt.datetime:
    if kind == "partitioned":  # whole weeks only
        return dt.datetime.combine(partitions.week_start(cutoff), dt.time(), tzinfo=dt.UTC)
    return cutoff


async def _prune(
    session: AsyncSession, report: MaintenanceReport, cutoff: dt.datetime, now: dt.datetime
) -> None:
    assert report.table is not None
    boundary = _boundary(report.table, cutoff)
    report.boundary = boundary
    last_id = (
        await session.execute(
            select(func.max(AuthEvent.id)).where(AuthEvent.occurred_at < boundary)
        )
    ).scalar()
    if last_id is None:
        return
    # From here on no record is appended until commit: the anchor is the chain's true start.
    await repository.lock_chain(session)
    last_hash = (
        await session.execute(
            select(AuthEvent.hash).where(AuthEvent.id == last_id, AuthEvent.occurred_at < boundary)
        )
    ).scalar_one()
    report.rows_removed = (
        await session.execute(select(func.count()).where(AuthEvent.id <= last_id))
    ).scalar_one()
    if report.table == "partitioned":
        for name in sorted(await _partition_names(session)):
            monday = partitions.partition_start(name)
            if monday is not None and partitions.partition_end(monday) <= boundary:
                await session.execute(text(f"DROP TABLE {name}"))
                report.partitions_dropped.append(name)
    elif report.table == "hypertable":
        await session.execute(
            text("SELECT drop_chunks('auth_events', older_than => :boundary)"),
            {"boundary": boundary},
        )
    # What no dropped partition took: rows in the default partition, SQLite and plain tables,
    # and a record a few milliseconds past the boundary whose id is older than the newest
    # removed one (clock skew between instances) — the removed set stays a prefix of the chain.
    await session.execute(
        delete(AuthEvent)
        .where(AuthEvent.id <= last_id)
        .execution_options(synchronize_session=False)
    )
    anchor = AuditChainAnchor(
        created_at=now,
        pruned_before=boundary,
        last_id=last_id,
        last_hash=last_hash,
        rows_removed=report.rows_removed,
        method={"sqlite": "delete", "plain": "delete"}.get(report.table, "drop"),
    )
    session.add(anchor)
    await session.flush()
    report.anchor_id = anchor.id
    await audit.record(
        session,
        audit.PRUNED_EVENT,
        actor="system:retention",
        details={
            "anchor_id": anchor.id,
            "last_id": last_id,
            "last_hash": last_hash,
            "pruned_before": boundary.isoformat(),
            "rows_removed": report.rows_removed,
            "partitions_dropped": report.partitions_dropped,
        },
    )


# --- the scheduled run ------------------------------------------------------------------------


class AuditMaintenance:
    """Runs :func:`maintain` every ``AUDIT_MAINTENANCE_INTERVAL_SECONDS`` inside the service
    (a background task of the lifespan, like the outbox relay)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        retention_days: int,
        ahead_weeks: int,
        interval_seconds: float,
        start_delay_seconds: float,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._retention_days = retention_days
        self._ahead_weeks = ahead_weeks
        self._interval = interval_seconds
        self._start_delay = start_delay_seconds
        self.runs = 0

    async def run_once(self) -> MaintenanceReport:
        async with self._sessionmaker() as session:
            report = await maintain(
                session, retention_days=self._retention_days, ahead_weeks=self._ahead_weeks
            )
            await session.commit()
        self.runs += 1
        return report

    async def run(self) -> None:
        await anyio.sleep(self._start_delay)
        while True:
            try:
                report = await self.run_once()
                log.info("audit_maintenance", **report.summary())
            except anyio.get_cancelled_exc_class():
                raise
            except Exception as exc:
                log.warning("audit_maintenance_failed", error=type(exc).__name__)
            await anyio.sleep(self._interval)


# --- the compliance view ----------------------------------------------------------------------


async def daily_counts(
    session: AsyncSession,
    *,
    since: dt.date | None,
    until: dt.date | None,
    event_type: str | None,
    after: tuple[dt.date, str] | None,
    limit: int,
) -> list[AuditDailyCount]:
    """Newest day first, event types in order within a day; ``after`` is the last row seen."""
    query = (
        select(AuditDailyCount)
        .order_by(AuditDailyCount.day.desc(), AuditDailyCount.event_type)
        .limit(limit)
    )
    if since is not None:
        query = query.where(AuditDailyCount.day >= since)
    if until is not None:
        query = query.where(AuditDailyCount.day <= until)
    if event_type:
        if event_type.endswith(".*"):
            query = query.where(AuditDailyCount.event_type.startswith(event_type[:-1]))
        else:
            query = query.where(AuditDailyCount.event_type == event_type)
    if after is not None:
        day, kind = after
        query = query.where(
            or_(
                AuditDailyCount.day < day,
                and_(AuditDailyCount.day == day, AuditDailyCount.event_type > kind),
            )
        )
    return list((await session.execute(query)).scalars())
