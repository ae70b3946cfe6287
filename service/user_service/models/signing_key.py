import datetime as dt
from enum import StrEnum

from sqlalchemy import CheckConstraint, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from user_service.db import Base, utcnow
from user_service.models._types import StrEnumColumn, one_of


class SigningKeyStatus(StrEnum):
    """``active`` signs (from ``signs_from``); ``retired`` only verifies, until ``verify_until``."""

    ACTIVE = "active"
    RETIRED = "retired"


class JwtSigningKey(Base):
    """An RSA signing key. The private key is sealed with the KMS key provider (kid as AAD).

    A key is published (in the JWKS) from ``created_at``, signs from ``signs_from`` (null:
    from creation) until ``retired_at`` (which may lie in the future while its successor is
    being published), and stays in the JWKS until ``verify_until``, when the last token it
    signed has expired.
    """

    __tablename__ = "jwt_signing_keys"
    __table_args__ = (CheckConstraint(one_of("status", SigningKeyStatus), name="status"),)

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(16), default="RS256")
    key_size: Mapped[int] = mapped_column(Integer)
    public_key_pem: Mapped[str] = mapped_column(Text)
    private_key_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[SigningKeyStatus] = mapped_column(
        StrEnumColumn(SigningKeyStatus, 16), default=SigningKeyStatus.ACTIVE
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    signs_from: Mapped[dt.datetime | None]
    retired_at: Mapped[dt.datetime | None]
    verify_until: Mapped[dt.datetime | None]

    def __repr__(self) -> str:
        return f"JwtSigningKey(kid={self.kid!r}, status={self.status})"
