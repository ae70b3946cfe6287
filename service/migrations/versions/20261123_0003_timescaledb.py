"""TimescaleDB for the audit log, when the extension is available (detect, never require).

On PostgreSQL with the ``timescaledb`` extension installable, ``auth_events`` becomes a
hypertable with 7-day chunks, a 2-year retention policy and a daily continuous aggregate
(``auth_events_daily``). Everywhere else (SQLite, plain PostgreSQL) this revision does
nothing. A hypertable needs its time column in every unique index, so the primary key
becomes ``(id, occurred_at)``; ids still come from the same sequence.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timescale_available() -> bool:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    query = sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
    return bind.execute(query).first() is not None


def upgrade() -> None:
    if not _timescale_available():
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    op.execute("ALTER TABLE auth_events DROP CONSTRAINT pk_auth_events")
    op.execute(
        "ALTER TABLE auth_events ADD CONSTRAINT pk_auth_events PRIMARY KEY (id, occurred_at)"
    )
    op.execute(
        "SELECT create_hypertable('auth_events', 'occurred_at', "
        "chunk_time_interval => INTERVAL '7 days', migrate_data => true)"
    )
    op.execute("SELECT add_retention_policy('auth_events', INTERVAL '2 years')")
    with op.get_context().autocommit_block():
        op.execute(
            "CREATE MATERIALIZED VIEW IF NOT EXISTS auth_events_daily "
            "WITH (timescaledb.continuous) AS "
            "SELECT time_bucket(INTERVAL '1 day', occurred_at) AS day, event_type, "
            "count(*) AS events, max(risk_score) AS max_risk_score "
            "FROM auth_events GROUP BY day, event_type WITH NO DATA"
        )
        op.execute(
            "SELECT add_continuous_aggregate_policy('auth_events_daily', "
            "start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour', "
            "schedule_interval => INTERVAL '1 hour')"
        )


def downgrade() -> None:
    if not _timescale_available():
        return
    with op.get_context().autocommit_block():
        op.execute("DROP MATERIALIZED VIEW IF EXISTS auth_events_daily")
    op.execute("SELECT remove_retention_policy('auth_events', if_exists => true)")
