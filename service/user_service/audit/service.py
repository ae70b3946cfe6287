"""Writing and reading the audit log. Only this module appends to ``auth_events``."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from user_service.audit import chain, repository
from user_service.db import utcnow
from user_service.exceptions import BadRequest
from user_service.kit.ip import mask_ip
from user_service.kit.pagination import MAX_LIMIT, decode_cursor, encode_cursor
from user_service.kit.validation import cursor_int
from user_service.models import AuditChainAnchor, AuthEvent

PRUNED_EVENT = "audit.pruned"


@dataclass(frozen=True)
class RequestContext:
    """Who is calling from where; built once per request by a dependency."""

    ip: str | None = None
    user_agent: str | None = None
    device_fingerprint: str | None = None

    @property
    def ip_masked(self) -> str | None:
        return mask_ip(self.ip)


async def record(
    session: AsyncSession,
    event_type: str,
    *,
    context: RequestContext | None = None,
    user_id: uuid.UUID | None = None,
    actor: str | None = None,
    risk_score: int = 0,
    details: dict[str, Any] | None = None,
) -> AuthEvent:
    """Append one record to the chain, in the caller's transaction."""
    context = context or RequestContext()
    actor = actor or (f"user:{user_id}" if user_id else "anonymous")
    details = details or {}
    user_agent = (context.user_agent or "")[:512] or None
    await repository.lock_chain(session)
    # Stamped under the lock, so time follows chain (id) order: retention cuts the chain by
    # time and must remove a prefix of it.
    occurred_at = utcnow()
    prev_hash, next_id = await repository.chain_head(session, occurred_at)
    prev_hash = prev_hash or chain.GENESIS
    record_bytes = chain.canonical_record(
        occurred_at=occurred_at,
        event_type=event_type,
        user_id=user_id,
        actor=actor,
        ip_masked=context.ip_masked,
        user_agent=user_agent,
        risk_score=risk_score,
        details=details,
    )
    event = AuthEvent(
        occurred_at=occurred_at,
        event_type=event_type,
        user_id=user_id,
        actor=actor,
        ip_masked=context.ip_masked,
        user_agent=user_agent,
        risk_score=risk_score,
        details=details,
        prev_hash=prev_hash,
        hash=chain.chain_hash(prev_hash, record_bytes),
    )
    if next_id is not None and session.get_bind().dialect.name == "sqlite":
        event.id = next_id  # PostgreSQL's sequence never goes back; SQLite's rowid would
    session.add(event)
    await session.flush()
    return event


@dataclass(frozen=True)
class ChainReport:
    checked: int
    first_broken_id: int | None
    problem: str | None
    anchor: AuditChainAnchor | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


async def verify_chain(session: AsyncSession) -> ChainReport:
    """Recompute the chain. After retention it starts at the newest anchor (the hash of the
    last removed record), and that anchor must be confirmed by an ``audit.pruned`` record
    inside the verified chain, so a forged anchor cannot hide a cut."""
    anchor = await repository.latest_anchor(session)
    expected_prev = anchor.last_hash if anchor else chain.GENESIS
    confirmed = anchor is None
    checked = 0
    async for event in repository.iterate_chain(session, after=anchor.last_id if anchor else 0):
        if event.prev_hash != expected_prev:
            return ChainReport(
                checked, event.id, "prev_hash does not match the previous record", anchor
            )
        recomputed = chain.chain_hash(
            event.prev_hash,
            chain.canonical_record(
                occurred_at=event.occurred_at,
                event_type=event.event_type,
                user_id=event.user_id,
                actor=event.actor,
                ip_masked=event.ip_masked,
                user_agent=event.user_agent,
                risk_score=event.risk_score,
                details=event.details,
            ),
        )
        if recomputed != event.hash:
            return ChainReport(checked, event.id, "record content does not match its hash", anchor)
        if anchor is not None and event.event_type == PRUNED_EVENT:
            confirmed = confirmed or (
                event.details.get("last_id") == anchor.last_id
                and event.details.get("last_hash") == anchor.last_hash
            )
        expected_prev = event.hash
        checked += 1
    if not confirmed:
        assert anchor is not None
        problem = f"no {PRUNED_EVENT} record in the chain confirms anchor {anchor.id}"
        return ChainReport(checked, None, problem, anchor)
    return ChainReport(checked, None, None, anchor)


async def page_events(
    session: AsyncSession,
    *,
    user_id: uuid.UUID | None,
    event_type: str | Sequence[str] | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[AuthEvent], str | None]:
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}.", code="invalid_limit")
    position = decode_cursor(cursor)
    before_id = cursor_int(position, "before_id") if position else None
    rows = await repository.list_events(
        session,
        repository.query_events(
            user_id=user_id,
            event_type=event_type,
            since=since,
            until=until,
            before_id=before_id,
            limit=limit + 1,
        ),
    )
    next_cursor = encode_cursor({"before_id": rows[limit - 1].id}) if len(rows) > limit else None
    return rows[:limit], next_cursor
