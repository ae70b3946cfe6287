import datetime as dt
import uuid
from typing import Any

from sqlalchemy import CheckConstraint, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from user_service.db import Base, JSONType, utcnow


class Policy(Base):
    """An ABAC rule (docs/authorization.md); see docs/authorization.md for the semantics."""

    __tablename__ = "policies"
    __table_args__ = (CheckConstraint("effect IN ('allow', 'deny')", name="effect"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(String(1000), default="")
    effect: Mapped[str] = mapped_column(String(8))
    subjects: Mapped[list[str]] = mapped_column(JSONType)
    actions: Mapped[list[str]] = mapped_column(JSONType)
    resources: Mapped[list[str]] = mapped_column(JSONType)
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    enabled: Mapped[bool] = mapped_column(default=True)
    is_system: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
