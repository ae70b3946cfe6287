import datetime as dt
import uuid

from sqlalchemy import BigInteger, ForeignKey, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from user_service.db import Base, utcnow


class MfaTotp(Base):
    """One TOTP authenticator of a user ("work phone"); a user may hold several.

    The secret is sealed (envelope encryption, the user id as AAD, so a ciphertext copied to
    another user's row does not open). ``last_used_step`` must strictly increase per device
    (docs/api.md §5): a code is never accepted twice, even across instances or with Redis down.
    A row with ``confirmed_at`` unset is a setup in progress (at most one per user).
    """

    __tablename__ = "mfa_totp_devices"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(64))
    secret_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    confirmed_at: Mapped[dt.datetime | None]
    last_used_step: Mapped[int | None] = mapped_column(BigInteger)
    last_used_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"MfaTotp(id={self.id}, enabled={self.confirmed_at is not None})"


class MfaBackupKey(Base):
    """The sealed per-user secret the backup-code HMAC key derives from (``backup_codes``).

    It exists while the user has any second factor, whichever kinds, so backup codes no longer
    hang on one TOTP secret. The plaintext is a base32 160-bit secret sealed like a TOTP
    secret (kind ``mfa_totp``, user id as AAD): for users migrated from a single TOTP device it
    *is* that device's secret, which keeps their printed codes valid.
    """

    __tablename__ = "mfa_backup_keys"

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    key_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"MfaBackupKey(user_id={self.user_id})"


class MfaBackupCode(Base):
    __tablename__ = "mfa_backup_codes"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    used_at: Mapped[dt.datetime | None]

    def __repr__(self) -> str:
        return f"MfaBackupCode(id={self.id}, used={self.used_at is not None})"
