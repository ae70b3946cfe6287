"""A user's named second factors as one list, and the rules every change of it follows.

* **Recent authentication** (ASVS V3.7.1, NIST SP 800-63B §4.2.3 "reauthentication"):
  enrolling or removing a factor needs a password or second-factor proof at most
  ``RECENT_AUTH_SECONDS`` old — the sign-in itself, ``POST /v1/auth/reauthenticate`` or a
  step-up. Otherwise 403 ``recent_auth_required``: a stolen, unattended session cannot add the
  attacker's authenticator or strip the owner's.
* **Last factor**: while MFA is required by policy (a role in ``MFA_REQUIRED_ROLES``, or
  ``RISKY_SIGN_IN_POLICY=require_mfa``), the last factor cannot go: 409 ``last_factor``.
* **Every change** ends the user's other sessions (ASVS V3.3.3), is audited, e-mailed, and
  emitted to the outbox (``mfa.factor_added`` / ``mfa.factor_removed``; ``mfa.enabled`` /
  ``mfa.disabled`` when the account's MFA turns on or off).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from user_service.audit import service as audit
from user_service.audit.service import RequestContext
from user_service.auth.dependencies import SignedInUser
from user_service.config import Settings
from user_service.db import utcnow
from user_service.events.outbox import emit_user_event
from user_service.exceptions import Conflict, Forbidden, NotFound
from user_service.mail import messages
from user_service.mail.templates import MailKind
from user_service.mfa import repository, sealed
from user_service.mfa.enums import FactorType, MfaMethod
from user_service.models import MfaPasskey, MfaTotp, User, UserSession
from user_service.sessions import service as sessions
from user_service.state import AppServices
from user_service.users import repository as users_repository


@dataclass(frozen=True)
class Factor:
    id: uuid.UUID
    type: FactorType
    name: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None


@dataclass(frozen=True)
class Overview:
    factors: list[Factor]
    backup_codes_remaining: int
    mfa_required: bool
    recent_auth_until: dt.datetime | None


@dataclass(frozen=True)
class Added:
    backup_codes: list[str]
    sessions_revoked: int


def describe(item: MfaTotp | MfaPasskey) -> Factor:
    kind: FactorType = MfaMethod.TOTP if isinstance(item, MfaTotp) else MfaMethod.PASSKEY
    return Factor(item.id, kind, item.name, item.created_at, item.last_used_at)


# --- rules ----------------------------------------------------------------------------------


def recent_auth_until(
    settings: Settings, session: UserSession, *, second_factor: bool = False
) -> dt.datetime | None:
    """Until when the session counts as recently authenticated (or ``None``)."""
    proofs = (
        [session.mfa_verified_at] if second_factor else [session.auth_time, session.mfa_verified_at]
    )
    latest = max((p for p in proofs if p is not None), default=None)
    return latest + dt.timedelta(seconds=settings.recent_auth_seconds) if latest else None


def require_recent_auth(
    settings: Settings, session: UserSession, *, second_factor: bool = False
) -> None:
    until = recent_auth_until(settings, session, second_factor=second_factor)
    if until is None or until <= utcnow():
        what = "your second factor" if second_factor else "your password or second factor"
        raise Forbidden(
            f"Confirm it is you: enter {what} again, then retry.",
            code="recent_auth_required",
        )


async def mfa_required(db: AsyncSession, services: AppServices, user: User) -> bool:
    """Whether policy obliges this user to keep a second factor."""
    settings = services.settings
    if settings.risky_sign_in_policy == "require_mfa":
        return True
    required = set(settings.mfa_required_roles)
    return bool(required & set(await users_repository.role_names(db, user.id)))


async def refuse_if_required(db: AsyncSession, services: AppServices, user: User) -> None:
    if await mfa_required(db, services, user):
        raise Conflict(
            "Your account must keep a second factor. Add another one before removing this one.",
            code="last_factor",
        )


# --- the list -------------------------------------------------------------------------------


async def overview(db: AsyncSession, services: AppServices, auth: SignedInUser) -> Overview:
    user_id = auth.user.id
    items: list[MfaTotp | MfaPasskey] = [
        *await repository.totp_devices(db, user_id),
        *await repository.passkeys(db, user_id),
    ]
    items.sort(key=lambda item: (item.created_at, str(item.id)))
    until = recent_auth_until(services.settings, auth.session)
    return Overview(
        factors=[describe(item) for item in items],
        backup_codes_remaining=await repository.count_unused_backup_codes(db, user_id),
        mfa_required=await mfa_required(db, services, auth.user),
        recent_auth_until=until if until and until > utcnow() else None,
    )


async def _owned(
    db: AsyncSession, user_id: uuid.UUID, factor_id: uuid.UUID
) -> MfaTotp | MfaPasskey:
    item = await repository.factor(db, user_id, factor_id)
    if item is None:
        raise NotFound("No such authenticator.", code="factor_not_found")
    return item


async def rename(
    db: AsyncSession,
    services: AppServices,
    auth: SignedInUser,
    factor_id: uuid.UUID,
    name: str,
    context: RequestContext,
) -> Factor:
    """A new label; it changes nothing about how the account signs in, so it needs no recent
    authentication and ends no session. Like every change of the factors it is audited and
    e-mailed: only someone signed in can rename, and a stranger doing so should be noticed."""
    item = await _owned(db, auth.user.id, factor_id)
    old = item.name
    item.name = name
    await db.flush()
    found = describe(item)
    if old != name:
        services.mail.notify(
            db,
            auth.user,
            messages.mfa_factor_renamed,
            when=utcnow(),
            ip=context.ip_masked,
            factor=_label(found.type, old),
            new_name=name,
        )
    await audit.record(
        db,
        "mfa.factor_renamed",
        context=context,
        user_id=auth.user.id,
        details={"factor_id": str(item.id), "type": found.type, "from": old, "to": name},
    )
    return found


async def remove(
    db: AsyncSession,
    services: AppServices,
    auth: SignedInUser,
    factor_id: uuid.UUID,
    context: RequestContext,
) -> tuple[int, bool]:
    """Remove one factor (recent authentication required; never the last one while MFA is
    required). Returns (other sessions signed out, whether MFA is still on)."""
    user = auth.user
    require_recent_auth(services.settings, auth.session)
    item = await _owned(db, user.id, factor_id)
    left = await repository.factor_count(db, user.id) - 1
    if left == 0:
        await refuse_if_required(db, services, user)
    if not await repository.delete_factor(db, item):
        raise NotFound("No such authenticator.", code="factor_not_found")
    found = describe(item)
    revoked = await factors_removed(
        db, services, auth, context, removed=[(found.type, found.id, found.name)]
    )
    return revoked, left > 0


# --- bookkeeping shared by every change -----------------------------------------------------


async def end_other_sessions(db: AsyncSession, user: User, keep: uuid.UUID, change: str) -> int:
    """A changed authentication factor ends every other session (ASVS V7.1.2/V3.3.3): one that
    an attacker opened before the change must not survive it. The caller's own stays."""
    return await sessions.revoke_user_sessions(db, user.id, reason=f"mfa_{change}", keep=keep)


def mail_change(
    db: AsyncSession,
    services: AppServices,
    user: User,
    context: RequestContext,
    kind: MailKind,
    sessions_revoked: int,
    factor: str | None = None,
) -> None:
    services.mail.notify(
        db,
        user,
        messages.mfa_changed,
        kind=kind,
        when=utcnow(),
        sessions_revoked=sessions_revoked,
        ip=context.ip_masked,
        factor=factor,
    )


def _label(factor_type: str, name: str) -> str:
    return f"{'passkey' if factor_type == 'passkey' else 'authenticator app'} “{name}”"


async def factor_added(
    db: AsyncSession,
    services: AppServices,
    auth: SignedInUser,
    context: RequestContext,
    *,
    factor_type: FactorType,
    factor_id: uuid.UUID,
    name: str,
) -> Added:
    """A factor was confirmed: the first one turns MFA on and brings backup codes."""
    user = auth.user
    first = await repository.factor_count(db, user.id) == 1
    codes = await sealed.new_backup_codes(db, services, user.id) if first else []
    change = "enabled" if first else "factor_added"
    revoked = await end_other_sessions(db, user, auth.session.id, change)
    details = {"factor_id": str(factor_id), "type": factor_type, "name": name}
    emit_user_event(db, "mfa.factor_added", user.id, **details, other_sessions_revoked=revoked)
    if first:
        emit_user_event(
            db, "mfa.enabled", user.id, method=factor_type, other_sessions_revoked=revoked
        )
    kind = MailKind.MFA_ENABLED if first else MailKind.MFA_FACTOR_ADDED
    mail_change(db, services, user, context, kind, revoked, _label(factor_type, name))
    await audit.record(
        db,
        "mfa.enabled" if first else "mfa.factor_added",
        context=context,
        user_id=user.id,
        details={"method": factor_type, **details, "other_sessions_revoked": revoked},
    )
    return Added(codes, revoked)


async def factors_removed(
    db: AsyncSession,
    services: AppServices,
    auth: SignedInUser,
    context: RequestContext,
    *,
    removed: list[tuple[str, uuid.UUID, str]],
    verified_with: str = "recent_auth",
) -> int:
    """Factors went: with none left, backup codes go too and MFA is off."""
    user = auth.user
    off = not await repository.is_enabled(db, user.id)
    if off:
        await repository.delete_backup_material(db, user.id)
    revoked = await end_other_sessions(
        db, user, auth.session.id, "disabled" if off else "factor_removed"
    )
    for factor_type, factor_id, name in removed:
        emit_user_event(
            db,
            "mfa.factor_removed",
            user.id,
            factor_id=str(factor_id),
            type=factor_type,
            name=name,
            other_sessions_revoked=revoked,
        )
    if off:
        emit_user_event(
            db, "mfa.disabled", user.id, method=verified_with, other_sessions_revoked=revoked
        )
    labels = ", ".join(_label(t, n) for t, _, n in removed)
    kind = MailKind.MFA_DISABLED if off else MailKind.MFA_FACTOR_REMOVED
    mail_change(db, services, user, context, kind, revoked, labels)
    await audit.record(
        db,
        "mfa.disabled" if off else "mfa.factor_removed",
        context=context,
        user_id=user.id,
        risk_score=40,
        details={
            "verified_with": verified_with,
            "removed": [{"factor_id": str(i), "type": t, "name": n} for t, i, n in removed],
            "other_sessions_revoked": revoked,
        },
    )
    return revoked
