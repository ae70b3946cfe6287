import datetime as dt
import uuid

from sqlalchemy import ForeignKey, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from user_service.db import Base, utcnow


class RefreshToken(Base):
    """One link of a session's refresh-token chain; only the SHA-256 of the token is kept.

    When a token is rotated, ``successor_sealed`` holds its successor encrypted under a key
    derived from this token itself, so a concurrent retry that presents this token inside the
    grace window gets the same successor back; the database alone cannot reveal it.
    """

    __tablename__ = "refresh_tokens"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    session_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    rotated_at: Mapped[dt.datetime | None]
    successor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    successor_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)

    def __repr__(self) -> str:
        return f"RefreshToken(id={self.id}, session_id={self.session_id})"
