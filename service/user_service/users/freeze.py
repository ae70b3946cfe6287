"""Emergency freeze ("my phone was stolen") and unfreeze (issue 13 part 1; docs/freeze.md).

A freeze is a flag beside the status (``users.frozen_at``), not a status: a frozen user still
signs in, to unfreeze, but nothing happens on their trading accounts. At once, in the
request's transaction: every session is revoked (``session.revoked`` each), ``user.frozen``
is emitted (the SDK closes the user's WebSockets; consumers stop trading on the listed
accounts), the PDP's ``deny-frozen-trading`` policy denies every ``trading_account:*``
action of the user and of anyone on their accounts, credential release answers 409
``account_frozen``, and the user is e-mailed after commit.

Ways in: the user with the password or a second-factor code; a single-use link from a
new-sign-in e-mail (no session needed: the phone may be gone); an admin or compliance officer
with a reason. Ways out: the user with the password **and** a second factor (users without
one: the password, then a link e-mailed to them, opened while signed in), or an admin with a
reason. Every step is audited; wrong secrets draw on the per-user guessing budgets.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from user_service.audit import service as audit
from user_service.audit.service import RequestContext
from user_service.auth import guessing
from user_service.authz.invalidation import invalidate_decisions
from user_service.db import utcnow
from user_service.events.outbox import emit_user_event
from user_service.exceptions import BadRequest, Conflict, Forbidden
from user_service.kit import crypto
from user_service.mail import messages
from user_service.mfa import repository as mfa_repository
from user_service.mfa import service as mfa_service
from user_service.models import AccountActionToken, User
from user_service.one_time_tokens import OneTimeTokens
from user_service.sessions.service import revoke_user_sessions
from user_service.state import AppServices
from user_service.trading_accounts import repository as accounts_repository
from user_service.users import repository

_tokens = OneTimeTokens(AccountActionToken)
FREEZE = "freeze"
UNFREEZE = "unfreeze"


@dataclass(frozen=True)
class FreezeResult:
    frozen: bool
    frozen_at: dt.datetime | None
    sessions_revoked: int = 0
    already: bool = False


# --- secrets ------------------------------------------------------------------------------------


async def _check_password(
    db: AsyncSession,
    services: AppServices,
    user: User,
    password: str,
    context: RequestContext,
    purpose: str,
) -> None:
    attempt = await guessing.confirm_password(
        db, services, user, password, context, failed_event=f"user.{purpose}_failed"
    )
    await guessing.succeeded(services, attempt)


# --- freeze -------------------------------------------------------------------------------------


async def freeze(
    db: AsyncSession,
    services: AppServices,
    user: User,
    context: RequestContext,
    *,
    via: str,
    actor: str | None = None,
    reason: str | None = None,
) -> FreezeResult:
    """Freeze now. Freezing a frozen account again still signs every device out (a thief may
    have signed in since) but keeps the first ``frozen_at``."""
    now = utcnow()
    already = user.frozen_at is not None
    if not already:
        user.frozen_at = now
        user.frozen_reason = reason
        user.frozen_by = actor or f"user:{user.id}"
        await db.flush()
    revoked = await revoke_user_sessions(db, user.id, reason="account_frozen")
    owned = await accounts_repository.owned_account_ids(db, user.id)
    members = await accounts_repository.member_ids_of_accounts(db, owned)
    await audit.record(
        db,
        "user.frozen",
        context=context,
        user_id=user.id,
        actor=actor,
        risk_score=40,
        details={
            "via": via,
            "reason": reason,
            "sessions_revoked": revoked,
            "already_frozen": already,
            "account_ids": [str(a) for a in owned],
        },
    )
    if not already:
        emit_user_event(
            db,
            "user.frozen",
            user.id,
            via=via,
            frozen_at=now.isoformat(),
            # Consumers stop streaming or trading on these, delegates included.
            account_ids=[str(a) for a in owned],
        )
        invalidate_decisions(db, user_ids=[user.id, *members], account_ids=owned)
        _mail_frozen(db, services, user, now, _how(via), revoked)
    return FreezeResult(True, user.frozen_at, revoked, already)


def _how(via: str) -> str:
    return {
        "self": "by you, from your Security page",
        "email_link": "from the link in a sign-in e-mail",
        "admin": "by Quantagro support",
    }.get(via, via)


def _mail_frozen(
    db: AsyncSession, services: AppServices, user: User, when: dt.datetime, how: str, revoked: int
) -> None:
    services.mail.notify(
        db,
        user,
        messages.account_frozen,
        when=when,
        how=how,
        sessions_revoked=revoked,
    )


async def freeze_self(
    db: AsyncSession,
    services: AppServices,
    user: User,
    context: RequestContext,
    *,
    password: str | None,
    code: str | None,
) -> FreezeResult:
    if password is not None:
        await _check_password(db, services, user, password, context, "freeze")
    else:
        assert code is not None
        await mfa_service.prove_second_factor(db, services, user, code, context, "freeze")
    return await freeze(db, services, user, context, via="self")


async def issue_freeze_link(db: AsyncSession, user_id: uuid.UUID) -> str:
    """A single-use token for the "freeze my account" link of a new-sign-in e-mail.

    Put it in ``messages.new_sign_in(freeze_token=...)``. Every sign-in e-mail has its own;
    any unexpired one works (the user may open an older e-mail), each once.
    """
    return await _new_action_token(
        db, user_id, FREEZE, crypto.FREEZE_LINK_PREFIX, messages.FREEZE_LINK_TTL, utcnow()
    )


async def _new_action_token(
    db: AsyncSession,
    user_id: uuid.UUID,
    purpose: str,
    prefix: str,
    ttl: dt.timedelta,
    now: dt.datetime,
) -> str:
    """Store the SHA-256 of a fresh opaque token; the token itself only goes into a link."""
    token = crypto.new_token(prefix)
    await repository.add_action_token(
        db,
        AccountActionToken(
            id=uuid.uuid4(),
            user_id=user_id,
            purpose=purpose,
            token_hash=crypto.hash_token(token),
            created_at=now,
            expires_at=now + ttl,
        ),
    )
    return token


def _link_invalid() -> BadRequest:
    return BadRequest(
        "This freeze link is invalid, was already used or has expired. Sign in and freeze "
        "your account from Security, or reset your password.",
        code="freeze_token_invalid",
    )


async def freeze_by_link(
    db: AsyncSession, services: AppServices, token: str, context: RequestContext
) -> FreezeResult:
    """Freeze from the e-mailed link; needs no session. The token is the credential."""
    if not crypto.looks_like(token, crypto.FREEZE_LINK_PREFIX):
        raise _link_invalid()
    row = await _tokens.by_hash(db, crypto.hash_token(token))
    now = utcnow()
    if row is None or row.purpose != FREEZE or not await _tokens.claim(db, row.id, now=now):
        raise _link_invalid()
    user = await repository.get_by_id(db, row.user_id)
    if user is None:  # pragma: no cover - tokens go with their user (ON DELETE CASCADE)
        raise _link_invalid()
    return await freeze(db, services, user, context, via="email_link", actor="email_link")


# --- unfreeze -----------------------------------------------------------------------------------


def _not_frozen() -> Conflict:
    return Conflict("This account is not frozen.", code="account_not_frozen")


async def unfreeze(
    db: AsyncSession,
    services: AppServices,
    user: User,
    context: RequestContext,
    *,
    via: str,
    actor: str | None = None,
    reason: str | None = None,
    verified_with: list[str] | None = None,
) -> FreezeResult:
    if user.frozen_at is None:
        raise _not_frozen()
    frozen_at, frozen_by = user.frozen_at, user.frozen_by
    user.frozen_at = None
    user.frozen_reason = None
    user.frozen_by = None
    await db.flush()
    await repository.invalidate_action_tokens(db, user.id, purpose=UNFREEZE, now=utcnow())
    owned = await accounts_repository.owned_account_ids(db, user.id)
    members = await accounts_repository.member_ids_of_accounts(db, owned)
    details: dict[str, Any] = {
        "via": via,
        "reason": reason,
        "frozen_at": frozen_at.isoformat(),
        "frozen_by": frozen_by,
        "verified_with": verified_with,
    }
    await audit.record(
        db, "user.unfrozen", context=context, user_id=user.id, actor=actor, details=details
    )
    emit_user_event(db, "user.unfrozen", user.id, via=via, account_ids=[str(a) for a in owned])
    invalidate_decisions(db, user_ids=[user.id, *members], account_ids=owned)
    services.mail.notify(
        db,
        user,
        messages.account_unfrozen,
        when=utcnow(),
        how=_how(via) if via != "self" else "by you, with your password and second factor",
    )
    return FreezeResult(False, None)


async def unfreeze_self(
    db: AsyncSession,
    services: AppServices,
    user: User,
    context: RequestContext,
    *,
    password: str,
    code: str | None,
) -> FreezeResult | None:
    """Password **and** a second factor. Without MFA enrolled: the password, then a link is
    e-mailed (``None`` is returned) that must be opened while signed in."""
    if user.frozen_at is None:
        raise _not_frozen()
    has_mfa = await mfa_repository.is_enabled(db, user.id)
    if has_mfa and code is None:
        raise BadRequest(
            "Enter a code from your authenticator app (or a backup code) as well as your password.",
            code="second_factor_required",
        )
    if not has_mfa and code is not None:
        raise BadRequest("Two-factor authentication is not enabled.", code="mfa_not_enabled")
    await _check_password(db, services, user, password, context, "unfreeze")
    if has_mfa:
        assert code is not None
        method = await mfa_service.prove_second_factor(
            db, services, user, code, context, "unfreeze"
        )
        return await unfreeze(
            db, services, user, context, via="self", verified_with=["password", method]
        )
    await _send_confirmation(db, services, user, context)
    return None


async def _send_confirmation(
    db: AsyncSession, services: AppServices, user: User, context: RequestContext
) -> None:
    now = utcnow()
    await repository.invalidate_action_tokens(db, user.id, purpose=UNFREEZE, now=now)
    token = await _new_action_token(
        db,
        user.id,
        UNFREEZE,
        crypto.UNFREEZE_CONFIRM_PREFIX,
        messages.UNFREEZE_CONFIRMATION_TTL,
        now,
    )
    await audit.record(db, "user.unfreeze_requested", context=context, user_id=user.id)
    services.mail.notify(
        db,
        user,
        messages.unfreeze_confirmation,
        token=token,
        when=now,
        ip=context.ip_masked,
    )


async def confirm_unfreeze(
    db: AsyncSession, services: AppServices, user: User, token: str, context: RequestContext
) -> FreezeResult:
    """The e-mailed confirmation, opened while signed in as the same user; newest link only."""
    invalid = BadRequest(
        "This unfreeze link is invalid, was already used or has expired. Ask again from Security.",
        code="unfreeze_token_invalid",
    )
    if not crypto.looks_like(token, crypto.UNFREEZE_CONFIRM_PREFIX):
        raise invalid
    row = await _tokens.by_hash(db, crypto.hash_token(token))
    if row is None or row.purpose != UNFREEZE:
        raise invalid
    if row.user_id != user.id:
        raise Forbidden(
            "This link belongs to another account. Sign in as its owner.",
            code="unfreeze_token_other_user",
        )
    if not await _tokens.claim(db, row.id, now=utcnow()):
        raise invalid
    return await unfreeze(
        db, services, user, context, via="self", verified_with=["password", "email_link"]
    )
