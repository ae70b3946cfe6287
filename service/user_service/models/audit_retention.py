import datetime as dt

from sqlalchemy import BigInteger, Date, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from user_service.db import Base, utcnow
from user_service.models._types import BigIntPK


class AuditChainAnchor(Base):
    """Where the audit chain starts after retention removed its oldest records.

    ``last_hash`` is the hash of the newest removed record (``last_id``): the oldest kept
    record chains to it. Each anchor is also confirmed by an ``audit.pruned`` record in the
    chain itself, so a forged anchor cannot hide a cut (docs/audit-retention.md).
    """

    __tablename__ = "audit_chain_anchors"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    pruned_before: Mapped[dt.datetime]
    last_id: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(64))
    rows_removed: Mapped[int] = mapped_column(BigInteger)
    method: Mapped[str] = mapped_column(String(32))


class AuditDailyCount(Base):
    """Events per UTC day and type, kept after the records themselves are pruned."""

    __tablename__ = "audit_daily_counts"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    event_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    events: Mapped[int] = mapped_column(BigInteger)
    max_risk_score: Mapped[int] = mapped_column(Integer)
