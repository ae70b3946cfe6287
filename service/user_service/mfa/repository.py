"""SQL for TOTP enrolments, backup codes and login MFA challenges."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from user_service.models import MfaChallenge, MfaTotp


async def get_enrolment(db: AsyncSession, user_id: uuid.UUID) -> MfaTotp | None:
    return await db.get(MfaTotp, user_id, populate_existing=True)


async def is_enabled(db: AsyncSession, user_id: uuid.UUID) -> bool:
    result = await db.execute(
        select(MfaTotp.user_id).where(MfaTotp.user_id == user_id, MfaTotp.confirmed_at.is_not(None))
    )
    return result.first() is not None


async def challenge_by_hash(db: AsyncSession, token_hash: str) -> MfaChallenge | None:
    result = await db.execute(
        select(MfaChallenge)
        .where(MfaChallenge.token_hash == token_hash)
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()
