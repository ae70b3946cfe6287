import datetime as dt
import uuid

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from user_service.db import Base, JSONType, utcnow


class MfaPasskey(Base):
    """A WebAuthn credential (passkey or security key) registered by a user, named by them.

    ``credential_id`` is what the authenticator names it by (unique across the service); the
    COSE public key verifies assertions; ``sign_count`` is the last counter seen (W3C WebAuthn
    §6.1.1: a counter that does not grow, when non-zero, signals a cloned authenticator).
    """

    __tablename__ = "mfa_passkeys"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(64))
    credential_id: Mapped[bytes] = mapped_column(LargeBinary(1023), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    aaguid: Mapped[str | None] = mapped_column(String(36))
    transports: Mapped[list[str]] = mapped_column(JSONType, default=list)
    backup_eligible: Mapped[bool] = mapped_column(default=False)
    backed_up: Mapped[bool] = mapped_column(default=False)
    user_verified: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[dt.datetime | None]

    def __repr__(self) -> str:
        return f"MfaPasskey(id={self.id}, user_id={self.user_id})"


class WebauthnChallenge(Base):
    """A WebAuthn ceremony's challenge: server-side, single use, short-lived.

    ``purpose`` says which ceremony may spend it; it is bound to the signed-in user
    (``register``, ``step_up``), to the pending login (``login_mfa``, via ``mfa_challenge_id``)
    or to nobody yet (``sign_in``, the passwordless ceremony: the credential names the user).
    """

    __tablename__ = "webauthn_challenges"
    __table_args__ = (Index("ix_webauthn_challenges_expires_at", "expires_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    purpose: Mapped[str] = mapped_column(String(16))
    challenge: Mapped[bytes] = mapped_column(LargeBinary(64))
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    mfa_challenge_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("mfa_challenges.id", ondelete="CASCADE")
    )
    session_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    consumed_at: Mapped[dt.datetime | None]
