"""Sign-in risk and audit retention on plain PostgreSQL (issue 13, parts 4 and 5).

* ``sessions.country`` / ``risk_score`` / ``risk_reasons``: the assessment of the sign-in
  that opened the session (user_service.risk).
* ``sign_in_markers``: the devices, networks and countries a user has signed in with.
* ``audit_chain_anchors``: where the audit chain starts after retention removed records.
* ``audit_daily_counts``: events per UTC day and type, kept after the records are pruned.
* On PostgreSQL without TimescaleDB, ``auth_events`` becomes range-partitioned by week on
  ``occurred_at``: a new partitioned table, every row moved with its id and hashes, the old
  table dropped; the primary key becomes ``(id, occurred_at)`` (a partitioned table's unique
  keys must include the partition key) and ids keep coming from the same sequence. Weekly
  partitions are created from the oldest record's week to 8 weeks ahead, plus a default
  partition. When ``auth_events`` is already a hypertable (migration 0003) the conversion is
  skipped and TimescaleDB's own retention policy is removed: ``user-service audit prune``
  drops chunks itself, after recording the chain anchor.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from user_service.audit import partitions
from user_service.db import utcnow

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
AHEAD_WEEKS = 8
INDEXES = {
    "ix_auth_events_user_id_id": "(user_id, id)",
    "ix_auth_events_event_type_id": "(event_type, id)",
    "ix_auth_events_occurred_at": "(occurred_at)",
}


def _scalar(sql: str) -> object:
    return op.get_bind().execute(sa.text(sql)).scalar()


def _is_hypertable() -> bool:
    return bool(_scalar(partitions.TIMESCALE_INSTALLED_SQL)) and bool(
        _scalar(partitions.IS_HYPERTABLE_SQL)
    )


def _rebuild(kind: str) -> None:
    """Copy ``auth_events`` into a new table of ``kind`` ('partitioned' or 'plain'), rows,
    ids and hashes unchanged, and let the id sequence follow."""
    old = f"auth_events_{'unpartitioned' if kind == 'partitioned' else 'partitioned'}"
    sequence = _scalar("SELECT pg_get_serial_sequence('auth_events', 'id')")
    op.execute(f"ALTER SEQUENCE {sequence} OWNED BY NONE")
    op.execute(f"ALTER TABLE auth_events RENAME TO {old}")
    op.execute(f"ALTER TABLE {old} RENAME CONSTRAINT pk_auth_events TO pk_{old}")
    for name in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    suffix = " PARTITION BY RANGE (occurred_at)" if kind == "partitioned" else ""
    op.execute(f"CREATE TABLE auth_events (LIKE {old} INCLUDING DEFAULTS){suffix}")
    key = "id, occurred_at" if kind == "partitioned" else "id"
    op.execute(f"ALTER TABLE auth_events ADD CONSTRAINT pk_auth_events PRIMARY KEY ({key})")
    for name, columns in INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON auth_events {columns}")
    if kind == "partitioned":
        now = utcnow()
        oldest = _scalar(f"SELECT min(occurred_at) FROM {old}") or now  # noqa: S608
        assert hasattr(oldest, "date")
        last = (now + partitions.WEEK * AHEAD_WEEKS).date()
        for monday in partitions.weeks_between(oldest.date(), last):  # type: ignore[union-attr]
            op.execute(partitions.create_partition_sql(monday))
        op.execute(f"CREATE TABLE {partitions.DEFAULT_PARTITION} PARTITION OF auth_events DEFAULT")
    op.execute(f"INSERT INTO auth_events SELECT * FROM {old}")  # noqa: S608
    op.execute(f"DROP TABLE {old}")
    op.execute(f"ALTER SEQUENCE {sequence} OWNED BY auth_events.id")


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch_op:
        batch_op.add_column(sa.Column("country", sa.String(length=2), nullable=True))
        batch_op.add_column(
            sa.Column("risk_score", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("risk_reasons", JSON_TYPE, nullable=False, server_default=sa.text("'[]'"))
        )

    op.create_table(
        "sign_in_markers",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_sign_in_markers_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "kind", "value", name=op.f("pk_sign_in_markers")),
    )
    op.create_table(
        "audit_chain_anchors",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pruned_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("rows_removed", sa.BigInteger(), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_anchors")),
    )
    op.create_table(
        "audit_daily_counts",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("max_risk_score", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "event_type", name=op.f("pk_audit_daily_counts")),
    )

    if op.get_bind().dialect.name != "postgresql":
        return
    if _is_hypertable():
        # Chunks are dropped by `audit prune`, after it anchored the chain.
        op.execute("SELECT remove_retention_policy('auth_events', if_exists => true)")
        return
    if _scalar(partitions.RELKIND_SQL) == "r":
        _rebuild("partitioned")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        if _is_hypertable():
            op.execute(
                "SELECT add_retention_policy('auth_events', INTERVAL '2 years', "
                "if_not_exists => true)"
            )
        elif _scalar(partitions.RELKIND_SQL) == "p":
            _rebuild("plain")
    op.drop_table("audit_daily_counts")
    op.drop_table("audit_chain_anchors")
    op.drop_table("sign_in_markers")
    with op.batch_alter_table("sessions") as batch_op:
        batch_op.drop_column("risk_reasons")
        batch_op.drop_column("risk_score")
        batch_op.drop_column("country")
