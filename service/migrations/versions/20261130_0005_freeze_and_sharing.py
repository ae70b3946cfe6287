"""Emergency freeze and bounded sharing (issue 13, parts 1 and 2).

* ``users.frozen_at`` / ``frozen_reason`` / ``frozen_by``: a freeze is a flag beside the
  status, not a status: a frozen user still signs in (to unfreeze) but trades nothing.
* ``trading_account_memberships.expires_at``: an optional end of a delegate's grant; queries
  filter by time, so an expired grant is gone without anyone acting.
* The system policy ``deny-frozen-trading`` (a frozen copy of the catalog's): deny every
  ``trading_account:*`` action when the subject or the account's owner is frozen.
* ``account_action_tokens``: single-use e-mailed links that freeze an account (in every
  new-sign-in e-mail) or confirm an unfreeze (users without a second factor). Stored as
  SHA-256 hashes, like password reset tokens.

Revision ID: 0005
Revises: 0004
"""

import datetime as dt
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEED_NAMESPACE = uuid.UUID("5b0f8e2a-7c1d-4f7e-9d8a-3e6b2c1f0a11")  # as in 0002
FROZEN_POLICY = {
    "name": "deny-frozen-trading",
    "description": (
        "Seed 5/5: nothing is done on a trading account whose owner froze their account "
        "(emergency freeze), by the owner, a delegate, a service or an admin; nor by a "
        "frozen user on any account they share. Deny overrides allow."
    ),
    "effect": "deny",
    "subjects": ["*"],
    "actions": ["trading_account:*"],
    "resources": ["*"],
    "conditions": [{"type": "account_frozen"}],
    "priority": 100,
    "enabled": True,
}


def _policies() -> sa.TableClause:
    return sa.table(
        "policies",
        sa.column("id", sa.Uuid),
        sa.column("name", sa.String),
        sa.column("description", sa.String),
        sa.column("effect", sa.String),
        sa.column("subjects", sa.JSON),
        sa.column("actions", sa.JSON),
        sa.column("resources", sa.JSON),
        sa.column("conditions", sa.JSON),
        sa.column("priority", sa.Integer),
        sa.column("enabled", sa.Boolean),
        sa.column("is_system", sa.Boolean),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )


def upgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("frozen_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("frozen_reason", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("frozen_by", sa.String(length=100), nullable=True))

    with op.batch_alter_table("trading_account_memberships") as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_trading_account_memberships_expires_at", ["expires_at"], unique=False
        )

    op.create_table(
        "account_action_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("invalidated_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "purpose IN ('freeze', 'unfreeze')", name=op.f("ck_account_action_tokens_purpose")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_account_action_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_action_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_account_action_tokens_token_hash")),
    )
    with op.batch_alter_table("account_action_tokens") as batch_op:
        batch_op.create_index("ix_account_action_tokens_user_id", ["user_id"], unique=False)

    now = dt.datetime.now(dt.UTC)
    op.bulk_insert(
        _policies(),
        [
            {
                **FROZEN_POLICY,
                "id": uuid.uuid5(SEED_NAMESPACE, f"policy:{FROZEN_POLICY['name']}"),
                "is_system": True,
                "created_at": now,
                "updated_at": now,
            }
        ],
    )


def downgrade() -> None:
    policies = _policies()
    op.execute(policies.delete().where(policies.c.name == FROZEN_POLICY["name"]))
    with op.batch_alter_table("account_action_tokens") as batch_op:
        batch_op.drop_index("ix_account_action_tokens_user_id")
    op.drop_table("account_action_tokens")
    with op.batch_alter_table("trading_account_memberships") as batch_op:
        batch_op.drop_index("ix_trading_account_memberships_expires_at")
        batch_op.drop_column("expires_at")
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("frozen_by")
        batch_op.drop_column("frozen_reason")
        batch_op.drop_column("frozen_at")
