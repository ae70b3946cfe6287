"""Several named second factors and passkeys (issue 16, parts 1 and 2).

* ``mfa_totp`` (one TOTP enrolment per user, keyed by ``user_id``) becomes
  ``mfa_totp_devices``: an ``id`` per device, a ``name`` and ``last_used_at``. Every existing
  row moves over with its sealed secret (sealed with the user id as AAD, so it opens as
  before), its confirmation time and its last accepted step: nobody loses their second factor
  and no used code becomes usable again. Existing devices are named "Authenticator app".
* ``mfa_backup_keys``: the sealed secret backup codes are keyed from. Until now the key came
  from the one TOTP secret; each user with a confirmed enrolment gets that very sealed secret
  as their backup key, so the backup codes they printed keep working.
* ``mfa_passkeys``: WebAuthn credentials; ``webauthn_challenges``: single-use ceremony
  challenges.

Downgrade keeps each user's oldest confirmed TOTP device (passkeys cannot be represented).

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
LEGACY_NAME = "Authenticator app"


def _user_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["user_id"], ["users.id"], name=op.f(f"fk_{table}_user_id_users"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "mfa_totp_devices",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("secret_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_step", sa.BigInteger(), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _user_fk("mfa_totp_devices"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mfa_totp_devices")),
    )
    op.create_index(
        op.f("ix_mfa_totp_devices_user_id"), "mfa_totp_devices", ["user_id"], unique=False
    )
    op.create_table(
        "mfa_backup_keys",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("key_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _user_fk("mfa_backup_keys"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_mfa_backup_keys")),
    )
    op.create_table(
        "mfa_passkeys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("credential_id", sa.LargeBinary(length=1023), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("aaguid", sa.String(length=36), nullable=True),
        sa.Column("transports", JSON_TYPE, nullable=False),
        sa.Column("backup_eligible", sa.Boolean(), nullable=False),
        sa.Column("backed_up", sa.Boolean(), nullable=False),
        sa.Column("user_verified", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        _user_fk("mfa_passkeys"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mfa_passkeys")),
        sa.UniqueConstraint("credential_id", name=op.f("uq_mfa_passkeys_credential_id")),
    )
    op.create_index(op.f("ix_mfa_passkeys_user_id"), "mfa_passkeys", ["user_id"], unique=False)
    op.create_table(
        "webauthn_challenges",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("challenge", sa.LargeBinary(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("mfa_challenge_id", sa.Uuid(), nullable=True),
        sa.Column("session_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("consumed_at", sa.DateTime(timezone=True), nullable=True),
        _user_fk("webauthn_challenges"),
        sa.ForeignKeyConstraint(
            ["mfa_challenge_id"],
            ["mfa_challenges.id"],
            name=op.f("fk_webauthn_challenges_mfa_challenge_id_mfa_challenges"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webauthn_challenges")),
    )
    op.create_index(
        "ix_webauthn_challenges_expires_at", "webauthn_challenges", ["expires_at"], unique=False
    )
    op.create_index(
        op.f("ix_webauthn_challenges_user_id"), "webauthn_challenges", ["user_id"], unique=False
    )

    # Copied in SQL, byte for byte (each back-end's stored formats stay as they are). A
    # migrated device takes its user's id as its own: unique, since 0006 had one per user.
    op.execute(
        sa.text(
            "INSERT INTO mfa_totp_devices (id, user_id, name, secret_sealed, confirmed_at,"
            " last_used_step, last_used_at, created_at, updated_at)"
            " SELECT user_id, user_id, :name, secret_sealed, confirmed_at, last_used_step, NULL,"
            " created_at, updated_at FROM mfa_totp"
        ).bindparams(name=LEGACY_NAME)
    )
    op.execute(
        "INSERT INTO mfa_backup_keys (user_id, key_sealed, created_at)"
        " SELECT user_id, secret_sealed, confirmed_at FROM mfa_totp"
        " WHERE confirmed_at IS NOT NULL"
    )
    op.drop_table("mfa_totp")


def downgrade() -> None:
    op.create_table(
        "mfa_totp",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("secret_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_step", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_mfa_totp_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_mfa_totp")),
    )
    op.execute(
        "INSERT INTO mfa_totp (user_id, secret_sealed, confirmed_at, last_used_step, created_at,"
        " updated_at) SELECT d.user_id, d.secret_sealed, d.confirmed_at, d.last_used_step,"
        " d.created_at, d.updated_at FROM mfa_totp_devices d WHERE d.id = (SELECT e.id FROM"
        " mfa_totp_devices e WHERE e.user_id = d.user_id ORDER BY e.confirmed_at IS NULL,"
        " e.created_at LIMIT 1)"
    )
    op.drop_table("webauthn_challenges")
    op.drop_table("mfa_passkeys")
    op.drop_table("mfa_backup_keys")
    op.drop_table("mfa_totp_devices")
