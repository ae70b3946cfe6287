import datetime as dt
import uuid

from sqlalchemy import String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from user_service.db import Base, JSONType, utcnow


class OAuthClient(Base):
    """A service identity for RFC 6749 client credentials; only the secret's hash is kept."""

    __tablename__ = "oauth_clients"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str | None] = mapped_column(String(200))
    scopes: Mapped[list[str]] = mapped_column(JSONType, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    secret_rotated_at: Mapped[dt.datetime | None]
    disabled_at: Mapped[dt.datetime | None]

    def __repr__(self) -> str:
        return f"OAuthClient(client_id={self.client_id!r})"


class RevokedToken(Base):
    """Service tokens revoked through RFC 7009, kept until they would have expired anyway."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str | None] = mapped_column(String(64))
    revoked_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
