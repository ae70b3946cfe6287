"""SQL of the admin API: searching users and counting their sessions."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from user_service.models import Role, User, UserRole, UserSession, UserStatus


async def page_users(
    db: AsyncSession,
    *,
    q: str | None,
    status: UserStatus | None,
    before: tuple[dt.datetime, uuid.UUID] | None,
    limit: int,
) -> Sequence[User]:
    """Newest first; ``q`` matches part of the email or the name, case-insensitively."""
    query = select(User).order_by(User.created_at.desc(), User.id.desc()).limit(limit)
    if q:
        query = query.where(
            or_(User.email.icontains(q, autoescape=True), User.name.icontains(q, autoescape=True))
        )
    if status:
        query = query.where(User.status == status)
    if before is not None:
        created_at, user_id = before
        query = query.where(
            or_(
                User.created_at < created_at,
                and_(User.created_at == created_at, User.id < user_id),
            )
        )
    result = await db.execute(query)
    return result.scalars().all()


async def roles_of(db: AsyncSession, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    roles: dict[uuid.UUID, list[str]] = {user_id: [] for user_id in user_ids}
    if not user_ids:
        return roles
    result = await db.execute(
        select(UserRole.user_id, Role.name)
        .join(Role, Role.id == UserRole.role_id)
        .where(UserRole.user_id.in_(user_ids))
        .order_by(Role.name)
    )
    for user_id, name in result.all():
        roles[user_id].append(name)
    return roles


async def count_active_sessions(db: AsyncSession, user_id: uuid.UUID, now: dt.datetime) -> int:
    count = await db.scalar(
        select(func.count())
        .select_from(UserSession)
        .where(
            UserSession.user_id == user_id,
            UserSession.revoked_at.is_(None),
            UserSession.expires_at > now,
        )
    )
    return int(count or 0)
