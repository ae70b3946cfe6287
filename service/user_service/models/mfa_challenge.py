import datetime as dt
import uuid

from sqlalchemy import ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from user_service.db import Base, utcnow


class MfaChallenge(Base):
    """The pending second step of a login (the ``session_token`` of docs/api.md §3), hashed."""

    __tablename__ = "mfa_challenges"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    consumed_at: Mapped[dt.datetime | None]
    persist_session: Mapped[bool] = mapped_column(default=False)
    device_fingerprint: Mapped[str | None] = mapped_column(String(128))
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    # How the first step was proven (an ``amr`` value): NULL is "pwd"; "fed" after a sign-in
    # through an identity provider (docs/oidc.md), so the session records what really happened.
    first_factor: Mapped[str | None] = mapped_column(String(16))
