"""The repository shared by the single-use, e-mailed tokens (password reset, e-mail
verification, freeze links and unfreeze confirmations).

Both tables have the same shape: a SHA-256 ``token_hash``, ``expires_at``, ``used_at`` and
``invalidated_at``. A token is spent with a conditional UPDATE, so of two parallel uses
exactly one wins; only the newest token of a user is honoured, even if two requests raced.

``why_unusable`` names why a token cannot be used (``token_used``, ``token_replaced``,
``token_expired``, ``token_invalid``), so a page opened from an old e-mail can say which —
a person holding the link learns nothing about anyone else's account.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from user_service.models import AccountActionToken, EmailVerificationToken, PasswordResetToken

TOKEN_USED = "token_used"
TOKEN_REPLACED = "token_replaced"
TOKEN_EXPIRED = "token_expired"
TOKEN_INVALID = "token_invalid"

TokenRow = TypeVar("TokenRow", PasswordResetToken, EmailVerificationToken, AccountActionToken)


class OneTimeTokens(Generic[TokenRow]):
    def __init__(self, model: type[TokenRow]) -> None:
        self.model: Any = model  # both models share the columns used below

    async def add(
        self,
        db: AsyncSession,
        user_id: uuid.UUID,
        token_hash: str,
        *,
        now: dt.datetime,
        expires_at: dt.datetime,
        **columns: Any,
    ) -> TokenRow:
        """Store a new token of the user by its digest; ``columns`` are the table's own."""
        row: TokenRow = self.model(
            id=uuid.uuid4(),
            user_id=user_id,
            token_hash=token_hash,
            created_at=now,
            expires_at=expires_at,
            **columns,
        )
        db.add(row)
        await db.flush()
        return row

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

    async def why_unusable(
        self, db: AsyncSession, row: TokenRow, *, now: dt.datetime
    ) -> str | None:
        """``None`` when ``row`` may be spent now, else the reason it may not.

        Used beats replaced beats expired: that is the order a person can act on ("you already
        did this", "open the newer e-mail", "ask for a new link"). A token ended without a newer
        one (the password changed meanwhile) is ``token_invalid``.
        """
        if row.used_at is not None:
            return TOKEN_USED
        if await self.newest_id(db, row.user_id) != row.id:
            return TOKEN_REPLACED
        if row.invalidated_at is not None:
            return TOKEN_INVALID
        if row.expires_at <= now:
            return TOKEN_EXPIRED
        return None
