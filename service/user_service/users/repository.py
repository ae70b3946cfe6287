"""SQL for users, their roles and preferences."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection

from sqlalchemy import BindParameter, Select, bindparam, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from user_service.db import utcnow
from user_service.models import (
    AccountActionToken,
    Role,
    TradingAccount,
    TradingAccountMembership,
    User,
    UserPreferences,
    UserRole,
    UserStatus,
)

ADMIN_ROLE = "admin"
"""The role the platform may never be left without (``users.service.ensure_another_admin``)."""


async def get_by_id(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def get_many(session: AsyncSession, user_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, User]:
    if not user_ids:
        return {}
    result = await session.execute(select(User).where(User.id.in_(set(user_ids))))
    return {user.id: user for user in result.scalars()}


async def get_by_email(session: AsyncSession, email: str) -> User | None:
    result = await session.execute(select(User).where(User.email == email))
    return result.scalar_one_or_none()


_ROLE_NAMES = (
    select(Role.name)
    .join(UserRole, UserRole.role_id == Role.id)
    .where(UserRole.user_id == bindparam("user_id"))
)


async def role_names(session: AsyncSession, user_id: uuid.UUID) -> list[str]:
    result = await session.execute(_ROLE_NAMES, {"user_id": user_id})
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


def _trading_account_ids_statement() -> Select[uuid.UUID]:
    owner = aliased(User)
    membership = TradingAccountMembership
    user_id: BindParameter[uuid.UUID] = bindparam("user_id")
    now: BindParameter[dt.datetime] = bindparam("now")
    caller_frozen_at = select(User.frozen_at).where(User.id == user_id).scalar_subquery()
    return (
        select(TradingAccount.id)
        .join(owner, owner.id == TradingAccount.owner_user_id)
        .outerjoin(
            membership,
            (membership.account_id == TradingAccount.id)
            & (membership.user_id == user_id)
            & or_(membership.expires_at.is_(None), membership.expires_at > now),
        )
        .where(or_(TradingAccount.owner_user_id == user_id, membership.user_id == user_id))
        .where(owner.frozen_at.is_(None), caller_frozen_at.is_(None))
        .order_by(TradingAccount.created_at)
    )


# Built once: every token a user is issued (sign-in, each refresh) runs it, and building it —
# an alias of ``users``, a subquery, three joins — cost more CPU than executing it.
_TRADING_ACCOUNT_IDS = _trading_account_ids_statement()


async def trading_account_ids(session: AsyncSession, user_id: uuid.UUID) -> list[str]:
    """Accounts the user owns or holds a live grant on (the ``trading_accounts`` claim).

    An expired grant is left out without anyone acting, and so is every account while the
    user or the account's owner is frozen: the claim lists what the user may act on.
    """
    result = await session.execute(_TRADING_ACCOUNT_IDS, {"user_id": user_id, "now": utcnow()})
    return [str(account_id) for account_id in result.scalars()]


async def get_preferences(session: AsyncSession, user_id: uuid.UUID) -> UserPreferences | None:
    return await session.get(UserPreferences, user_id)


async def add_action_token(session: AsyncSession, row: AccountActionToken) -> None:
    session.add(row)
    await session.flush()


async def invalidate_action_tokens(
    session: AsyncSession, user_id: uuid.UUID, *, purpose: str, now: dt.datetime
) -> None:
    """End the user's unused links of one purpose (a newer unfreeze request, an unfreeze)."""
    await session.execute(
        update(AccountActionToken)
        .where(
            AccountActionToken.user_id == user_id,
            AccountActionToken.purpose == purpose,
            AccountActionToken.used_at.is_(None),
            AccountActionToken.invalidated_at.is_(None),
        )
        .values(invalidated_at=now)
        .execution_options(synchronize_session=False)
    )


async def lock_admin_role(db: AsyncSession) -> None:
    """Serialise changes that can remove an admin (row lock on PostgreSQL; SQLite's
    ``BEGIN IMMEDIATE`` already serialises writers), so two admins demoting each other at
    once cannot leave none."""
    await db.execute(select(Role.id).where(Role.name == ADMIN_ROLE).with_for_update())


async def active_admin_ids(db: AsyncSession) -> set[uuid.UUID]:
    result = await db.execute(
        select(User.id)
        .join(UserRole, UserRole.user_id == User.id)
        .join(Role, Role.id == UserRole.role_id)
        .where(Role.name == ADMIN_ROLE, User.status == UserStatus.ACTIVE)
    )
    return set(result.scalars())
