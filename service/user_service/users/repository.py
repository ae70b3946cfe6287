"""SQL for users, their roles and preferences."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from user_service.models import (
    Role,
    TradingAccount,
    TradingAccountMembership,
    User,
    UserPreferences,
    UserRole,
)


async def get_by_id(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def get_by_email(session: AsyncSession, email: str) -> User | None:
    result = await session.execute(select(User).where(User.email == email))
    return result.scalar_one_or_none()


async def role_names(session: AsyncSession, user_id: uuid.UUID) -> list[str]:
    result = await session.execute(
        select(Role.name)
        .join(UserRole, UserRole.role_id == Role.id)
        .where(UserRole.user_id == user_id)
    )
    return sorted(result.scalars())


async def roles_by_name(session: AsyncSession, names: list[str]) -> dict[str, Role]:
    result = await session.execute(select(Role).where(Role.name.in_(names)))
    return {role.name: role for role in result.scalars()}


async def grant_role(
    session: AsyncSession, user_id: uuid.UUID, role: Role, granted_by: str | None
) -> None:
    session.add(UserRole(user_id=user_id, role_id=role.id, granted_by=granted_by))


async def set_roles(
    session: AsyncSession, user_id: uuid.UUID, roles: list[Role], granted_by: str | None
) -> None:
    await session.execute(delete(UserRole).where(UserRole.user_id == user_id))
    for role in roles:
        session.add(UserRole(user_id=user_id, role_id=role.id, granted_by=granted_by))
    await session.flush()


async def trading_account_ids(session: AsyncSession, user_id: uuid.UUID) -> list[str]:
    """Accounts the user owns or is a member of (the ``trading_accounts`` claim)."""
    result = await session.execute(
        select(TradingAccount.id)
        .outerjoin(
            TradingAccountMembership,
            (TradingAccountMembership.account_id == TradingAccount.id)
            & (TradingAccountMembership.user_id == user_id),
        )
        .where(
            or_(
                TradingAccount.owner_user_id == user_id, TradingAccountMembership.user_id == user_id
            )
        )
        .order_by(TradingAccount.created_at)
    )
    return [str(account_id) for account_id in result.scalars()]


async def get_preferences(session: AsyncSession, user_id: uuid.UUID) -> UserPreferences | None:
    return await session.get(UserPreferences, user_id)
