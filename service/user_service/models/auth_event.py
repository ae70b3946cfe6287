import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from user_service.db import Base, utcnow
from user_service.models._types import BigIntPK


class AuthEvent(Base):
    """Append-only audit record; ``hash`` = SHA-256(prev_hash ‖ canonical record) (docs/api.md §6).

    ``user_id`` has no foreign key on purpose: the audit trail outlives the rows it describes.
    """

    __tablename__ = "auth_events"
    __table_args__ = (
        Index("ix_auth_events_user_id_id", "user_id", "id"),
        Index("ix_auth_events_event_type_id", "event_type", "id"),
        Index("ix_auth_events_occurred_at", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    event_type: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    actor: Mapped[str] = mapped_column(String(100))
    ip_masked: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    risk_score: Mapped[int] = mapped_column(Integer, default=0)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
