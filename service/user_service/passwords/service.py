"""Password change and reset (docs/api.md §3 authentication rows, §5; ASVS V2.1, V2.5).

* **Change** needs the current password (a stolen access token alone cannot take the account
  over), applies the policy, keeps the current session and revokes every other one.
* **Reset** is two steps. ``reset-request`` answers 202 with one body whether or not the
  address has an account, does the same database work for both (a rate-limit hit and an audit
  row) and never answers sooner than ``PASSWORD_RESET_MIN_RESPONSE_SECONDS``, so neither the
  body nor the timing tells who is registered (ASVS V2.5.x, no enumeration). The mail goes out
  after commit, in the background. The token is 256 random bits stored as a SHA-256 digest,
  lives ``PASSWORD_RESET_TTL_MINUTES``, is spent by one conditional UPDATE, and dies when a
  newer one is requested or the password changes. ``reset`` revokes every session and leaves
  MFA on: a mailbox alone must not be enough to strip the second factor.

Both flows end half-finished MFA logins started with the old password.
"""

from __future__ import annotations

import datetime as dt

import anyio
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from user_service import one_time_tokens
from user_service.audit import service as audit
from user_service.audit.service import RequestContext
from user_service.auth import guessing, password_policy
from user_service.auth.dependencies import SignedInUser
from user_service.db import utcnow
from user_service.events.outbox import emit_user_event
from user_service.exceptions import BadRequest, RateLimited, ValidationFailed
from user_service.kit import crypto
from user_service.kit.passwords import normalise_password
from user_service.mail import messages
from user_service.mfa import repository as mfa_repository
from user_service.models import PasswordResetToken, User, UserStatus
from user_service.passwords import repository
from user_service.sessions import service as sessions
from user_service.state import AppServices
from user_service.users import repository as users_repository

log = structlog.get_logger(__name__)


def _reset_token_invalid(reason: str = one_time_tokens.TOKEN_INVALID) -> BadRequest:
    """400 ``reset_token_invalid``; ``reason`` says which of used, replaced, expired."""
    return BadRequest(
        "This password reset link is invalid or has expired. Ask for a new one.",
        code="reset_token_invalid",
        extra={"reason": reason},
    )


async def _apply_new_password(
    db: AsyncSession, user: User, password_hash: str, now: dt.datetime
) -> None:
    user.password_hash = password_hash
    user.password_changed_at = now
    await db.flush()
    await repository.invalidate_reset_tokens(db, user.id, now=now)
    await mfa_repository.end_pending_challenges(db, user.id, now=now)


def _notify_changed(
    db: AsyncSession, services: AppServices, user: User, context: RequestContext, now: dt.datetime
) -> None:
    services.mail.notify(
        db,
        user,
        messages.password_changed,
        when=now,
        ip=context.ip_masked,
    )


# --- change ---------------------------------------------------------------------------------


async def change_password(
    db: AsyncSession,
    services: AppServices,
    auth: SignedInUser,
    current_password: str,
    new_password: str,
    context: RequestContext,
) -> int:
    """Set a new password; returns how many other sessions were signed out."""
    user = auth.user
    attempt = await guessing.confirm_password(
        db,
        services,
        user,
        current_password,
        context,
        failed_event="password.change_failed",
        reason="invalid_password",
    )
    await guessing.succeeded(services, attempt)
    password_policy.enforce(
        new_password, services.password_rules, (user.email, user.name), field="new_password"
    )
    if normalise_password(new_password) == normalise_password(current_password):
        raise ValidationFailed(
            "The new password must differ from the current one.",
            code="weak_password",
            extra={
                "errors": [
                    {
                        "field": "new_password",
                        "code": "same_as_current",
                        "message": "Choose a password you have not been using.",
                    }
                ]
            },
        )
    password_hash = await services.hasher.hash(new_password)
    now = utcnow()
    await _apply_new_password(db, user, password_hash, now)
    revoked = await sessions.revoke_user_sessions(
        db, user.id, reason="password_changed", keep=auth.session.id
    )
    emit_user_event(db, "user.password_changed", user.id, sessions_revoked=revoked)
    _notify_changed(db, services, user, context, now)
    await audit.record(
        db,
        "password.changed",
        context=context,
        user_id=user.id,
        details={"session_id": str(auth.session.id), "sessions_revoked": revoked},
    )
    return revoked


# --- reset ----------------------------------------------------------------------------------


async def request_reset(
    db: AsyncSession, services: AppServices, email: str, context: RequestContext
) -> None:
    """Mail a reset link to a known active account; look identical for any other address.

    Per-IP abuse is answered 429 (it says nothing about the address). The per-address limit
    is silent — still 202, no mail — so it cannot be used to probe accounts either.
    """
    settings = services.settings
    started = anyio.current_time()
    ip_limit = await services.rate_limiter.hit(
        settings.rate_limit_password_reset_ip, f"reset-ip:{context.ip}"
    )
    if not ip_limit.allowed:
        raise RateLimited(ip_limit.retry_after)
    email_limit = await services.rate_limiter.hit(
        settings.rate_limit_password_reset, f"reset-email:{email}"
    )
    user = await users_repository.get_by_email(db, email)
    outcome = "unknown_account"
    if user is not None and user.status != UserStatus.ACTIVE:
        outcome = "account_inactive"
    elif user is not None and not email_limit.allowed:
        outcome = "rate_limited"
    elif user is not None:
        now = utcnow()
        raw = crypto.new_token(crypto.PASSWORD_RESET_PREFIX)
        ttl = dt.timedelta(minutes=settings.password_reset_ttl_minutes)
        await repository.invalidate_reset_tokens(db, user.id, now=now)
        await repository.add_reset_token(
            db, user.id, crypto.hash_token(raw), now=now, expires_at=now + ttl
        )
        services.mail.notify(
            db,
            user,
            messages.password_reset,
            token=raw,
            valid_for=ttl,
        )
        outcome = "sent"
    if outcome != "sent":
        log.info("password_reset.not_sent", reason=outcome)
    await audit.record(
        db,
        "password.reset_requested",
        context=context,
        user_id=user.id if user else None,
        actor="anonymous",
        risk_score=10 if outcome == "sent" else 20,
        details={"outcome": outcome},
    )
    # Equalise timing: the known-account path does a little more work before the commit.
    remaining = settings.password_reset_min_response_seconds - (anyio.current_time() - started)
    if remaining > 0:
        await anyio.sleep(remaining)


async def _usable_reset_token(db: AsyncSession, token: str) -> tuple[PasswordResetToken, User]:
    """The token's row and user when the link may set a password now; else 400 with a reason."""
    if not crypto.looks_like(token, crypto.PASSWORD_RESET_PREFIX):
        raise _reset_token_invalid()
    row = await repository.reset_token_by_hash(db, crypto.hash_token(token))
    if row is None:
        raise _reset_token_invalid()
    reason = await repository.why_reset_token_unusable(db, row, now=utcnow())
    if reason is not None:
        raise _reset_token_invalid(reason)
    user = await users_repository.get_by_id(db, row.user_id)
    if (
        user is None
        or user.status != UserStatus.ACTIVE
        or row.created_at < user.password_changed_at
    ):
        raise _reset_token_invalid()
    return row, user


async def check_reset_token(
    db: AsyncSession, services: AppServices, token: str, context: RequestContext
) -> None:
    """Tell the reset page, before it shows a form, whether the link still works.

    Spends nothing and writes nothing; limited per IP like the reset itself, so it is no
    faster an oracle than submitting the form (and the 256-bit token is the secret anyway).
    """
    limit = await services.rate_limiter.hit(
        services.settings.rate_limit_password_reset_ip, f"reset-check-ip:{context.ip}"
    )
    if not limit.allowed:
        raise RateLimited(limit.retry_after)
    await _usable_reset_token(db, token)


async def reset_password(
    db: AsyncSession,
    services: AppServices,
    token: str,
    new_password: str,
    context: RequestContext,
) -> int:
    """Set the password from a reset link; returns how many sessions were signed out."""
    settings = services.settings
    limit = await services.rate_limiter.hit(
        settings.rate_limit_password_reset_ip, f"reset-submit-ip:{context.ip}"
    )
    if not limit.allowed:
        raise RateLimited(limit.retry_after)
    row, user = await _usable_reset_token(db, token)
    # The policy is checked before the token is spent: a weak choice does not burn the link.
    password_policy.enforce(
        new_password, services.password_rules, (user.email, user.name), field="new_password"
    )
    password_hash = await services.hasher.hash(new_password)
    now = utcnow()
    if not await repository.claim_reset_token(db, row.id, now=now):
        raise _reset_token_invalid()
    await _apply_new_password(db, user, password_hash, now)
    revoked = await sessions.revoke_user_sessions(db, user.id, reason="password_reset")
    emit_user_event(db, "user.password_reset", user.id, sessions_revoked=revoked)
    _notify_changed(db, services, user, context, now)
    await audit.record(
        db,
        "password.reset",
        context=context,
        user_id=user.id,
        risk_score=30,
        details={"sessions_revoked": revoked},
    )
    return revoked
