"""Email verification: a single-use link mailed at registration and on request (docs/api.md §3).

The token is 256 random bits stored as a SHA-256 digest, bound to the address it was sent to
(a link for an old address never verifies a new one), valid ``EMAIL_VERIFICATION_TTL_HOURS``
and replaced by any newer one. ``email_verified`` in ``/v1/users/me`` and in the access token
reads ``User.email_verified_at``; an unverified user may sign in but not link a trading
account.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from user_service import one_time_tokens
from user_service.audit import service as audit
from user_service.audit.service import RequestContext
from user_service.db import utcnow
from user_service.events.outbox import emit_user_event
from user_service.exceptions import BadRequest, Conflict, RateLimited
from user_service.kit import crypto
from user_service.mail import messages
from user_service.models import User
from user_service.state import AppServices
from user_service.users import repository as users_repository
from user_service.verification import repository

ALREADY_VERIFIED = "email_already_verified"


def _token_invalid(reason: str = one_time_tokens.TOKEN_INVALID) -> BadRequest:
    """400 ``verification_token_invalid``; ``reason`` says why, so the page opened from the
    link can say "already verified", "replaced by a newer e-mail" or "expired"."""
    return BadRequest(
        "This verification link is invalid or has expired. Ask for a new one.",
        code="verification_token_invalid",
        extra={"reason": reason},
    )


async def send_verification_email(db: AsyncSession, services: AppServices, user: User) -> None:
    """Issue a fresh link (earlier ones stop working) and mail it after commit."""
    settings = services.settings
    now = utcnow()
    ttl = dt.timedelta(hours=settings.email_verification_ttl_hours)
    raw = crypto.new_token(crypto.EMAIL_VERIFY_PREFIX)
    await repository.invalidate_tokens(db, user.id, now=now)
    await repository.add_token(
        db, user.id, crypto.hash_token(raw), now=now, expires_at=now + ttl, email=user.email
    )
    services.mail.notify(
        db,
        user,
        messages.email_verification,
        token=raw,
        valid_for=ttl,
    )


async def resend(
    db: AsyncSession, services: AppServices, user: User, context: RequestContext
) -> None:
    if user.email_verified:
        raise Conflict("Your email address is already verified.", code="email_already_verified")
    limit = await services.rate_limiter.hit(
        services.settings.rate_limit_email_resend, f"email-resend:{user.id}"
    )
    if not limit.allowed:
        raise RateLimited(limit.retry_after, "Too many verification emails. Try again later.")
    await send_verification_email(db, services, user)
    await audit.record(db, "email.verification_sent", context=context, user_id=user.id)


async def verify_email(
    db: AsyncSession, services: AppServices, token: str, context: RequestContext
) -> User:
    if not crypto.looks_like(token, crypto.EMAIL_VERIFY_PREFIX):
        raise _token_invalid()
    row = await repository.token_by_hash(db, crypto.hash_token(token))
    now = utcnow()
    if row is None:
        raise _token_invalid()
    user = await users_repository.get_by_id(db, row.user_id)
    if user is None:
        raise _token_invalid()
    reason = await repository.why_token_unusable(db, row, now=now)
    if reason is not None or user.email != row.email:
        # An address verified since (by this link or a newer one) is what the person wants
        # to know; otherwise which of used, replaced (also: the address changed), expired.
        if user.email_verified_at is not None and user.email == row.email:
            raise _token_invalid(ALREADY_VERIFIED)
        raise _token_invalid(reason or one_time_tokens.TOKEN_REPLACED)
    if not await repository.claim_token(db, row.id, now=now):
        raise _token_invalid()
    if user.email_verified_at is None:
        user.email_verified_at = now
        await db.flush()
        emit_user_event(db, "user.email_verified", user.id, email=user.email)
        await audit.record(db, "email.verified", context=context, user_id=user.id)
    return user
