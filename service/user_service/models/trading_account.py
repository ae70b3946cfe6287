import datetime as dt
import uuid
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, LargeBinary, String, UniqueConstraint, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from user_service.db import Base, JSONType, utcnow
from user_service.models._types import StrEnumColumn


class TradingAccountStatus(StrEnum):
    """Where a link stands with its broker (docs/trading-accounts.md)."""

    PENDING_VERIFICATION = "pending_verification"
    ACTIVE = "active"
    INVALID = "invalid"
    EXPIRED = "expired"


class TradingAccount(Base):
    """A linked broker account. Credentials are sealed with the account id as AAD."""

    __tablename__ = "trading_accounts"
    __table_args__ = (
        # One user links a broker account once; among accounts whose broker identity was
        # confirmed, a broker account is linked once (an unconfirmed link cannot squat it).
        UniqueConstraint("owner_user_id", "broker", "user_id_broker"),
        Index(
            "uq_trading_accounts_verified_broker_user",
            "broker",
            "user_id_broker",
            unique=True,
            sqlite_where=text("identity_verified_at IS NOT NULL"),
            postgresql_where=text("identity_verified_at IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    owner_user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    broker: Mapped[str] = mapped_column(String(32))
    user_id_broker: Mapped[str] = mapped_column(String(64))
    status: Mapped[TradingAccountStatus] = mapped_column(
        StrEnumColumn(TradingAccountStatus, 32), default=TradingAccountStatus.PENDING_VERIFICATION
    )
    api_key_masked: Mapped[str] = mapped_column(String(32))
    credentials_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    access_token_expires_at: Mapped[dt.datetime | None]
    verified_at: Mapped[dt.datetime | None]
    # When the broker confirmed that this account's broker user logged in (kept across a
    # credential rotation: the broker identity does not change with the keys).
    identity_verified_at: Mapped[dt.datetime | None]
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
    # None: until removed. Queries compare it with the time, so an expired grant is gone
    # from every decision and list without a job having run.
    expires_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
