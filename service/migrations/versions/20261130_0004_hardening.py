"""Hardening and the platform's needs (issues 10 and 11).

* ``jwt_signing_keys.signs_from``: a rotated key is published (in the JWKS) before it signs,
  so verifiers that cache the JWKS never meet an unknown ``kid``.
* ``trading_accounts.identity_verified_at``: when the broker confirmed the account's broker
  user (a Kite login or profile check). ``(broker, user_id_broker)`` is unique only among such
  accounts (a partial unique index), so an unverified link can no longer squat a trader's
  broker id; one user still links a broker account once.
* Seeded clients get the scopes their reference services need: ``events:read`` (the HTTP
  event feed) and, for the backend, ``tokens:introspect`` (introspection now requires it).

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VERIFIED = sa.text("identity_verified_at IS NOT NULL")
ADDED_SCOPES = {
    "ticker_service": ["events:read"],
    "alert_service": ["events:read"],
    "backend": ["events:read", "tokens:introspect"],
}


def _update_scopes(add: bool) -> None:
    clients = sa.table(
        "oauth_clients", sa.column("client_id", sa.String), sa.column("scopes", sa.JSON)
    )
    bind = op.get_bind()
    for client_id, scopes in ADDED_SCOPES.items():
        row = bind.execute(
            sa.select(clients.c.scopes).where(clients.c.client_id == client_id)
        ).first()
        if row is None:
            continue
        current = list(row[0] or [])
        if add:
            updated = current + [scope for scope in scopes if scope not in current]
        else:
            updated = [scope for scope in current if scope not in scopes]
        bind.execute(
            clients.update().where(clients.c.client_id == client_id).values(scopes=updated)
        )


def upgrade() -> None:
    with op.batch_alter_table("jwt_signing_keys") as batch_op:
        batch_op.add_column(sa.Column("signs_from", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("trading_accounts") as batch_op:
        batch_op.add_column(
            sa.Column("identity_verified_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.drop_constraint("uq_trading_accounts_broker", type_="unique")
        batch_op.create_unique_constraint(
            "uq_trading_accounts_owner_user_id", ["owner_user_id", "broker", "user_id_broker"]
        )
    op.execute("UPDATE trading_accounts SET identity_verified_at = verified_at")
    op.create_index(
        "uq_trading_accounts_verified_broker_user",
        "trading_accounts",
        ["broker", "user_id_broker"],
        unique=True,
        sqlite_where=VERIFIED,
        postgresql_where=VERIFIED,
    )
    _update_scopes(add=True)


def downgrade() -> None:
    _update_scopes(add=False)
    op.drop_index("uq_trading_accounts_verified_broker_user", table_name="trading_accounts")
    with op.batch_alter_table("trading_accounts") as batch_op:
        batch_op.drop_constraint("uq_trading_accounts_owner_user_id", type_="unique")
        batch_op.create_unique_constraint(
            "uq_trading_accounts_broker", ["broker", "user_id_broker"]
        )
        batch_op.drop_column("identity_verified_at")
    with op.batch_alter_table("jwt_signing_keys") as batch_op:
        batch_op.drop_column("signs_from")
