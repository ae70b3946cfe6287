"""SQL for signing keys."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from user_service.models import JwtSigningKey, SigningKeyStatus


async def published_keys(session: AsyncSession, now: dt.datetime) -> list[JwtSigningKey]:
    """Every key a valid token may still be signed with: active ones and retired ones in grace."""
    result = await session.execute(
        select(JwtSigningKey)
        .where(
            or_(JwtSigningKey.status == SigningKeyStatus.ACTIVE, JwtSigningKey.verify_until > now)
        )
        .order_by(JwtSigningKey.created_at.desc())
    )
    return list(result.scalars())


async def has_active_key(session: AsyncSession) -> bool:
    result = await session.execute(
        select(JwtSigningKey.kid).where(JwtSigningKey.status == SigningKeyStatus.ACTIVE).limit(1)
    )
    return result.first() is not None


async def retire_active_keys(
    session: AsyncSession, except_kid: str, now: dt.datetime, verify_until: dt.datetime
) -> list[str]:
    result = await session.execute(
        update(JwtSigningKey)
        .where(JwtSigningKey.status == SigningKeyStatus.ACTIVE, JwtSigningKey.kid != except_kid)
        .values(status=SigningKeyStatus.RETIRED, retired_at=now, verify_until=verify_until)
        .returning(JwtSigningKey.kid)
    )
    return list(result.scalars())
