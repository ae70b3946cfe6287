"""SQL for the policy decision point: policies and the trading-account facts a decision reads."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from user_service.models import Policy, TradingAccount, TradingAccountMembership


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
    db: AsyncSession, account_id: uuid.UUID, user_id: uuid.UUID | None
) -> tuple[uuid.UUID, list[str]] | None:
    """The account's owner and ``user_id``'s membership permissions on it; None if no account."""
    membership = TradingAccountMembership
    member_id = user_id or uuid.UUID(int=0)  # clients are never members
    row = (
        await db.execute(
            select(TradingAccount.owner_user_id, membership.permissions)
            .outerjoin(
                membership,
                (membership.account_id == TradingAccount.id) & (membership.user_id == member_id),
            )
            .where(TradingAccount.id == account_id)
        )
    ).first()
    if row is None:
        return None
    owner_id, permissions = row
    return owner_id, [p for p in permissions or [] if isinstance(p, str)]
