import datetime as dt
import uuid

from sqlalchemy import ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from user_service.db import Base, JSONType, utcnow


class UserSession(Base):
    """A signed-in device. It records how it was authenticated (``amr``, ``mfa_verified_at``)."""

    __tablename__ = "sessions"
    __table_args__ = (Index("ix_sessions_user_id_revoked_at", "user_id", "revoked_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_active_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    auth_time: Mapped[dt.datetime] = mapped_column(default=utcnow)
    amr: Mapped[list[str]] = mapped_column(JSONType, default=list)
    mfa_verified_at: Mapped[dt.datetime | None]
    persistent: Mapped[bool] = mapped_column(default=False)
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    device: Mapped[str | None] = mapped_column(String(200))
    device_fingerprint: Mapped[str | None] = mapped_column(String(128))
    revoked_at: Mapped[dt.datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(64))
    # The sign-in risk assessment (user_service.risk): country of the IP, score and reasons.
    country: Mapped[str | None] = mapped_column(String(2))
    risk_score: Mapped[int] = mapped_column(Integer, default=0)
    risk_reasons: Mapped[list[str]] = mapped_column(JSONType, default=list)

    def __repr__(self) -> str:
        revoked = self.revoked_at is not None
        return f"UserSession(id={self.id}, user_id={self.user_id}, revoked={revoked})"
