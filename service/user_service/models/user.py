import datetime as dt
import uuid
from enum import StrEnum

from sqlalchemy import CheckConstraint, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from user_service.db import Base, utcnow
from user_service.models._types import StrEnumColumn, one_of


class UserStatus(StrEnum):
    """Whether the account may be used. A freeze is a flag beside it (``frozen_at``)."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    DEACTIVATED = "deactivated"


class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(one_of("status", UserStatus), name="status"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # Normalised (trimmed, case-folded); the unique constraint is the one source of truth
    # against concurrent duplicate registrations.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Kolkata")
    locale: Mapped[str] = mapped_column(String(35), default="en-IN")
    status: Mapped[UserStatus] = mapped_column(
        StrEnumColumn(UserStatus, 16), default=UserStatus.ACTIVE
    )
    # An emergency freeze is a flag beside the status: a frozen user signs in (to unfreeze)
    # but every trading_account:* decision about the user's accounts is a deny.
    frozen_at: Mapped[dt.datetime | None]
    frozen_reason: Mapped[str | None] = mapped_column(String(500))
    frozen_by: Mapped[str | None] = mapped_column(String(100))
    email_verified_at: Mapped[dt.datetime | None]
    password_changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def frozen(self) -> bool:
        return self.frozen_at is not None

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

    def __repr__(self) -> str:
        return f"User(id={self.id}, status={self.status})"
