"""Weekly range partitions of ``auth_events`` on plain PostgreSQL (docs/audit-retention.md).

Names and bounds only: pure functions producing SQL, shared by migration 0006 (which converts
the table) and the retention job (which creates partitions ahead and drops expired ones).
A partition covers one ISO week, Monday 00:00 UTC to the next Monday, and is named after its
first day (``auth_events_p20261130``). ``auth_events_default`` catches anything outside every
range, so an insert can never fail for want of a partition.
"""

from __future__ import annotations

import datetime as dt
import re

TABLE = "auth_events"
DEFAULT_PARTITION = f"{TABLE}_default"
_NAME = re.compile(rf"^{TABLE}_p(\d{{8}})$")
WEEK = dt.timedelta(days=7)

# How the catalogue tells the table's shape: 'p' partitioned, 'r' plain (or a hypertable).
RELKIND_SQL = (
    "SELECT c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relname = 'auth_events' AND n.nspname = current_schema()"
)
TIMESCALE_INSTALLED_SQL = "SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'"
IS_HYPERTABLE_SQL = (
    "SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = 'auth_events'"
)
# The names of every partition of auth_events.
PARTITIONS_SQL = (
    "SELECT c.relname FROM pg_inherits i "
    "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent "
    "WHERE p.relname = 'auth_events'"
)


def week_start(moment: dt.datetime | dt.date) -> dt.date:
    """The Monday (UTC) of the week ``moment`` falls in."""
    if isinstance(moment, dt.datetime):
        moment = moment.astimezone(dt.UTC).date()
    return moment - dt.timedelta(days=moment.weekday())


def partition_name(monday: dt.date) -> str:
    return f"{TABLE}_p{monday:%Y%m%d}"


def partition_start(name: str) -> dt.date | None:
    """The Monday a weekly partition starts on, or None for any other table name."""
    match = _NAME.match(name)
    return dt.datetime.strptime(match.group(1), "%Y%m%d").date() if match else None


def partition_end(monday: dt.date) -> dt.datetime:
    """The exclusive upper bound of the partition starting on ``monday``."""
    return dt.datetime.combine(monday + WEEK, dt.time(), tzinfo=dt.UTC)


def create_partition_sql(monday: dt.date) -> str:
    start = dt.datetime.combine(monday, dt.time(), tzinfo=dt.UTC)
    return (
        f"CREATE TABLE IF NOT EXISTS {partition_name(monday)} PARTITION OF {TABLE} "
        f"FOR VALUES FROM ('{start.isoformat()}') TO ('{partition_end(monday).isoformat()}')"
    )


def weeks_between(first: dt.date, last: dt.date) -> list[dt.date]:
    """Mondays from the week of ``first`` to the week of ``last``, inclusive."""
    monday, end = week_start(first), week_start(last)
    weeks = []
    while monday <= end:
        weeks.append(monday)
        monday += WEEK
    return weeks


def is_partition(name: str) -> bool:
    """True for the tables the retention job manages (Alembic leaves them alone)."""
    return name == DEFAULT_PARTITION or _NAME.match(name) is not None
