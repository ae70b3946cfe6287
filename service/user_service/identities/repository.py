"""All SQL of linked identities and OIDC flows."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from user_service.models import ExternalIdentity, OidcFlow


async def identity_by_subject(
    db: AsyncSession, provider: str, subject: str
) -> ExternalIdentity | None:
    result = await db.execute(
        select(ExternalIdentity).where(
            ExternalIdentity.provider == provider, ExternalIdentity.subject == subject
        )
    )
    return result.scalar_one_or_none()


async def identities_of(db: AsyncSession, user_id: uuid.UUID) -> list[ExternalIdentity]:
    result = await db.execute(
        select(ExternalIdentity)
        .where(ExternalIdentity.user_id == user_id)
        .order_by(ExternalIdentity.created_at, ExternalIdentity.id)
    )
    return list(result.scalars())


async def count_identities(db: AsyncSession, user_id: uuid.UUID) -> int:
    result = await db.execute(
        select(func.count())
        .select_from(ExternalIdentity)
        .where(ExternalIdentity.user_id == user_id)
    )
    return int(result.scalar_one())


async def delete_identity(db: AsyncSession, identity_id: uuid.UUID) -> bool:
    result = await db.execute(delete(ExternalIdentity).where(ExternalIdentity.id == identity_id))
    return cast(CursorResult[Any], result).rowcount == 1


async def flow_by_state(db: AsyncSession, state_hash: str) -> OidcFlow | None:
    result = await db.execute(select(OidcFlow).where(OidcFlow.state_hash == state_hash))
    return result.scalar_one_or_none()


async def flow_by_link_token(db: AsyncSession, token_hash: str) -> OidcFlow | None:
    result = await db.execute(
        select(OidcFlow)
        .where(OidcFlow.link_token_hash == token_hash)
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def consume_flow(db: AsyncSession, flow_id: uuid.UUID, *, now: dt.datetime) -> bool:
    """Spend the state once: of two callbacks with one state, exactly one wins."""
    result = await db.execute(
        update(OidcFlow)
        .where(OidcFlow.id == flow_id, OidcFlow.consumed_at.is_(None), OidcFlow.expires_at > now)
        .values(consumed_at=now)
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount == 1


async def claim_link(
    db: AsyncSession, flow_id: uuid.UUID, *, now: dt.datetime, max_attempts: int
) -> bool:
    """Spend a pending link once (and only while it is alive)."""
    result = await db.execute(
        update(OidcFlow)
        .where(
            OidcFlow.id == flow_id,
            OidcFlow.linked_at.is_(None),
            OidcFlow.link_expires_at > now,
            OidcFlow.link_failed_attempts < max_attempts,
        )
        .values(linked_at=now)
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount == 1


async def count_link_failure(db: AsyncSession, flow_id: uuid.UUID) -> None:
    await db.execute(
        update(OidcFlow)
        .where(OidcFlow.id == flow_id)
        .values(link_failed_attempts=OidcFlow.link_failed_attempts + 1)
        .execution_options(synchronize_session=False)
    )


async def delete_expired_flows(db: AsyncSession, *, before: dt.datetime) -> None:
    """Flows are short-lived; each start sweeps those that ended a while ago."""
    await db.execute(
        delete(OidcFlow)
        .where(OidcFlow.expires_at < before)
        .where((OidcFlow.link_expires_at.is_(None)) | (OidcFlow.link_expires_at < before))
        .execution_options(synchronize_session=False)
    )
