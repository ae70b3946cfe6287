"""SQL for password-reset tokens (stored as SHA-256 digests, never in clear)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, cast

from sqlalchemy import CursorResult, Result
from sqlalchemy.ext.asyncio import AsyncSession

from user_service.models import PasswordResetToken
from user_service.one_time_tokens import OneTimeTokens


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


_tokens = OneTimeTokens(PasswordResetToken)
reset_token_by_hash = _tokens.by_hash
invalidate_reset_tokens = _tokens.invalidate_outstanding
claim_reset_token = _tokens.claim
newest_reset_token_id = _tokens.newest_id
why_reset_token_unusable = _tokens.why_unusable
