"""The repository shared by the single-use, e-mailed tokens (password reset, e-mail
verification, freeze links and unfreeze confirmations).

Both tables have the same shape: a SHA-256 ``token_hash``, ``expires_at``, ``used_at`` and
``invalidated_at``. A token is spent with a conditional UPDATE, so of two parallel uses
exactly one wins; only the newest token of a user is honoured, even if two requests raced.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from user_service.models import AccountActionToken, EmailVerificationToken, PasswordResetToken

TokenRow = TypeVar("TokenRow", PasswordResetToken, EmailVerificationToken, AccountActionToken)


class OneTimeTokens(Generic[TokenRow]):
    def __init__(self, model: type[TokenRow]) -> None:
        self.model: Any = model  # both models share the columns used below

    async def by_hash(self, db: AsyncSession, token_hash: str) -> TokenRow | None:
        result = await db.execute(
            select(self.model)
            .where(self.model.token_hash == token_hash)
            .execution_options(populate_existing=True)
        )
        return result.scalar_one_or_none()

    async def invalidate_outstanding(
        self, db: AsyncSession, user_id: uuid.UUID, *, now: dt.datetime
    ) -> None:
        """End every unused token of the user (a newer request, a password change)."""
        await db.execute(
            update(self.model)
            .where(
                self.model.user_id == user_id,
                self.model.used_at.is_(None),
                self.model.invalidated_at.is_(None),
            )
            .values(invalidated_at=now)
            .execution_options(synchronize_session=False)
        )

    async def claim(self, db: AsyncSession, token_id: uuid.UUID, *, now: dt.datetime) -> bool:
        """Spend a token once; of two parallel uses exactly one wins."""
        result = await db.execute(
            update(self.model)
            .where(
                self.model.id == token_id,
                self.model.used_at.is_(None),
                self.model.invalidated_at.is_(None),
                self.model.expires_at > now,
            )
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        return cast(CursorResult[Any], result).rowcount == 1

    async def newest_id(self, db: AsyncSession, user_id: uuid.UUID) -> uuid.UUID | None:
        result = await db.execute(
            select(self.model.id)
            .where(self.model.user_id == user_id)
            .order_by(self.model.created_at.desc(), self.model.id.desc())
            .limit(1)
        )
        return result.scalar_one_or_none()
