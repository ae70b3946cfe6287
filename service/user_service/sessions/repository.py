"""SQL for sessions and refresh tokens."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, cast

from sqlalchemy import CursorResult, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from user_service.models import RefreshToken, User, UserSession


async def get_session(session: AsyncSession, session_id: uuid.UUID) -> UserSession | None:
    return await session.get(UserSession, session_id, populate_existing=True)


# The statements every authenticated request and every refresh runs are built once, at import:
# building one cost about as much CPU as executing it (docs/performance.md, fourth round).
_SESSION_WITH_USER = (
    select(UserSession, User)
    .join(User, User.id == UserSession.user_id)
    .where(UserSession.id == bindparam("session_id"))
    .execution_options(populate_existing=True)
)
_REFRESH_TOKEN_BY_HASH = (
    select(RefreshToken)
    .where(RefreshToken.token_hash == bindparam("token_hash"))
    .execution_options(populate_existing=True)
)
_CLAIM_ROTATION = (
    update(RefreshToken)
    .where(RefreshToken.id == bindparam("token_id"), RefreshToken.rotated_at.is_(None))
    .values(
        rotated_at=bindparam("now"),
        successor_id=bindparam("successor_id"),
        successor_sealed=bindparam("successor_sealed"),
    )
    .execution_options(synchronize_session=False)
)


async def session_with_user(
    session: AsyncSession, session_id: uuid.UUID
) -> tuple[UserSession, User] | None:
    """The session and its user in one round trip (every authenticated request needs both)."""
    result = await session.execute(_SESSION_WITH_USER, {"session_id": session_id})
    row = result.first()
    return (row[0], row[1]) if row is not None else None


async def active_sessions(
    session: AsyncSession, user_id: uuid.UUID, now: dt.datetime
) -> list[UserSession]:
    result = await session.execute(
        select(UserSession)
        .where(
            UserSession.user_id == user_id,
            UserSession.revoked_at.is_(None),
            UserSession.expires_at > now,
        )
        .order_by(UserSession.last_active_at.desc())
    )
    return list(result.scalars())


async def refresh_token_by_hash(session: AsyncSession, token_hash: str) -> RefreshToken | None:
    result = await session.execute(_REFRESH_TOKEN_BY_HASH, {"token_hash": token_hash})
    return result.scalar_one_or_none()


async def get_refresh_token(session: AsyncSession, token_id: uuid.UUID) -> RefreshToken | None:
    return await session.get(RefreshToken, token_id, populate_existing=True)


async def claim_rotation(
    session: AsyncSession,
    token_id: uuid.UUID,
    *,
    now: dt.datetime,
    successor_id: uuid.UUID,
    successor_sealed: bytes,
) -> bool:
    """Atomically mark a token rotated; exactly one concurrent caller wins."""
    result = await session.execute(
        _CLAIM_ROTATION,
        {
            "token_id": token_id,
            "now": now,
            "successor_id": successor_id,
            "successor_sealed": successor_sealed,
        },
    )
    return cast(CursorResult[Any], result).rowcount == 1


async def revoke_sessions(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    now: dt.datetime,
    reason: str,
    only: uuid.UUID | None = None,
    keep: uuid.UUID | None = None,
) -> list[uuid.UUID]:
    query = (
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
        .returning(UserSession.id)
        .execution_options(synchronize_session=False)
    )
    if only is not None:
        query = query.where(UserSession.id == only)
    if keep is not None:
        query = query.where(UserSession.id != keep)
    result = await session.execute(query)
    return list(result.scalars())


async def user_ips(session: AsyncSession, user_id: uuid.UUID, limit: int = 50) -> set[str]:
    result = await session.execute(
        select(UserSession.ip)
        .where(UserSession.user_id == user_id, UserSession.ip.is_not(None))
        .order_by(UserSession.created_at.desc())
        .limit(limit)
    )
    return {ip for ip in result.scalars() if ip}
