"""SQL for trading accounts and their memberships."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, or_, select, text, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from user_service.models import TradingAccount, TradingAccountMembership, User


async def get(db: AsyncSession, account_id: uuid.UUID) -> TradingAccount | None:
    return await db.get(TradingAccount, account_id, populate_existing=True)


def live_membership(now: dt.datetime) -> ColumnElement[bool]:
    """A grant without an end, or one that has not ended: an expired grant is gone at once."""
    expires_at = TradingAccountMembership.expires_at
    return or_(expires_at.is_(None), expires_at > now)


async def get_membership(
    db: AsyncSession, account_id: uuid.UUID, user_id: uuid.UUID
) -> TradingAccountMembership | None:
    """The stored grant, expired or not (``live_membership`` decides whether it counts)."""
    return await db.get(TradingAccountMembership, (account_id, user_id), populate_existing=True)


async def owner_frozen(db: AsyncSession, owner_user_id: uuid.UUID) -> bool:
    """Whether the account owner froze (or had frozen) their account: nobody trades on it."""
    frozen_at = await db.scalar(select(User.frozen_at).where(User.id == owner_user_id))
    return frozen_at is not None


async def confirmed_for_broker_user(db: AsyncSession, broker: str, user_id_broker: str) -> bool:
    """Whether a link of this broker account has had its broker identity confirmed."""
    found = await db.scalar(
        select(TradingAccount.id).where(
            TradingAccount.broker == broker,
            TradingAccount.user_id_broker == user_id_broker,
            TradingAccount.identity_verified_at.is_not(None),
        )
    )
    return found is not None


async def lock_broker_identity(db: AsyncSession, broker: str, user_id_broker: str) -> None:
    """Serialise confirmations of one broker account (PostgreSQL: a transaction-scoped
    advisory lock, taken before any row lock, so two racing confirmations queue instead of
    deadlocking on the partial unique index; SQLite already serialises writers)."""
    if db.get_bind().dialect.name == "postgresql":
        await db.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"trading_account:{broker}:{user_id_broker}"},
        )


async def unconfirmed_links(
    db: AsyncSession,
    broker: str,
    user_id_broker: str,
    *,
    exclude: uuid.UUID | None = None,
    created_before: dt.datetime | None = None,
) -> list[TradingAccount]:
    """Links of this broker account whose broker identity was never confirmed."""
    query = select(TradingAccount).where(
        TradingAccount.broker == broker,
        TradingAccount.user_id_broker == user_id_broker,
        TradingAccount.identity_verified_at.is_(None),
    )
    if exclude is not None:
        query = query.where(TradingAccount.id != exclude)
    if created_before is not None:
        query = query.where(TradingAccount.created_at < created_before)
    return list((await db.execute(query)).scalars())


async def insert(db: AsyncSession, account: TradingAccount) -> bool:
    """Insert; ``False`` when this user already linked it (also under a race)."""
    try:
        async with db.begin_nested():
            db.add(account)
            await db.flush()
    except IntegrityError:
        return False
    return True


async def page_visible(
    db: AsyncSession,
    user_id: uuid.UUID,
    *,
    after: tuple[dt.datetime, uuid.UUID] | None,
    limit: int,
    unconfirmed_since: dt.datetime,
    now: dt.datetime,
) -> list[tuple[TradingAccount, TradingAccountMembership | None, bool]]:
    """Accounts the user owns or holds a live grant on, oldest first (keyset on created_at,
    id), without links whose broker identity was not confirmed by ``unconfirmed_since``
    (expired); each with whether its owner is frozen."""
    membership = TradingAccountMembership
    query = (
        select(TradingAccount, membership, User.frozen_at)
        .join(User, User.id == TradingAccount.owner_user_id)
        .outerjoin(
            membership,
            and_(
                membership.account_id == TradingAccount.id,
                membership.user_id == user_id,
                live_membership(now),
            ),
        )
        .where(or_(TradingAccount.owner_user_id == user_id, membership.user_id == user_id))
        .where(
            or_(
                TradingAccount.identity_verified_at.is_not(None),
                TradingAccount.created_at >= unconfirmed_since,
            )
        )
        .order_by(TradingAccount.created_at, TradingAccount.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(tuple_(TradingAccount.created_at, TradingAccount.id) > after)
    result = await db.execute(query)
    return [(row[0], row[1], row[2] is not None) for row in result.all()]


async def update_if_unchanged(
    db: AsyncSession, account_id: uuid.UUID, expected_blob: bytes | None, **values: Any
) -> bool:
    """Compare-and-set on the sealed credentials: write only if nobody changed them since.

    Used after a broker call made outside the transaction, so a rotation or unlink that
    happened meanwhile is never overwritten with a verdict about the old credentials.
    """
    condition = (
        TradingAccount.credentials_sealed.is_(None)
        if expected_blob is None
        else TradingAccount.credentials_sealed == expected_blob
    )
    result = await db.execute(
        update(TradingAccount)
        .where(TradingAccount.id == account_id, condition)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def delete_account(db: AsyncSession, account_id: uuid.UUID) -> list[uuid.UUID]:
    """Delete the account and its memberships; returns the former members' ids."""
    members = await member_ids(db, account_id)
    await db.execute(
        delete(TradingAccountMembership).where(TradingAccountMembership.account_id == account_id)
    )
    await db.execute(delete(TradingAccount).where(TradingAccount.id == account_id))
    await db.flush()
    return members


async def member_ids(db: AsyncSession, account_id: uuid.UUID) -> list[uuid.UUID]:
    result = await db.execute(
        select(TradingAccountMembership.user_id).where(
            TradingAccountMembership.account_id == account_id
        )
    )
    return list(result.scalars())


async def members_with_users(
    db: AsyncSession, account_id: uuid.UUID, *, now: dt.datetime
) -> list[tuple[TradingAccountMembership, User]]:
    """Live grants only: an expired one is no longer a member."""
    result = await db.execute(
        select(TradingAccountMembership, User)
        .join(User, User.id == TradingAccountMembership.user_id)
        .where(TradingAccountMembership.account_id == account_id, live_membership(now))
        .order_by(TradingAccountMembership.created_at, User.id)
    )
    return [(row[0], row[1]) for row in result.all()]


async def add_membership(db: AsyncSession, membership: TradingAccountMembership) -> None:
    db.add(membership)
    await db.flush()


async def delete_membership(db: AsyncSession, account_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    result = await db.execute(
        delete(TradingAccountMembership).where(
            TradingAccountMembership.account_id == account_id,
            TradingAccountMembership.user_id == user_id,
        )
    )
    return bool(getattr(result, "rowcount", 0))


async def owned_account_ids(db: AsyncSession, owner_user_id: uuid.UUID) -> list[uuid.UUID]:
    result = await db.execute(
        select(TradingAccount.id)
        .where(TradingAccount.owner_user_id == owner_user_id)
        .order_by(TradingAccount.created_at, TradingAccount.id)
    )
    return list(result.scalars())


async def member_ids_of_accounts(db: AsyncSession, account_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    if not account_ids:
        return []
    result = await db.execute(
        select(TradingAccountMembership.user_id)
        .where(TradingAccountMembership.account_id.in_(account_ids))
        .distinct()
    )
    return list(result.scalars())
