"""Seed data: the three roles, the seeded policies and the four service clients.

The data is a frozen copy (migrations never import application code); the policies match
``user_service.authz.catalog.SEEDED_POLICIES`` as of this revision and a test checks that
they still do. Client secrets are not seeded: ``user-service clients rotate-secret NAME``
issues one and prints it once.

Revision ID: 0002
Revises: 0001
"""

import datetime as dt
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEED_NAMESPACE = uuid.UUID("5b0f8e2a-7c1d-4f7e-9d8a-3e6b2c1f0a11")

ROLES = [
    (1, "user", "Every registered trader."),
    (2, "admin", "Platform administrators: manage users, roles and policies."),
    (3, "compliance", "Read-only access to the audit log across users."),
]

CLIENTS = [
    ("ticker_service", "Ticker service", ["quotes:subscribe", "credentials:read", "authz:check"]),
    (
        "alert_service",
        "Alert service",
        ["alerts:create", "alerts:read", "alerts:update", "alerts:delete", "authz:check"],
    ),
    (
        "backend",
        "Backend (positions, indicators)",
        ["positions:read", "profile:read", "authz:check"],
    ),
    ("calendar_service", "Calendar service", ["profile:read", "authz:check"]),
]

POLICIES = [
    {
        "name": "users-own-resources",
        "description": "Seed 1/5 (users on their own resources): a user reads and edits their own profile, positions and alerts, and subscribes to quotes. A request naming no resource instance is about the caller's own collection, which the calling service scopes.",
        "effect": "allow",
        "subjects": ["role:user"],
        "actions": [
            "profile:read",
            "profile:update",
            "positions:read",
            "alerts:create",
            "alerts:read",
            "alerts:update",
            "alerts:delete",
            "quotes:subscribe",
        ],
        "resources": [
            "profile",
            "profile:*",
            "positions",
            "positions:*",
            "alerts",
            "alerts:*",
            "quotes",
        ],
        "conditions": [{"type": "resource_owner"}],
        "priority": 0,
        "enabled": True,
    },
    {
        "name": "users-trading-account-view",
        "description": "Seed 1/5 (users on their own resources): the owner of a trading account, or a member holding view (or a stronger permission), may see it.",
        "effect": "allow",
        "subjects": ["role:user"],
        "actions": ["trading_account:view"],
        "resources": ["trading_account:*"],
        "conditions": [{"type": "account_permission", "permission": "view"}],
        "priority": 0,
        "enabled": True,
    },
    {
        "name": "users-trading-account-trade",
        "description": "Seed 1/5 (users on their own resources): the owner, or a member holding trade or manage, may trade, and only with a second factor proven in the last 5 minutes.",
        "effect": "allow",
        "subjects": ["role:user"],
        "actions": ["trading_account:trade"],
        "resources": ["trading_account:*"],
        "conditions": [
            {"type": "account_permission", "permission": "trade"},
            {"type": "mfa_within", "seconds": 300},
        ],
        "priority": 0,
        "enabled": True,
    },
    {
        "name": "users-trading-account-manage",
        "description": "Seed 1/5 (users on their own resources): the owner, or a member holding manage, may verify, rotate, share or unlink a trading account.",
        "effect": "allow",
        "subjects": ["role:user"],
        "actions": ["trading_account:manage"],
        "resources": ["trading_account:*"],
        "conditions": [{"type": "account_permission", "permission": "manage"}],
        "priority": 0,
        "enabled": True,
    },
    {
        "name": "admin-everything",
        "description": "Seed 2/5: the admin role may do everything (still subject to denies).",
        "effect": "allow",
        "subjects": ["role:admin"],
        "actions": ["*"],
        "resources": ["*"],
        "conditions": [],
        "priority": 0,
        "enabled": True,
    },
    {
        "name": "compliance-audit-read",
        "description": "Seed 3/5: the compliance role may read the audit log, nothing else.",
        "effect": "allow",
        "subjects": ["role:compliance"],
        "actions": ["audit:read"],
        "resources": ["audit", "audit:*"],
        "conditions": [],
        "priority": 0,
        "enabled": True,
    },
    {
        "name": "services-on-their-scopes",
        "description": "Seed 4/5: an OAuth client may do what its token's scopes grant (a scope is a permission or a pattern such as alerts:*), on any resource.",
        "effect": "allow",
        "subjects": ["client:*"],
        "actions": ["*"],
        "resources": ["*"],
        "conditions": [{"type": "scope"}],
        "priority": 0,
        "enabled": True,
    },
    {
        "name": "deny-non-active-users",
        "description": "Seed 5/5: a user whose status is not active (suspended, deactivated) is denied everything, whatever their roles; deny overrides allow.",
        "effect": "deny",
        "subjects": ["user:*"],
        "actions": ["*"],
        "resources": ["*"],
        "conditions": [{"type": "user_not_active"}],
        "priority": 100,
        "enabled": True,
    },
]


def upgrade() -> None:
    now = dt.datetime.now(dt.UTC)
    roles = sa.table(
        "roles",
        sa.column("id", sa.Integer),
        sa.column("name", sa.String),
        sa.column("description", sa.String),
    )
    op.bulk_insert(roles, [{"id": i, "name": n, "description": d} for i, n, d in ROLES])

    clients = sa.table(
        "oauth_clients",
        sa.column("id", sa.Uuid),
        sa.column("client_id", sa.String),
        sa.column("name", sa.String),
        sa.column("scopes", sa.JSON),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    op.bulk_insert(
        clients,
        [
            {
                "id": uuid.uuid5(SEED_NAMESPACE, f"client:{client_id}"),
                "client_id": client_id,
                "name": name,
                "scopes": scopes,
                "created_at": now,
            }
            for client_id, name, scopes in CLIENTS
        ],
    )

    policies = sa.table(
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
    op.bulk_insert(
        policies,
        [
            {
                **policy,
                "id": uuid.uuid5(SEED_NAMESPACE, f"policy:{policy['name']}"),
                "is_system": True,
                "created_at": now,
                "updated_at": now,
            }
            for policy in POLICIES
        ],
    )


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM policies WHERE is_system"))
    op.execute(
        sa.text(
            "DELETE FROM oauth_clients WHERE client_id IN "
            "('ticker_service', 'alert_service', 'backend', 'calendar_service')"
        )
    )
    op.execute(sa.text("DELETE FROM roles WHERE name IN ('user', 'admin', 'compliance')"))
