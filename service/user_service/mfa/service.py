"""The TOTP second factor: enrolment, backup codes, the login step and step-up (SPEC §3, §5).

* The secret (160 bits, RFC 4226 §4 R6) is sealed with the key provider, the user id as
  associated data, so a ciphertext copied to another user's row does not open.
* A code is accepted at most once (RFC 6238 §5.2): the matched time step is stored with a
  conditional UPDATE that only succeeds when it is newer than the last accepted one; backup
  codes are spent the same way. Two parallel requests with one code: exactly one wins.
* Backup codes are keyed HMACs (see ``backup_codes``); the key derives from the user's TOTP
  secret, so every change of secret comes with a new set of codes.
* Every code check, wherever it happens (login, step-up, disable, regenerate), draws on one
  per-user budget (``RATE_LIMIT_MFA_VERIFY``), and a login ``session_token`` dies after
  ``MFA_CHALLENGE_MAX_ATTEMPTS`` wrong codes (SPEC §5; ASVS V2.8.5).

Audit rows are written last in each flow: the audit chain lock is taken after any row lock,
never before, so concurrent verifications cannot deadlock on PostgreSQL.
"""

from __future__ import annotations

import base64
import dataclasses
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from user_service.audit import service as audit
from user_service.audit.service import RequestContext
from user_service.auth import guessing
from user_service.auth.dependencies import Authenticated
from user_service.db import utcnow
from user_service.events.outbox import emit
from user_service.exceptions import (
    BadRequest,
    Conflict,
    Unauthorized,
    UserServiceError,
)
from user_service.kit import crypto
from user_service.kit.encryption import open_sealed, row_aad, seal
from user_service.mail import messages
from user_service.mail.dispatch import notify
from user_service.mail.templates import MailKind
from user_service.mfa import backup_codes, repository, totp
from user_service.mfa.backup_codes import CodeKind
from user_service.models import MfaTotp, User
from user_service.risk import service as risk
from user_service.sessions import service as sessions
from user_service.sessions.service import SessionGrant
from user_service.state import AppServices
from user_service.tokens.access_tokens import IssuedToken
from user_service.users import repository as users_repository

_AAD_KIND = "mfa_totp"
LOGIN_AMR = ["pwd", "otp"]


@dataclass(frozen=True)
class TotpSetup:
    secret: str
    otpauth_uri: str
    qr_code_uri: str


# --- errors ---------------------------------------------------------------------------------


def _invalid_code(
    *, login: bool = False, attempts_remaining: int | None = None
) -> UserServiceError:
    extra = {"attempts_remaining": attempts_remaining} if attempts_remaining is not None else None
    message = "The verification code is not valid."
    if login:
        # 401 like a wrong password: the session_token is the credential being proven.
        return Unauthorized(message, code="invalid_mfa_code", commit=True, extra=extra)
    # 400 on authenticated endpoints: a 401 would make a client refresh and sign out.
    return BadRequest(message, code="invalid_mfa_code", commit=True, extra=extra)


def _session_invalid() -> Unauthorized:
    return Unauthorized(
        "This sign-in attempt is no longer valid. Sign in again.", code="mfa_session_invalid"
    )


def _not_enabled() -> BadRequest:
    return BadRequest("Two-factor authentication is not enabled.", code="mfa_not_enabled")


# --- secrets and codes ----------------------------------------------------------------------


async def _seal_secret(services: AppServices, user_id: uuid.UUID, secret: str) -> bytes:
    return await seal(services.key_provider, secret.encode("ascii"), row_aad(_AAD_KIND, user_id))


async def _open_secret(services: AppServices, enrolment: MfaTotp) -> str:
    plaintext = await open_sealed(
        services.key_provider, enrolment.secret_sealed, row_aad(_AAD_KIND, enrolment.user_id)
    )
    return plaintext.decode("ascii")


def _backup_key(secret: str, user_id: uuid.UUID) -> bytes:
    return backup_codes.user_key(base64.b32decode(secret), str(user_id))


async def _spend_code(
    db: AsyncSession,
    services: AppServices,
    enrolment: MfaTotp,
    code: str,
    *,
    allow_backup: bool = True,
) -> CodeKind | None:
    """Accept ``code`` once: a TOTP (±1 step, newer than the last) or an unused backup code."""
    kind = backup_codes.classify_code(code)
    if kind is None or (kind == "backup_code" and not allow_backup):
        return None
    secret = await _open_secret(services, enrolment)
    now = utcnow()
    if kind == "totp":
        step = totp.verify_totp(secret, code, enrolment.last_used_step, now)
        if step is None:
            return None
        claimed = await repository.claim_totp_step(db, enrolment.user_id, step, now=now)
        return "totp" if claimed else None
    rows = await repository.unused_backup_codes(db, enrolment.user_id)
    index = backup_codes.verify_backup_code(
        code, [row.code_hash for row in rows], _backup_key(secret, enrolment.user_id)
    )
    if index is None:
        return None
    spent = await repository.spend_backup_code(db, rows[index].id, now=now)
    return "backup_code" if spent else None


async def _new_backup_codes(
    db: AsyncSession, services: AppServices, enrolment: MfaTotp
) -> list[str]:
    secret = await _open_secret(services, enrolment)
    key = _backup_key(secret, enrolment.user_id)
    codes = backup_codes.generate_backup_codes()
    hashes = [backup_codes.hash_backup_code(code, key) for code in codes]
    await repository.replace_backup_codes(db, enrolment.user_id, hashes, now=utcnow())
    return codes


async def _enabled_enrolment(db: AsyncSession, user_id: uuid.UUID) -> MfaTotp:
    enrolment = await repository.get_enrolment(db, user_id)
    if enrolment is None or enrolment.confirmed_at is None:
        raise _not_enabled()
    return enrolment


async def _record_failure(
    db: AsyncSession, user_id: uuid.UUID, context: RequestContext, purpose: str, **details: object
) -> None:
    await audit.record(
        db,
        "mfa.failed",
        context=context,
        user_id=user_id,
        risk_score=60,
        details={"purpose": purpose, **details},
    )


def _notify(
    db: AsyncSession,
    services: AppServices,
    user: User,
    context: RequestContext,
    kind: MailKind,
    sessions_revoked: int,
) -> None:
    notify(
        db,
        user,
        messages.mfa_changed,
        kind=kind,
        when=utcnow(),
        sessions_revoked=sessions_revoked,
        ip=context.ip_masked,
    )


async def _end_other_sessions(db: AsyncSession, user: User, keep: uuid.UUID, change: str) -> int:
    """A changed authentication factor ends every other session (ASVS V7.1.2/V3.3.3): one that
    an attacker opened before the change must not survive it. The caller's own stays."""
    return await sessions.revoke_user_sessions(db, user.id, reason=f"mfa_{change}", keep=keep)


def _emit(db: AsyncSession, event_type: str, user_id: uuid.UUID, **payload: object) -> None:
    emit(
        db,
        event_type,
        aggregate_type="user",
        aggregate_id=user_id,
        payload={"user_id": str(user_id), **payload},
    )


# --- enrolment ------------------------------------------------------------------------------


async def setup_totp(db: AsyncSession, services: AppServices, user: User) -> TotpSetup:
    """Start (or restart) enrolment: a new pending secret replaces any earlier pending one."""
    enrolment = await repository.get_enrolment(db, user.id)
    if enrolment is not None and enrolment.confirmed_at is not None:
        raise Conflict(
            "Two-factor authentication is already enabled. Disable it first to change the "
            "authenticator.",
            code="mfa_already_enabled",
        )
    secret = totp.generate_secret()
    sealed = await _seal_secret(services, user.id, secret)
    enrolment = await repository.save_pending_secret(db, user.id, sealed, now=utcnow())
    if enrolment.confirmed_at is not None:  # a parallel enable won
        raise Conflict("Two-factor authentication is already enabled.", code="mfa_already_enabled")
    uri = totp.provisioning_uri(secret, user.email)
    return TotpSetup(secret=secret, otpauth_uri=uri, qr_code_uri=totp.qr_code_data_uri(uri))


async def enable_totp(
    db: AsyncSession, services: AppServices, auth: Authenticated, code: str, context: RequestContext
) -> tuple[list[str], int]:
    """Confirm the pending secret with a current code; returns 10 backup codes (shown once)
    and how many other sessions were signed out."""
    user = auth.user
    enrolment = await repository.get_enrolment(db, user.id)
    if enrolment is None:
        raise BadRequest(
            "Start with /v1/mfa/totp/setup to get a secret.", code="mfa_setup_required"
        )
    if enrolment.confirmed_at is not None:
        raise Conflict("Two-factor authentication is already enabled.", code="mfa_already_enabled")
    attempt = await guessing.code_attempt(services, user.id)
    # Only an authenticator code proves the app was set up; backup codes do not exist yet.
    if await _spend_code(db, services, enrolment, code, allow_backup=False) is None:
        await _record_failure(db, user.id, context, "enable")
        raise _invalid_code()
    await guessing.succeeded(services, attempt)
    if not await repository.confirm_enrolment(db, user.id, now=utcnow()):
        raise Conflict("Two-factor authentication is already enabled.", code="mfa_already_enabled")
    codes = await _new_backup_codes(db, services, enrolment)
    revoked = await _end_other_sessions(db, user, auth.session.id, "enabled")
    _emit(db, "mfa.enabled", user.id, method="totp", other_sessions_revoked=revoked)
    _notify(db, services, user, context, MailKind.MFA_ENABLED, revoked)
    await audit.record(
        db,
        "mfa.enabled",
        context=context,
        user_id=user.id,
        details={"method": "totp", "other_sessions_revoked": revoked},
    )
    return codes, revoked


async def disable_totp(
    db: AsyncSession,
    services: AppServices,
    auth: Authenticated,
    context: RequestContext,
    *,
    code: str | None = None,
    password: str | None = None,
) -> int:
    """Turn TOTP off after a fresh TOTP/backup code or the password; backup codes go too.
    Returns how many other sessions were signed out."""
    user = auth.user
    enrolment = await _enabled_enrolment(db, user.id)
    if password is not None:
        attempt = await guessing.password_attempt(services, user.id)
        if not await services.hasher.verify(password, user.password_hash):
            await _record_failure(db, user.id, context, "disable", method="password")
            raise BadRequest("The password is not correct.", code="invalid_password", commit=True)
        method: str = "password"
    else:
        assert code is not None
        attempt = await guessing.code_attempt(services, user.id)
        spent = await _spend_code(db, services, enrolment, code)
        if spent is None:
            await _record_failure(db, user.id, context, "disable")
            raise _invalid_code()
        method = spent
    await guessing.succeeded(services, attempt)
    await repository.delete_enrolment(db, user.id)
    revoked = await _end_other_sessions(db, user, auth.session.id, "disabled")
    _emit(db, "mfa.disabled", user.id, method=method, other_sessions_revoked=revoked)
    _notify(db, services, user, context, MailKind.MFA_DISABLED, revoked)
    await audit.record(
        db,
        "mfa.disabled",
        context=context,
        user_id=user.id,
        risk_score=40,
        details={"verified_with": method, "other_sessions_revoked": revoked},
    )
    return revoked


async def regenerate_backup_codes(
    db: AsyncSession, services: AppServices, auth: Authenticated, code: str, context: RequestContext
) -> tuple[list[str], int]:
    """A new set of 10 codes; every earlier code (used or not) stops working, and so does
    every other session (one may have been opened with an old code)."""
    user = auth.user
    enrolment = await _enabled_enrolment(db, user.id)
    attempt = await guessing.code_attempt(services, user.id)
    spent = await _spend_code(db, services, enrolment, code)
    if spent is None:
        await _record_failure(db, user.id, context, "regenerate_backup_codes")
        raise _invalid_code()
    await guessing.succeeded(services, attempt)
    codes = await _new_backup_codes(db, services, enrolment)
    revoked = await _end_other_sessions(db, user, auth.session.id, "backup_codes_regenerated")
    _emit(db, "mfa.backup_codes_regenerated", user.id, other_sessions_revoked=revoked)
    _notify(db, services, user, context, MailKind.BACKUP_CODES_REGENERATED, revoked)
    await audit.record(
        db,
        "mfa.backup_codes_regenerated",
        context=context,
        user_id=user.id,
        details={"verified_with": spent, "other_sessions_revoked": revoked},
    )
    return codes, revoked


async def prove_second_factor(
    db: AsyncSession,
    services: AppServices,
    user: User,
    code: str,
    context: RequestContext,
    purpose: str,
) -> CodeKind:
    """Spend a TOTP or backup code to confirm a sensitive action (freeze, unfreeze).

    Counted against the per-user code budget before the check, refunded when it succeeds;
    a wrong code is audited as ``mfa.failed`` and answers 400 ``invalid_mfa_code``.
    """
    enrolment = await _enabled_enrolment(db, user.id)
    attempt = await guessing.code_attempt(services, user.id)
    spent = await _spend_code(db, services, enrolment, code)
    if spent is None:
        await _record_failure(db, user.id, context, purpose)
        raise _invalid_code()
    await guessing.succeeded(services, attempt)
    return spent


# --- the second step of login ---------------------------------------------------------------


@dataclass(frozen=True)
class LoginVerified:
    grant: SessionGrant
    #: Unused backup codes left after a backup-code sign-in (so the console can warn); else None.
    backup_codes_remaining: int | None


async def verify_login(
    db: AsyncSession, services: AppServices, session_token: str, code: str, context: RequestContext
) -> LoginVerified:
    """Finish a login that answered ``mfa_required`` (SPEC §3 ``/v1/auth/mfa/verify``).

    The ``session_token`` is opaque (never a JWT, so never a bearer token), lives
    ``MFA_CHALLENGE_TTL_SECONDS``, is spent by the first correct code and dies after
    ``MFA_CHALLENGE_MAX_ATTEMPTS`` wrong ones.
    """
    settings = services.settings
    max_attempts = settings.mfa_challenge_max_attempts
    if not crypto.looks_like(session_token, crypto.MFA_SESSION_PREFIX):
        raise _session_invalid()
    challenge = await repository.challenge_by_hash(db, crypto.hash_token(session_token))
    if (
        challenge is None
        or challenge.consumed_at is not None
        or challenge.failed_attempts >= max_attempts
    ):
        raise _session_invalid()
    if challenge.expires_at <= utcnow():
        raise Unauthorized(
            "This sign-in attempt has expired. Sign in again.", code="mfa_session_expired"
        )
    attempt = await guessing.code_attempt(services, challenge.user_id)
    user = await users_repository.get_by_id(db, challenge.user_id)
    enrolment = await repository.get_enrolment(db, challenge.user_id)
    if user is None or user.status != "active" or enrolment is None or not enrolment.confirmed_at:
        raise _session_invalid()  # account suspended or MFA switched off since the password step

    method = await _spend_code(db, services, enrolment, code)
    if method is None:
        failures = await repository.count_challenge_failure(db, challenge.id) or max_attempts
        remaining = max(0, max_attempts - failures)
        await _record_failure(db, user.id, context, "login", attempts_remaining=remaining)
        raise _invalid_code(login=True, attempts_remaining=remaining)
    await guessing.succeeded(services, attempt)
    if not await repository.consume_challenge(
        db, challenge.id, now=utcnow(), max_attempts=max_attempts
    ):
        # A parallel request spent or killed it first; rolling back leaves the code unspent.
        raise _session_invalid()

    context = dataclasses.replace(
        context, device_fingerprint=context.device_fingerprint or challenge.device_fingerprint
    )
    assessment = await risk.assess(db, services, user, context)
    grant = await sessions.start_session(
        db,
        services,
        user,
        context,
        persist=challenge.persist_session,
        amr=list(LOGIN_AMR),
        mfa_verified=True,
        risk=assessment,
    )
    await risk.on_sign_in(db, services, user, grant.session, assessment, context)
    await audit.record(
        db,
        "login.success",
        context=context,
        user_id=user.id,
        risk_score=assessment.score,
        details={"session_id": str(grant.session.id), "amr": LOGIN_AMR, "mfa_method": method},
    )
    codes_left: int | None = None
    if method == "backup_code":
        codes_left = len(await repository.unused_backup_codes(db, user.id))
    return LoginVerified(grant, codes_left)


# --- step-up --------------------------------------------------------------------------------


async def step_up(
    db: AsyncSession, services: AppServices, auth: Authenticated, code: str, context: RequestContext
) -> IssuedToken:
    """Re-prove the second factor for the current session (SPEC §3, §4: a fresh ``mfa_at``).

    Policies that demand "MFA proven within N seconds" (trading actions) read ``mfa_at`` from
    the access token this returns.
    """
    user, session = auth.user, auth.session
    enrolment = await _enabled_enrolment(db, user.id)
    attempt = await guessing.code_attempt(services, user.id)
    method = await _spend_code(db, services, enrolment, code)
    if method is None:
        await _record_failure(db, user.id, context, "step_up", session_id=str(session.id))
        raise _invalid_code()
    await guessing.succeeded(services, attempt)
    now = utcnow()
    session.mfa_verified_at = now
    session.last_active_at = now
    if "otp" not in (session.amr or []):
        session.amr = [*(session.amr or []), "otp"]
    await db.flush()
    access = await sessions.mint_access_token(db, services, user, session)
    await audit.record(
        db,
        "mfa.step_up",
        context=context,
        user_id=user.id,
        details={"session_id": str(session.id), "method": method},
    )
    return access
