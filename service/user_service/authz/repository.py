"""SQL for the policy decision point: policies and the trading-account facts a decision reads."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from user_service.models import Policy, TradingAccount, TradingAccountMembership, User


async def all_policies(db: AsyncSession) -> Sequence[Policy]:
    """Every stored policy, enabled or not (the evaluator drops disabled ones)."""
    result = await db.execute(select(Policy).order_by(Policy.name))
    return result.scalars().all()


async def page_policies(
    db: AsyncSession, *, after_name: str | None, limit: int
) -> Sequence[Policy]:
    query = select(Policy).order_by(Policy.name).limit(limit)
    if after_name is not None:
        query = query.where(Policy.name > after_name)
    result = await db.execute(query)
    return result.scalars().all()


async def get_policy(db: AsyncSession, policy_id: uuid.UUID) -> Policy | None:
    return await db.get(Policy, policy_id)


async def policy_name_taken(
    db: AsyncSession, name: str, *, except_id: uuid.UUID | None = None
) -> bool:
    query = select(Policy.id).where(Policy.name == name)
    if except_id is not None:
        query = query.where(Policy.id != except_id)
    return (await db.scalar(query)) is not None


async def add_policy(db: AsyncSession, policy: Policy) -> None:
    db.add(policy)
    await db.flush()


async def delete_policy(db: AsyncSession, policy_id: uuid.UUID) -> None:
    await db.execute(delete(Policy).where(Policy.id == policy_id))
    await db.flush()


async def trading_account_access(
    db: AsyncSession, account_id: uuid.UUID, user_id: uuid.UUID | None, *, now: dt.datetime
) -> tuple[uuid.UUID, list[str], bool] | None:
    """The account's owner, ``user_id``'s live membership permissions on it (an expired
    grant counts as none) and whether the owner is frozen; None if no account."""
    membership = TradingAccountMembership
    member_id = user_id or uuid.UUID(int=0)  # clients are never members
    row = (
        await db.execute(
            select(TradingAccount.owner_user_id, membership.permissions, User.frozen_at)
            .join(User, User.id == TradingAccount.owner_user_id)
            .outerjoin(
                membership,
                (membership.account_id == TradingAccount.id)
                & (membership.user_id == member_id)
                & or_(membership.expires_at.is_(None), membership.expires_at > now),
            )
            .where(TradingAccount.id == account_id)
        )
    ).first()
    if row is None:
        return None
    owner_id, permissions, owner_frozen_at = row
    return (
        owner_id,
        [p for p in permissions or [] if isinstance(p, str)],
        owner_frozen_at is not None,
    )
