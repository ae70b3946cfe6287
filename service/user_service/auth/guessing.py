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

from user_service.exceptions import RateLimited
from user_service.kit.ratelimit import Attempt
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
