"""Guessing budgets: every check of a password or a second-factor code draws on one per-user
window (OWASP ASVS V2.2.1), counted *before* the expensive check.

* ``password_attempt`` — login, password change, deactivation, TOTP disable by password,
  freeze: ``RATE_LIMIT_LOGIN_ACCOUNT`` per user (per normalised e-mail when no account has
  it, so unknown and known addresses are limited alike).
* ``code_attempt`` — the MFA login step, step-up, TOTP enable/disable, backup-code
  regeneration: ``RATE_LIMIT_MFA_VERIFY`` per user.

The attempt is recorded atomically before bcrypt or the TOTP check runs, so N parallel
guesses get at most the limit; a caller whose check succeeded gives its attempt back
(``succeeded``), so only failures fill the window. Refused attempts raise 429 before any
secret is looked at.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from user_service.audit import service as audit
from user_service.audit.service import RequestContext
from user_service.exceptions import BadRequest, RateLimited
from user_service.kit.ratelimit import Attempt
from user_service.models import User
from user_service.state import AppServices


def password_key(user_id: uuid.UUID | None, email: str | None = None) -> str:
    return f"password:{user_id}" if user_id is not None else f"login-account:{email}"


async def password_attempt(
    services: AppServices,
    user_id: uuid.UUID | None,
    *,
    email: str | None = None,
    message: str = "Too many wrong passwords. Try again later.",
) -> Attempt:
    attempt = await services.rate_limiter.acquire(
        services.settings.rate_limit_login_account, password_key(user_id, email)
    )
    if not attempt.allowed:
        raise RateLimited(attempt.retry_after, message)
    return attempt


async def code_attempt(services: AppServices, user_id: uuid.UUID) -> Attempt:
    attempt = await services.rate_limiter.acquire(
        services.settings.rate_limit_mfa_verify, f"mfa-code:{user_id}"
    )
    if not attempt.allowed:
        raise RateLimited(attempt.retry_after, "Too many verification attempts. Try again later.")
    return attempt


async def succeeded(services: AppServices, attempt: Attempt) -> None:
    """The secret was right: this attempt does not count against the user."""
    await services.rate_limiter.refund(attempt)


async def confirm_password(
    db: AsyncSession,
    services: AppServices,
    user: User,
    password: str,
    context: RequestContext,
    *,
    failed_event: str,
    risk_score: int = 50,
    **details: object,
) -> Attempt:
    """The signed-in user's password, asked again before a sensitive action (freeze, factor
    changes, a password change, deactivation): drawn on the password budget before bcrypt;
    a wrong one is audited as ``failed_event`` and answers 400 ``invalid_password`` (a 401
    would make the console refresh and sign the user out). The caller gives the attempt back
    with ``succeeded`` once the whole action succeeded."""
    attempt = await password_attempt(services, user.id)
    if not await services.hasher.verify(password, user.password_hash):
        await audit.record(
            db,
            failed_event,
            context=context,
            user_id=user.id,
            risk_score=risk_score,
            details={**details, "method": "password"},
        )
        raise BadRequest("The password is not correct.", code="invalid_password", commit=True)
    return attempt
