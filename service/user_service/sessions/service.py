"""Sessions and refresh tokens: start, rotate with reuse detection, revoke (docs/api.md §4).

Refresh tokens form a chain per session. Presenting the current link rotates it (exactly
once, by an atomic conditional UPDATE). Presenting the immediate predecessor within
``REFRESH_REUSE_GRACE_SECONDS`` of its rotation — a concurrent retry — returns the very same
successor (decrypted from ``successor_sealed`` with a key only that token derives), never a
second lineage. Anything older is reuse: the whole session is revoked, audited
(``refresh.reuse_detected``) and announced (``session.revoked``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

from sqlalchemy.ext.asyncio import AsyncSession

from user_service.audit import service as audit
from user_service.audit.service import RequestContext
from user_service.db import utcnow
from user_service.events.outbox import emit_user_event
from user_service.exceptions import NotFound, RateLimited, Unauthorized
from user_service.kit import crypto
from user_service.models import RefreshToken, User, UserSession, UserStatus
from user_service.sessions import repository
from user_service.sessions.devices import describe_device
from user_service.state import AppServices
from user_service.tokens.access_tokens import IssuedToken
from user_service.users import repository as users_repository

if TYPE_CHECKING:
    from user_service.risk.service import Assessment

_SUCCESSOR_PURPOSE = b"quantagro/refresh-successor/v1"


@dataclass(frozen=True)
class SessionGrant:
    """What a successful login, MFA step, refresh or step-up hands back to the client."""

    user: User
    session: UserSession
    access: IssuedToken
    refresh_token: str | None


def _refresh_expiry(services: AppServices, session: UserSession, now: dt.datetime) -> dt.datetime:
    idle = now + dt.timedelta(days=services.settings.session_idle_days)
    return min(idle, session.expires_at)


def _new_refresh_token(
    services: AppServices, session: UserSession, now: dt.datetime
) -> tuple[RefreshToken, str]:
    raw = crypto.new_token(crypto.REFRESH_TOKEN_PREFIX)
    row = RefreshToken(
        id=uuid.uuid4(),
        session_id=session.id,
        token_hash=crypto.hash_token(raw),
        created_at=now,
        expires_at=_refresh_expiry(services, session, now),
    )
    return row, raw


async def mint_access_token(
    db: AsyncSession, services: AppServices, user: User, session: UserSession
) -> IssuedToken:
    return await services.tokens.issue_user_token(
        user_id=user.id,
        session_id=session.id,
        email=user.email,
        email_verified=user.email_verified,
        roles=await users_repository.role_names(db, user.id),
        trading_accounts=await users_repository.trading_account_ids(db, user.id),
        mfa=session.mfa_verified_at is not None,
        auth_time=session.auth_time,
        mfa_at=session.mfa_verified_at,
        now=utcnow(),
    )


async def start_session(
    db: AsyncSession,
    services: AppServices,
    user: User,
    context: RequestContext,
    *,
    persist: bool,
    amr: list[str],
    mfa_verified: bool,
    risk: Assessment | None = None,
) -> SessionGrant:
    now = utcnow()
    session = UserSession(
        id=uuid.uuid4(),
        user_id=user.id,
        created_at=now,
        last_active_at=now,
        expires_at=now + dt.timedelta(days=services.settings.session_max_age_days),
        auth_time=now,
        amr=amr,
        mfa_verified_at=now if mfa_verified else None,
        persistent=persist,
        ip=context.ip,
        user_agent=(context.user_agent or "")[:512] or None,
        device=describe_device(context.user_agent),
        device_fingerprint=(context.device_fingerprint or "")[:128] or None,
        country=risk.country if risk else None,
        risk_score=risk.score if risk else 0,
        risk_reasons=list(risk.reasons) if risk else [],
    )
    db.add(session)
    await db.flush()  # no ORM relationship orders the inserts: the session row goes first
    token_row, raw = _new_refresh_token(services, session, now)
    db.add(token_row)
    await db.flush()
    emit_user_event(db, "session.created", user.id, session_id=str(session.id), amr=amr)
    access = await mint_access_token(db, services, user, session)
    return SessionGrant(user, session, access, raw)


async def _load_active_session(db: AsyncSession, session_id: uuid.UUID) -> tuple[UserSession, User]:
    found = await repository.session_with_user(db, session_id)
    if found is None or found[0].revoked_at is not None:
        raise Unauthorized("This session has been signed out.", code="session_revoked")
    session, user = found
    if session.expires_at <= utcnow():
        raise Unauthorized("This session has expired. Sign in again.", code="session_expired")
    if user.status != UserStatus.ACTIVE:
        raise Unauthorized("This account cannot sign in.", code="account_inactive")
    return session, user


async def rotate_refresh_token(
    db: AsyncSession, services: AppServices, raw: str, context: RequestContext
) -> SessionGrant:
    if not crypto.looks_like(raw, crypto.REFRESH_TOKEN_PREFIX):
        raise Unauthorized("The refresh token is not valid.", code="invalid_refresh_token")
    token = await repository.refresh_token_by_hash(db, crypto.hash_token(raw))
    if token is None:
        raise Unauthorized("The refresh token is not valid.", code="invalid_refresh_token")

    limit = await services.rate_limiter.hit(
        services.settings.rate_limit_refresh_session, f"refresh:{token.session_id}"
    )
    if not limit.allowed:
        raise RateLimited(limit.retry_after)

    session, user = await _load_active_session(db, token.session_id)
    now = utcnow()

    if token.rotated_at is None:
        if token.expires_at <= now:
            raise Unauthorized("The refresh token has expired.", code="refresh_token_expired")
        successor, successor_raw = _new_refresh_token(services, session, now)
        sealed = crypto.seal_with_token(raw, successor_raw, _SUCCESSOR_PURPOSE)
        if await repository.claim_rotation(
            db, token.id, now=now, successor_id=successor.id, successor_sealed=sealed
        ):
            db.add(successor)
            session.last_active_at = now
            await db.flush()
            await audit.record(
                db,
                "token.refreshed",
                context=context,
                user_id=user.id,
                details={"session_id": str(session.id)},
            )
            access = await mint_access_token(db, services, user, session)
            return SessionGrant(user, session, access, successor_raw)
        # Lost the race: another request rotated this token first. Re-read its outcome.
        token = await repository.get_refresh_token(db, token.id)
        assert token is not None and token.rotated_at is not None

    return await _grace_or_reuse(db, services, raw, token, session, user, context, now)


def _successor_still_current(
    services: AppServices, token: RefreshToken, successor: RefreshToken | None, now: dt.datetime
) -> bool:
    """The grace window: only the immediate predecessor, only for a few seconds, and only
    while its successor has not itself been rotated (docs/api.md §4)."""
    grace = dt.timedelta(seconds=services.settings.refresh_reuse_grace_seconds)
    return (
        token.rotated_at is not None
        and now - token.rotated_at <= grace
        and successor is not None
        and successor.rotated_at is None
    )


async def _grace_or_reuse(
    db: AsyncSession,
    services: AppServices,
    raw: str,
    token: RefreshToken,
    session: UserSession,
    user: User,
    context: RequestContext,
    now: dt.datetime,
) -> SessionGrant:
    if token.successor_id and token.successor_sealed:
        successor = await repository.get_refresh_token(db, token.successor_id)
        successor_raw = crypto.open_with_token(raw, token.successor_sealed, _SUCCESSOR_PURPOSE)
        same_client = session.user_agent in (None, (context.user_agent or "")[:512] or None)
        if (
            _successor_still_current(services, token, successor, now)
            and successor_raw
            and same_client
        ):
            access = await mint_access_token(db, services, user, session)
            # A retry answered from the window is a refresh too: audited, marked as such.
            await audit.record(
                db,
                "token.refreshed",
                context=context,
                user_id=user.id,
                details={"session_id": str(session.id), "grace": True},
            )
            return SessionGrant(user, session, access, successor_raw)
    await _reuse_detected(db, user.id, session.id, context, now)


async def _reuse_detected(
    db: AsyncSession,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    context: RequestContext,
    now: dt.datetime,
) -> NoReturn:
    """A rotated refresh token came back: sign its session out and say so (docs/api.md §4)."""
    revoked = await repository.revoke_sessions(
        db, user_id, now=now, reason="refresh_token_reuse", only=session_id
    )
    await audit.record(
        db,
        "refresh.reuse_detected",
        context=context,
        user_id=user_id,
        risk_score=90,
        details={"session_id": str(session_id)},
    )
    for revoked_id in revoked:
        _emit_revoked(db, user_id, revoked_id, "refresh_token_reuse")
    raise Unauthorized(
        "This refresh token was already used; the session has been signed out for safety.",
        code="token_reused",
        commit=True,
    )


def _emit_revoked(db: AsyncSession, user_id: uuid.UUID, session_id: uuid.UUID, reason: str) -> None:
    emit_user_event(db, "session.revoked", user_id, session_id=str(session_id), reason=reason)


async def revoke_user_sessions(
    db: AsyncSession,
    user_id: uuid.UUID,
    *,
    reason: str,
    keep: uuid.UUID | None = None,
    only: uuid.UUID | None = None,
) -> int:
    """Revoke sessions (and with them their refresh tokens); returns how many."""
    revoked = await repository.revoke_sessions(
        db, user_id, now=utcnow(), reason=reason, keep=keep, only=only
    )
    for session_id in revoked:
        _emit_revoked(db, user_id, session_id, reason)
    return len(revoked)


async def revoke_own_session(db: AsyncSession, user_id: uuid.UUID, session_id: uuid.UUID) -> None:
    session = await repository.get_session(db, session_id)
    if session is None or session.user_id != user_id or session.revoked_at is not None:
        raise NotFound("No such active session.", code="session_not_found")
    await revoke_user_sessions(db, user_id, reason="revoked_by_user", only=session_id)


async def live_session(db: AsyncSession, session_id: uuid.UUID) -> UserSession | None:
    """The session if it can still act (not revoked, not expired, its user active)."""
    try:
        session, _ = await _load_active_session(db, session_id)
    except Unauthorized:
        return None
    return session


async def session_for_logout(
    db: AsyncSession, services: AppServices, raw: str | None, context: RequestContext
) -> UserSession | None:
    """The live session a *current* refresh token belongs to (logout with only a cookie).

    A dead credential signs nobody out: an unknown or expired token, a revoked session. A
    rotated token is reuse, as at ``/refresh`` (its session is revoked, 401 ``token_reused``),
    except inside the grace window, where its holder still counts as the current one.
    """
    if not crypto.looks_like(raw, crypto.REFRESH_TOKEN_PREFIX):
        return None
    assert raw is not None
    token = await repository.refresh_token_by_hash(db, crypto.hash_token(raw))
    if token is None:
        return None
    session = await live_session(db, token.session_id)
    if session is None:
        return None
    now = utcnow()
    if token.rotated_at is None:
        return session if token.expires_at > now else None
    successor = (
        await repository.get_refresh_token(db, token.successor_id) if token.successor_id else None
    )
    if _successor_still_current(services, token, successor, now):
        return session
    await _reuse_detected(db, session.user_id, session.id, context, now)
    return None
