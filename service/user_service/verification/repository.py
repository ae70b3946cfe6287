"""SQL for email-verification tokens (stored as SHA-256 digests, never in clear)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, cast

from sqlalchemy import CursorResult, Result, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from user_service.models import EmailVerificationToken


def _affected(result: Result[Any]) -> int:
    return cast(CursorResult[Any], result).rowcount


async def add_token(
    db: AsyncSession,
    user_id: uuid.UUID,
    email: str,
    token_hash: str,
    *,
    now: dt.datetime,
    expires_at: dt.datetime,
) -> EmailVerificationToken:
    row = EmailVerificationToken(
        id=uuid.uuid4(),
        user_id=user_id,
        email=email,
        token_hash=token_hash,
        created_at=now,
        expires_at=expires_at,
    )
    db.add(row)
    await db.flush()
    return row


async def token_by_hash(db: AsyncSession, token_hash: str) -> EmailVerificationToken | None:
    result = await db.execute(
        select(EmailVerificationToken)
        .where(EmailVerificationToken.token_hash == token_hash)
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def invalidate_tokens(db: AsyncSession, user_id: uuid.UUID, *, now: dt.datetime) -> None:
    await db.execute(
        update(EmailVerificationToken)
        .where(
            EmailVerificationToken.user_id == user_id,
            EmailVerificationToken.used_at.is_(None),
            EmailVerificationToken.invalidated_at.is_(None),
        )
        .values(invalidated_at=now)
        .execution_options(synchronize_session=False)
    )


async def claim_token(db: AsyncSession, token_id: uuid.UUID, *, now: dt.datetime) -> bool:
    result = await db.execute(
        update(EmailVerificationToken)
        .where(
            EmailVerificationToken.id == token_id,
            EmailVerificationToken.used_at.is_(None),
            EmailVerificationToken.invalidated_at.is_(None),
            EmailVerificationToken.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return _affected(result) == 1


async def newest_token_id(db: AsyncSession, user_id: uuid.UUID) -> uuid.UUID | None:
    """Only the latest link is honoured, even if two resends raced."""
    result = await db.execute(
        select(EmailVerificationToken.id)
        .where(EmailVerificationToken.user_id == user_id)
        .order_by(EmailVerificationToken.created_at.desc(), EmailVerificationToken.id.desc())
        .limit(1)
    )
    return result.scalar_one_or_none()
