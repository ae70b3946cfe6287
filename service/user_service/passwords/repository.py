"""SQL for password-reset tokens (stored as SHA-256 digests, never in clear)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, cast

from sqlalchemy import CursorResult, Result, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from user_service.models import PasswordResetToken


def _affected(result: Result[Any]) -> int:
    return cast(CursorResult[Any], result).rowcount


async def add_reset_token(
    db: AsyncSession,
    user_id: uuid.UUID,
    token_hash: str,
    *,
    now: dt.datetime,
    expires_at: dt.datetime,
) -> PasswordResetToken:
    row = PasswordResetToken(
        id=uuid.uuid4(),
        user_id=user_id,
        token_hash=token_hash,
        created_at=now,
        expires_at=expires_at,
    )
    db.add(row)
    await db.flush()
    return row


async def reset_token_by_hash(db: AsyncSession, token_hash: str) -> PasswordResetToken | None:
    result = await db.execute(
        select(PasswordResetToken)
        .where(PasswordResetToken.token_hash == token_hash)
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def invalidate_reset_tokens(
    db: AsyncSession, user_id: uuid.UUID, *, now: dt.datetime
) -> None:
    """End every outstanding token of the user (a newer request or a password change)."""
    await db.execute(
        update(PasswordResetToken)
        .where(
            PasswordResetToken.user_id == user_id,
            PasswordResetToken.used_at.is_(None),
            PasswordResetToken.invalidated_at.is_(None),
        )
        .values(invalidated_at=now)
        .execution_options(synchronize_session=False)
    )


async def claim_reset_token(db: AsyncSession, token_id: uuid.UUID, *, now: dt.datetime) -> bool:
    """Spend a token once; of two parallel resets with one token exactly one wins."""
    result = await db.execute(
        update(PasswordResetToken)
        .where(
            PasswordResetToken.id == token_id,
            PasswordResetToken.used_at.is_(None),
            PasswordResetToken.invalidated_at.is_(None),
            PasswordResetToken.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return _affected(result) == 1


async def newest_reset_token_id(db: AsyncSession, user_id: uuid.UUID) -> uuid.UUID | None:
    """Only the latest request's token is honoured, even if two requests raced."""
    result = await db.execute(
        select(PasswordResetToken.id)
        .where(PasswordResetToken.user_id == user_id)
        .order_by(PasswordResetToken.created_at.desc(), PasswordResetToken.id.desc())
        .limit(1)
    )
    return result.scalar_one_or_none()
