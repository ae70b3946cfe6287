"""Passkeys: registration, second factor at login, passwordless sign-in, step-up.

Every ceremony is two requests: *options* stores a fresh 32-byte challenge server-side
(``webauthn_challenges``: single use, ``WEBAUTHN_CHALLENGE_TTL_SECONDS``, bound to the user,
the session or the pending login) and returns its id with the browser's options; *verify*
spends that challenge first — a failed verification spends it too — and then checks the
browser's response (``ceremony``).

A passkey sign-in is a full sign-in: the account must be active, the risk assessment runs and
its outcome is recorded like a password login's, and it counts as multi-factor (a discoverable
credential with user verification proves possession plus a PIN or biometric: NIST SP 800-63B
§5.1.8 multi-factor cryptographic authenticator), so the session carries ``mfa_at``.
A counter that went backwards is refused (``passkey_cloned``) and audited.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from user_service.audit import service as audit
from user_service.audit.service import RequestContext
from user_service.auth import service as auth_service
from user_service.auth.dependencies import SignedInUser
from user_service.db import utcnow
from user_service.exceptions import (
    BadRequest,
    Conflict,
    RateLimited,
    Unauthorized,
    UserServiceError,
)
from user_service.kit.lazy import lazy_module
from user_service.mfa import factors, repository
from user_service.mfa import service as mfa
from user_service.mfa.enums import MfaMethod
from user_service.models import MfaPasskey, User, WebauthnChallenge
from user_service.risk import service as risk
from user_service.sessions import service as sessions
from user_service.sessions.service import SessionGrant
from user_service.state import AppServices
from user_service.tokens.access_tokens import IssuedToken
from user_service.users import repository as users_repository

if TYPE_CHECKING:
    from user_service.mfa import ceremony
else:  # py_webauthn weighs ≈ 9 MB per worker: it loads with the first passkey ceremony
    ceremony = lazy_module("user_service.mfa.ceremony")

CHALLENGE_BYTES = 32
PASSKEY_AMR = ["hwk", "user"]  # RFC 8176: proof of possession of a key + user verification
DEFAULT_NAME = "Passkey"

REGISTER = "register"
LOGIN_MFA = "login_mfa"
SIGN_IN = "sign_in"
STEP_UP = "step_up"
LINK = "oidc_link"


@dataclass(frozen=True)
class Ceremony:
    challenge_id: uuid.UUID
    options: dict[str, Any]


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


def _invalid(*, login: bool = False, extra: dict[str, Any] | None = None) -> UserServiceError:
    """401 at sign-in (the credential being proven), 400 for a signed-in user (a 401 would
    make the client refresh and sign out). ``commit``: the spent challenge stays spent."""
    message = "The passkey could not be verified. Try again."
    if login:
        return Unauthorized(message, code="passkey_invalid", commit=True, extra=extra)
    return BadRequest(message, code="passkey_invalid", commit=True, extra=extra)


def _challenge_invalid() -> BadRequest:
    return BadRequest(
        "This passkey request has expired or was already used. Start again.",
        code="passkey_challenge_invalid",
        commit=True,
    )


async def _new_challenge(
    db: AsyncSession,
    services: AppServices,
    purpose: str,
    *,
    user_id: uuid.UUID | None = None,
    session_id: uuid.UUID | None = None,
    mfa_challenge_id: uuid.UUID | None = None,
) -> WebauthnChallenge:
    now = utcnow()
    row = WebauthnChallenge(
        id=uuid.uuid4(),
        purpose=purpose,
        challenge=secrets.token_bytes(CHALLENGE_BYTES),
        user_id=user_id,
        session_id=session_id,
        mfa_challenge_id=mfa_challenge_id,
        created_at=now,
        expires_at=now + dt.timedelta(seconds=services.settings.webauthn_challenge_ttl_seconds),
    )
    await repository.add_webauthn_challenge(db, row)
    return row


async def _spend_challenge(
    db: AsyncSession, challenge_id: uuid.UUID, purpose: str
) -> WebauthnChallenge:
    """Single use: the first verify attempt spends it, whatever its outcome."""
    row = await repository.webauthn_challenge(db, challenge_id)
    if row is None or row.purpose != purpose:
        raise _challenge_invalid()
    if not await repository.consume_webauthn_challenge(db, row.id, now=utcnow()):
        raise _challenge_invalid()
    return row


def _allowed(keys: list[MfaPasskey]) -> list[tuple[bytes, list[str]]]:
    return [(key.credential_id, list(key.transports or [])) for key in keys]


async def _assertion_ceremony(
    db: AsyncSession,
    services: AppServices,
    purpose: str,
    user_id: uuid.UUID,
    *,
    session_id: uuid.UUID | None = None,
    mfa_challenge_id: uuid.UUID | None = None,
) -> Ceremony:
    """Options asking for one of this user's passkeys (second factor, step-up)."""
    keys = await repository.passkeys(db, user_id)
    if not keys:
        raise BadRequest("This account has no passkey.", code="passkey_not_registered")
    row = await _new_challenge(
        db,
        services,
        purpose,
        user_id=user_id,
        session_id=session_id,
        mfa_challenge_id=mfa_challenge_id,
    )
    options = ceremony.authentication_options(
        services.settings, challenge=row.challenge, allowed=_allowed(keys)
    )
    return Ceremony(row.id, options)


async def _check_assertion(
    db: AsyncSession,
    services: AppServices,
    row: WebauthnChallenge,
    credential: dict[str, Any],
    context: RequestContext,
    *,
    user_id: uuid.UUID | None,
) -> MfaPasskey:
    """Verify an assertion against the stored passkey it names (of ``user_id`` when the
    ceremony is bound to a user) and move its counter; raises :class:`_Refused`."""
    try:
        credential_id = ceremony.credential_id_of(credential)
        handle = ceremony.user_handle_of(credential)
    except ceremony.CeremonyFailed as exc:
        raise _Refused("malformed") from exc
    passkey = await repository.passkey_by_credential_id(db, credential_id)
    if passkey is None or (user_id is not None and passkey.user_id != user_id):
        raise _Refused("unknown_credential")
    if handle is not None and handle != passkey.user_id.bytes:
        raise _Refused("user_handle_mismatch")
    try:
        result = ceremony.verify_assertion(
            services.settings,
            credential,
            row.challenge,
            public_key=passkey.public_key,
            stored_sign_count=passkey.sign_count,
        )
    except ceremony.CounterWentBack:
        await audit.record(
            db,
            "mfa.passkey_cloned",
            context=context,
            user_id=passkey.user_id,
            risk_score=90,
            details={"factor_id": str(passkey.id), "name": passkey.name},
        )
        raise BadRequest(
            "This passkey looks copied (its use counter went backwards) and was refused. "
            "Remove it on the Security page and register a new one.",
            code="passkey_cloned",
            commit=True,
        ) from None
    except ceremony.CeremonyFailed as exc:
        raise _Refused("verification_failed") from exc
    if not await repository.record_passkey_use(
        db,
        passkey.id,
        seen_count=passkey.sign_count,
        new_count=result.new_sign_count,
        backed_up=result.backed_up,
        now=utcnow(),
    ):
        raise _Refused("counter_race")
    return passkey


# --- registration ---------------------------------------------------------------------------


async def start_registration(
    db: AsyncSession, services: AppServices, auth: SignedInUser
) -> Ceremony:
    user = auth.user
    factors.require_recent_auth(services.settings, auth.session)
    row = await _new_challenge(db, services, REGISTER, user_id=user.id, session_id=auth.session.id)
    options = ceremony.registration_options(
        services.settings,
        challenge=row.challenge,
        user_handle=user.id.bytes,
        user_name=user.email,
        display_name=user.name or user.email,
        existing=_allowed(await repository.passkeys(db, user.id)),
    )
    return Ceremony(row.id, options)


async def finish_registration(
    db: AsyncSession,
    services: AppServices,
    auth: SignedInUser,
    challenge_id: uuid.UUID,
    name: str | None,
    credential: dict[str, Any],
    context: RequestContext,
) -> tuple[factors.Factor, factors.Added]:
    user = auth.user
    factors.require_recent_auth(services.settings, auth.session)
    row = await _spend_challenge(db, challenge_id, REGISTER)
    if row.user_id != user.id or row.session_id != auth.session.id:
        raise _challenge_invalid()
    try:
        registered = ceremony.verify_registration(services.settings, credential, row.challenge)
    except ceremony.CeremonyFailed as exc:
        await mfa.record_failure(db, user.id, context, "passkey_register", reason=str(exc)[:200])
        raise _invalid() from exc
    if await repository.passkey_by_credential_id(db, registered.credential_id) is not None:
        raise Conflict("This passkey is already registered.", code="passkey_already_registered")
    now = utcnow()
    passkey = MfaPasskey(
        id=uuid.uuid4(),
        user_id=user.id,
        name=name or DEFAULT_NAME,
        credential_id=registered.credential_id,
        public_key=registered.public_key,
        sign_count=registered.sign_count,
        aaguid=registered.aaguid,
        transports=registered.transports,
        backup_eligible=registered.backup_eligible,
        backed_up=registered.backed_up,
        user_verified=registered.user_verified,
        created_at=now,
    )
    db.add(passkey)
    await db.flush()
    added = await factors.factor_added(
        db,
        services,
        auth,
        context,
        factor_type=MfaMethod.PASSKEY,
        factor_id=passkey.id,
        name=passkey.name,
    )
    return factors.describe(passkey), added


# --- second factor at login -----------------------------------------------------------------


async def start_login_mfa(db: AsyncSession, services: AppServices, session_token: str) -> Ceremony:
    challenge, user = await mfa.open_login_challenge(db, services, session_token)
    return await _assertion_ceremony(
        db, services, LOGIN_MFA, user.id, mfa_challenge_id=challenge.id
    )


async def finish_login_mfa(
    db: AsyncSession,
    services: AppServices,
    session_token: str,
    challenge_id: uuid.UUID,
    credential: dict[str, Any],
    context: RequestContext,
) -> SessionGrant:
    challenge, user = await mfa.open_login_challenge(db, services, session_token)
    row = await _spend_challenge(db, challenge_id, LOGIN_MFA)
    if row.mfa_challenge_id != challenge.id:
        raise _challenge_invalid()
    try:
        await _check_assertion(db, services, row, credential, context, user_id=user.id)
    except _Refused as refused:
        remaining = await mfa.count_login_failure(db, services, challenge)
        await mfa.record_failure(
            db,
            user.id,
            context,
            "login",
            method=MfaMethod.PASSKEY,
            reason=refused.reason,
            attempts_remaining=remaining,
        )
        raise _invalid(login=True, extra={"attempts_remaining": remaining}) from None
    return await mfa.finish_login(
        db,
        services,
        user,
        challenge,
        context,
        method=MfaMethod.PASSKEY,
        second_factor_amr=PASSKEY_AMR,
    )


# --- passwordless sign-in -------------------------------------------------------------------


async def _count_anonymous(services: AppServices, context: RequestContext) -> None:
    """Ceremonies started by a caller who is not signed in store a challenge row each: they
    count per IP against ``RATE_LIMIT_PASSKEY_IP``."""
    attempt = await services.rate_limiter.acquire(
        services.settings.rate_limit_passkey_ip, f"passkey-ip:{context.ip}"
    )
    if not attempt.allowed:
        raise RateLimited(attempt.retry_after, "Too many sign-in attempts. Try again later.")


async def start_sign_in(
    db: AsyncSession, services: AppServices, context: RequestContext
) -> Ceremony:
    """Options for a discoverable credential (counted per IP: :func:`_count_anonymous`)."""
    await _count_anonymous(services, context)
    row = await _new_challenge(db, services, SIGN_IN)
    return Ceremony(
        row.id,
        ceremony.authentication_options(services.settings, challenge=row.challenge, allowed=[]),
    )


async def finish_sign_in(
    db: AsyncSession,
    services: AppServices,
    challenge_id: uuid.UUID,
    credential: dict[str, Any],
    *,
    persist: bool,
    context: RequestContext,
) -> SessionGrant:
    row = await _spend_challenge(db, challenge_id, SIGN_IN)
    try:
        passkey = await _check_assertion(db, services, row, credential, context, user_id=None)
    except _Refused as refused:
        await audit.record(
            db,
            "login.failed",
            context=context,
            actor="anonymous",
            risk_score=50,
            details={"reason": "passkey_invalid", "detail": refused.reason},
        )
        raise _invalid(login=True) from None
    user = await users_repository.get_by_id(db, passkey.user_id)
    assert user is not None  # the passkey's foreign key cascades
    return await _start_passkey_session(db, services, user, passkey, persist, context)


async def _start_passkey_session(
    db: AsyncSession,
    services: AppServices,
    user: User,
    passkey: MfaPasskey,
    persist: bool,
    context: RequestContext,
) -> SessionGrant:
    """Open a session as a password login would: same status rule, risk and records."""
    await auth_service.refuse_inactive(db, user, context, method="passkey")
    assessment = await risk.assess(db, services, user, context)
    amr = [*PASSKEY_AMR, "mfa"]
    grant = await sessions.start_session(
        db, services, user, context, persist=persist, amr=amr, mfa_verified=True, risk=assessment
    )
    await risk.on_sign_in(db, services, user, grant.session, assessment, context)
    await audit.record(
        db,
        "login.success",
        context=context,
        user_id=user.id,
        risk_score=assessment.score,
        details={
            "session_id": str(grant.session.id),
            "amr": amr,
            "mfa_method": MfaMethod.PASSKEY,
            "factor_id": str(passkey.id),
        },
    )
    return grant


# --- step-up --------------------------------------------------------------------------------


async def start_step_up(db: AsyncSession, services: AppServices, auth: SignedInUser) -> Ceremony:
    return await _assertion_ceremony(
        db, services, STEP_UP, auth.user.id, session_id=auth.session.id
    )


async def finish_step_up(
    db: AsyncSession,
    services: AppServices,
    auth: SignedInUser,
    challenge_id: uuid.UUID,
    credential: dict[str, Any],
    context: RequestContext,
) -> IssuedToken:
    row = await _spend_challenge(db, challenge_id, STEP_UP)
    if row.user_id != auth.user.id or row.session_id != auth.session.id:
        raise _challenge_invalid()
    try:
        await _check_assertion(db, services, row, credential, context, user_id=auth.user.id)
    except _Refused as refused:
        await mfa.record_failure(
            db, auth.user.id, context, "step_up", method=MfaMethod.PASSKEY, reason=refused.reason
        )
        raise _invalid() from None
    return await mfa.mark_step_up(db, services, auth, context, method=MfaMethod.PASSKEY, amr="hwk")


# --- linking a provider account (docs/oidc.md) ----------------------------------------------


async def start_link_proof(
    db: AsyncSession, services: AppServices, user_id: uuid.UUID, context: RequestContext
) -> Ceremony:
    """Options for the second factor of a pending link (``/v1/auth/oidc/link``): one of the
    account's passkeys. The caller holds only a link token, so starts count per IP like
    passwordless ones (:func:`_count_anonymous`)."""
    await _count_anonymous(services, context)
    return await _assertion_ceremony(db, services, LINK, user_id)


async def prove_for_link(
    db: AsyncSession,
    services: AppServices,
    user_id: uuid.UUID,
    challenge_id: uuid.UUID,
    credential: dict[str, Any],
    context: RequestContext,
) -> bool:
    """Whether ``credential`` is a fresh assertion of one of the user's passkeys for a link
    challenge of theirs. A challenge of another kind or another account is refused outright;
    a failed assertion is audited and answers ``False`` (the caller counts it)."""
    row = await _spend_challenge(db, challenge_id, LINK)
    if row.user_id != user_id:
        raise _challenge_invalid()
    try:
        await _check_assertion(db, services, row, credential, context, user_id=user_id)
    except _Refused as refused:
        await mfa.record_failure(
            db, user_id, context, "identity_link", method=MfaMethod.PASSKEY, reason=refused.reason
        )
        return False
    return True


def link_refused() -> UserServiceError:
    """A failed passkey at a pending link: 401, it is a sign-in step."""
    return _invalid(login=True)
