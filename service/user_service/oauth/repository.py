"""SQL for OAuth clients and revoked service tokens."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from user_service.models import OAuthClient, RevokedToken


async def get_client(db: AsyncSession, client_id: str) -> OAuthClient | None:
    return await db.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))


async def list_clients(db: AsyncSession) -> Sequence[OAuthClient]:
    result = await db.execute(select(OAuthClient).order_by(OAuthClient.client_id))
    return result.scalars().all()


async def add_client(db: AsyncSession, client: OAuthClient) -> None:
    db.add(client)
    await db.flush()


async def is_revoked(db: AsyncSession, jti: str) -> bool:
    return (await db.scalar(select(RevokedToken.jti).where(RevokedToken.jti == jti))) is not None


async def revoke_token(
    db: AsyncSession, *, jti: str, client_id: str, expires_at: dt.datetime, now: dt.datetime
) -> bool:
    """Record a revoked ``jti`` (idempotent); also forget revocations past their token's life."""
    await db.execute(delete(RevokedToken).where(RevokedToken.expires_at < now))
    if await is_revoked(db, jti):
        return False
    db.add(RevokedToken(jti=jti, client_id=client_id, revoked_at=now, expires_at=expires_at))
    await db.flush()
    return True
