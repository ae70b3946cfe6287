import datetime as dt
import uuid
from enum import StrEnum

from sqlalchemy import ForeignKey, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from user_service.db import Base, utcnow
from user_service.models._types import StrEnumColumn


class MarkerKind(StrEnum):
    """What a sign-in marker remembers."""

    DEVICE = "device"
    NETWORK = "network"
    COUNTRY = "country"


class SignInMarker(Base):
    """Something a user has signed in with before: a device, a network or a country.

    ``kind`` is ``device`` (SHA-256 of the fingerprint, else of the user agent), ``network``
    (the masked /24 or /48) or ``country`` (ISO 3166-1 alpha-2). One primary-key lookup per
    sign-in tells what is new (user_service.risk).
    """

    __tablename__ = "sign_in_markers"

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[MarkerKind] = mapped_column(StrEnumColumn(MarkerKind, 16), primary_key=True)
    value: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
