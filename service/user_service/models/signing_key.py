import datetime as dt

from sqlalchemy import CheckConstraint, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from user_service.db import Base, utcnow


class JwtSigningKey(Base):
    """An RSA signing key. The private key is sealed with the KMS key provider (kid as AAD).

    A key is published (in the JWKS) from ``created_at``, signs from ``signs_from`` (null:
    from creation) until ``retired_at`` (which may lie in the future while its successor is
    being published), and stays in the JWKS until ``verify_until``, when the last token it
    signed has expired.
    """

    __tablename__ = "jwt_signing_keys"
    __table_args__ = (CheckConstraint("status IN ('active', 'retired')", name="status"),)

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(16), default="RS256")
    key_size: Mapped[int] = mapped_column(Integer)
    public_key_pem: Mapped[str] = mapped_column(Text)
    private_key_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    signs_from: Mapped[dt.datetime | None]
    retired_at: Mapped[dt.datetime | None]
    verify_until: Mapped[dt.datetime | None]

    def __repr__(self) -> str:
        return f"JwtSigningKey(kid={self.kid!r}, status={self.status})"
