import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from user_service.db import Base, utcnow


class ExternalIdentity(Base):
    """An account at an OpenID Connect provider linked to a user, named by the provider's
    ``sub`` (OIDC Core §5.7: the only stable identifier; the e-mail is kept for display)."""

    __tablename__ = "external_identities"
    __table_args__ = (
        UniqueConstraint("provider", "subject"),
        UniqueConstraint("user_id", "provider"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[dt.datetime | None]


OIDC_FLOW_PURPOSES = ("sign_in", "link")


class OidcFlow(Base):
    """One authorization-code flow with a provider, from start to callback (and, when the
    verified e-mail belongs to an account, the password step that links it).

    Only hashes are stored: ``state_hash`` (the ``state`` parameter), ``binding_hash`` (the
    HttpOnly cookie that ties the flow to the browser that started it) and ``link_token_hash``.
    The PKCE verifier and the nonce are derived from the cookie, so the database alone cannot
    complete a flow.
    """

    __tablename__ = "oidc_flows"
    __table_args__ = (CheckConstraint("purpose IN ('sign_in', 'link')", name="purpose"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    provider: Mapped[str] = mapped_column(String(32))
    purpose: Mapped[str] = mapped_column(String(16))
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    binding_hash: Mapped[str] = mapped_column(String(64))
    # purpose "link": the signed-in user and session that asked to link.
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    session_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    persist_session: Mapped[bool] = mapped_column(default=False)
    device_fingerprint: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    consumed_at: Mapped[dt.datetime | None]
    # The pending link (an unknown ``sub`` whose verified e-mail names an existing account).
    link_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    link_user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE")
    )
    link_subject: Mapped[str | None] = mapped_column(String(255))
    link_email: Mapped[str | None] = mapped_column(String(320))
    link_expires_at: Mapped[dt.datetime | None]
    link_failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    linked_at: Mapped[dt.datetime | None]
