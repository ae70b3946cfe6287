"""Sign-in with an OpenID Connect provider (issue 16, part 3; docs/oidc.md).

* ``external_identities``: a provider account (``provider``, ``sub``) linked to a user; one
  user per ``(provider, subject)`` and one identity per provider per user.
* ``oidc_flows``: the authorization-code flows in progress, stored as hashes (state, the
  browser-binding cookie, the pending-link token), single-use and short-lived.

* ``mfa_challenges.first_factor``: how the step before the second factor was proven (NULL:
  the password; ``fed``: an identity provider), so the session's ``amr`` says what happened.

Accounts created through a provider have no password: their ``password_hash`` starts with
``!`` (no bcrypt hash does), which no password ever matches. No column changes for that.

Revision ID: 0008
Revises: 0007 (re-chained onto 0007 when the authenticators branch is merged)
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "external_identities",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        _time("created_at"),
        _time("last_used_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_external_identities_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_external_identities")),
        sa.UniqueConstraint("provider", "subject", name=op.f("uq_external_identities_provider")),
        sa.UniqueConstraint("user_id", "provider", name=op.f("uq_external_identities_user_id")),
    )
    with op.batch_alter_table("external_identities") as batch_op:
        batch_op.create_index("ix_external_identities_user_id", ["user_id"], unique=False)

    op.create_table(
        "oidc_flows",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("binding_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("session_id", sa.Uuid(), nullable=True),
        sa.Column("persist_session", sa.Boolean(), nullable=False),
        sa.Column("device_fingerprint", sa.String(length=128), nullable=True),
        _time("created_at"),
        _time("expires_at"),
        _time("consumed_at", nullable=True),
        sa.Column("link_token_hash", sa.String(length=64), nullable=True),
        sa.Column("link_user_id", sa.Uuid(), nullable=True),
        sa.Column("link_subject", sa.String(length=255), nullable=True),
        sa.Column("link_email", sa.String(length=320), nullable=True),
        _time("link_expires_at", nullable=True),
        sa.Column("link_failed_attempts", sa.Integer(), nullable=False),
        _time("linked_at", nullable=True),
        sa.CheckConstraint("purpose IN ('sign_in', 'link')", name=op.f("ck_oidc_flows_purpose")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_oidc_flows_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["link_user_id"],
            ["users.id"],
            name=op.f("fk_oidc_flows_link_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_flows")),
        sa.UniqueConstraint("state_hash", name=op.f("uq_oidc_flows_state_hash")),
        sa.UniqueConstraint("link_token_hash", name=op.f("uq_oidc_flows_link_token_hash")),
    )
    with op.batch_alter_table("oidc_flows") as batch_op:
        batch_op.create_index("ix_oidc_flows_user_id", ["user_id"], unique=False)
    with op.batch_alter_table("mfa_challenges") as batch_op:
        batch_op.add_column(sa.Column("first_factor", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mfa_challenges") as batch_op:
        batch_op.drop_column("first_factor")
    with op.batch_alter_table("oidc_flows") as batch_op:
        batch_op.drop_index("ix_oidc_flows_user_id")
    op.drop_table("oidc_flows")
    with op.batch_alter_table("external_identities") as batch_op:
        batch_op.drop_index("ix_external_identities_user_id")
    op.drop_table("external_identities")
