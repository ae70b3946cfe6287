import datetime as dt
import uuid

from sqlalchemy import ForeignKey, LargeBinary, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from user_service.db import Base, JSONType, utcnow


class TradingAccount(Base):
    """A linked broker account. Credentials are sealed with the account id as AAD."""

    __tablename__ = "trading_accounts"
    __table_args__ = (UniqueConstraint("broker", "user_id_broker"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    owner_user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    broker: Mapped[str] = mapped_column(String(32))
    user_id_broker: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32), default="pending_verification")
    api_key_masked: Mapped[str] = mapped_column(String(32))
    credentials_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    access_token_expires_at: Mapped[dt.datetime | None]
    verified_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"TradingAccount(id={self.id}, broker={self.broker}, status={self.status})"


class TradingAccountMembership(Base):
    __tablename__ = "trading_account_memberships"

    account_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("trading_accounts.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    permissions: Mapped[list[str]] = mapped_column(JSONType, default=list)
    added_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
