"""Writing and reading the audit log. Only this module appends to ``auth_events``."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

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
    """Queue one record for the chain; this session's commit appends it (``_link_pending``),
    in the same transaction as the change it records, and a rollback drops it."""
    context = context or RequestContext()
    event = AuthEvent(
        event_type=event_type,
        user_id=user_id,
        actor=actor or (f"user:{user_id}" if user_id else "anonymous"),
        ip_masked=context.ip_masked,
        user_agent=(context.user_agent or "")[:512] or None,
        risk_score=risk_score,
        details=details or {},
    )
    session.info.setdefault(_PENDING, []).append(event)
    return event


_PENDING = "audit_pending"


# ``insert=True``: this runs before every other ``before_commit`` listener (the outbox's), so
# every transaction takes the chain lock before the outbox lock, never the other way round.
@sa_event.listens_for(Session, "before_commit", insert=True)
def _link_pending(session: Session) -> None:
    """Append the queued records to the chain, as late as the transaction allows.

    Everything else is flushed first (its row locks are taken before the chain lock, so the
    lock cannot be part of a deadlock), then the chain lock is taken, and from here to COMMIT
    only the head read and the inserts remain: the lock is held for a few statements instead
    of for the rest of the request (signing a token, other queries) as when it was taken in
    ``record`` (docs/decisions.md, "The audit chain is linked at commit").
    """
    pending: list[AuthEvent] | None = session.info.pop(_PENDING, None)
    if not pending:
        return
    session.flush()
    repository.lock_chain_sync(session)
    # Stamped under the lock, so time follows chain (id) order: retention cuts the chain by
    # time and must remove a prefix of it.
    prev_hash, next_id = repository.chain_head_sync(session, utcnow())
    prev_hash = prev_hash or chain.GENESIS
    sqlite = session.get_bind().dialect.name == "sqlite"
    for event in pending:
        event.occurred_at = utcnow()
        event.prev_hash = prev_hash
        event.hash = prev_hash = chain.chain_hash(prev_hash, _canonical(event))
        if next_id is not None and sqlite:
            event.id = next_id  # PostgreSQL's sequence never goes back; SQLite's rowid would
            next_id += 1
        session.add(event)
        session.flush()  # one at a time: ids (chain order) follow the order of the records


@sa_event.listens_for(Session, "after_transaction_end")
def _drop_pending(session: Session, transaction: SessionTransaction) -> None:
    """A transaction that ended without committing (rollback, close) takes its records along."""
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


def _canonical(event: AuthEvent) -> bytes:
    return chain.canonical_record(
        occurred_at=event.occurred_at,
        event_type=event.event_type,
        user_id=event.user_id,
        actor=event.actor,
        ip_masked=event.ip_masked,
        user_agent=event.user_agent,
        risk_score=event.risk_score,
        details=event.details,
    )


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
        recomputed = chain.chain_hash(event.prev_hash, _canonical(event))
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
