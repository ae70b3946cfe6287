"""Second factors: TOTP devices, backup codes, the login step and step-up (docs/api.md §3, §5).

A user may hold several named factors (TOTP devices here, passkeys in ``passkeys``); the
account has two-factor authentication on while it holds any. What they share lives here:

* A TOTP secret (160 bits, RFC 4226 §4 R6) is sealed with the key provider, the user id as
  associated data, so a ciphertext copied to another user's row does not open.
* A code is accepted at most once per device (RFC 6238 §5.2): the matched time step is stored
  with a conditional UPDATE that only succeeds when it is newer than that device's last one;
  backup codes are spent the same way. Two parallel requests with one code: exactly one wins.
* Backup codes are keyed HMACs (see ``backup_codes``) under the user's sealed backup key
  (``MfaBackupKey``), created with the first factor and dropped with the last.
* Every code check, wherever it happens (login, step-up, disable, regenerate), draws on one
  per-user budget (``RATE_LIMIT_MFA_VERIFY``), and a login ``session_token`` dies after
  ``MFA_CHALLENGE_MAX_ATTEMPTS`` wrong codes (docs/api.md §5; ASVS V2.8.5).

Audit rows are written last in each flow: the audit chain lock is taken after any row lock,
never before, so concurrent verifications cannot deadlock on PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from user_service.audit import service as audit
from user_service.audit.service import RequestContext
from user_service.auth import guessing
from user_service.auth.dependencies import SignedInUser
from user_service.db import utcnow
from user_service.events.outbox import emit_user_event
from user_service.exceptions import BadRequest, Conflict, Unauthorized, UserServiceError
from user_service.kit import crypto
from user_service.kit.ratelimit import Attempt
from user_service.mail import messages
from user_service.mail.templates import MailKind
from user_service.mfa import backup_codes, factors, repository, sealed, totp
from user_service.mfa.enums import CodeKind, MfaMethod
from user_service.models import MfaChallenge, MfaTotp, User, UserStatus
from user_service.risk import service as risk
from user_service.sessions import service as sessions
from user_service.sessions.service import SessionGrant
from user_service.state import AppServices
from user_service.tokens.access_tokens import IssuedToken
from user_service.users import repository as users_repository

DEFAULT_TOTP_NAME = "Authenticator app"
LOW_BACKUP_CODES = 3  # at or below this many unused codes the user is told (UI and e-mail)


@dataclass(frozen=True)
class TotpSetup:
    secret: str
    otpauth_uri: str
    qr_code_uri: str


# --- errors ---------------------------------------------------------------------------------


def invalid_code(*, login: bool = False, attempts_remaining: int | None = None) -> UserServiceError:
    extra = {"attempts_remaining": attempts_remaining} if attempts_remaining is not None else None
    message = "The verification code is not valid."
    if login:
        # 401 like a wrong password: the session_token is the credential being proven.
        return Unauthorized(message, code="invalid_mfa_code", commit=True, extra=extra)
    # 400 on authenticated endpoints: a 401 would make a client refresh and sign out.
    return BadRequest(message, code="invalid_mfa_code", commit=True, extra=extra)


def session_invalid() -> Unauthorized:
    return Unauthorized(
        "This sign-in attempt is no longer valid. Sign in again.", code="mfa_session_invalid"
    )


def _not_enabled() -> BadRequest:
    return BadRequest("Two-factor authentication is not enabled.", code="mfa_not_enabled")


def _totp_not_enabled() -> BadRequest:
    return BadRequest("No authenticator app is set up.", code="mfa_not_enabled")


# --- secrets and codes ----------------------------------------------------------------------


async def _spend_totp(
    db: AsyncSession, services: AppServices, user_id: uuid.UUID, code: str, devices: list[MfaTotp]
) -> MfaTotp | None:
    """The device whose code this is, its step now claimed; every device is checked."""
    now = utcnow()
    matched: tuple[MfaTotp, int] | None = None
    for device in devices:
        secret = await sealed.open_secret(services, user_id, device.secret_sealed)
        step = totp.verify_totp(secret, code, device.last_used_step, now)
        if step is not None and matched is None:
            matched = (device, step)
    if matched is None:
        return None
    device, step = matched
    return device if await repository.claim_totp_step(db, device.id, step, now=now) else None


async def _spend_backup_code(
    db: AsyncSession, services: AppServices, user: User, code: str, context: RequestContext
) -> bool:
    key = await sealed.backup_key_of(db, services, user.id)
    if key is None:
        return False
    rows = await repository.unused_backup_codes(db, user.id)
    index = backup_codes.verify_backup_code(code, [row.code_hash for row in rows], key)
    if index is None or not await repository.spend_backup_code(db, rows[index].id, now=utcnow()):
        return False
    remaining = len(rows) - 1
    if remaining <= LOW_BACKUP_CODES:
        services.mail.notify(
            db,
            user,
            messages.backup_codes_low,
            remaining=remaining,
            when=utcnow(),
            ip=context.ip_masked,
        )
    return True


async def spend_code(
    db: AsyncSession,
    services: AppServices,
    user: User,
    code: str,
    context: RequestContext,
    *,
    allow_backup: bool = True,
    devices: list[MfaTotp] | None = None,
) -> CodeKind | None:
    """Accept ``code`` once: a TOTP code of any of the user's devices (±1 step, newer than
    that device's last) or an unused backup code. When ≤ 3 backup codes remain after one is
    spent, the user is e-mailed."""
    kind = backup_codes.classify_code(code)
    if kind is None or (kind == MfaMethod.BACKUP_CODE and not allow_backup):
        return None
    if kind == MfaMethod.TOTP:
        if devices is None:
            devices = await repository.totp_devices(db, user.id)
        return MfaMethod.TOTP if await _spend_totp(db, services, user.id, code, devices) else None
    spent = await _spend_backup_code(db, services, user, code, context)
    return MfaMethod.BACKUP_CODE if spent else None


async def _require_enabled(db: AsyncSession, user_id: uuid.UUID) -> None:
    if not await repository.is_enabled(db, user_id):
        raise _not_enabled()


async def record_failure(
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


async def _check_password(
    db: AsyncSession,
    services: AppServices,
    user: User,
    password: str,
    context: RequestContext,
    purpose: str,
) -> Attempt:
    """The account password, counted against the per-user password budget; the attempt is
    returned for the caller to give back once the whole action succeeds."""
    return await guessing.confirm_password(
        db,
        services,
        user,
        password,
        context,
        failed_event="mfa.failed",
        risk_score=60,
        purpose=purpose,
    )


# --- TOTP enrolment -------------------------------------------------------------------------


async def setup_totp(
    db: AsyncSession, services: AppServices, auth: SignedInUser, name: str | None
) -> TotpSetup:
    """Start adding a TOTP device (recent authentication required): a new pending secret
    replaces any earlier unfinished setup; devices already confirmed stay."""
    user = auth.user
    factors.require_recent_auth(services.settings, auth.session)
    secret = totp.generate_secret()
    secret_sealed = await sealed.seal_secret(services, user.id, secret)
    await repository.save_pending_secret(
        db, user.id, name or DEFAULT_TOTP_NAME, secret_sealed, now=utcnow()
    )
    uri = totp.provisioning_uri(secret, user.email)
    return TotpSetup(secret=secret, otpauth_uri=uri, qr_code_uri=totp.qr_code_data_uri(uri))


async def enable_totp(
    db: AsyncSession, services: AppServices, auth: SignedInUser, code: str, context: RequestContext
) -> tuple[list[str], int]:
    """Confirm the pending device with a current code. Returns the 10 backup codes when this
    is the user's first factor (shown once; empty otherwise) and how many other sessions were
    signed out."""
    user = auth.user
    pending = await repository.pending_totp(db, user.id)
    if pending is None:
        raise BadRequest(
            "Start with /v1/mfa/totp/setup to get a secret.", code="mfa_setup_required"
        )
    attempt = await guessing.code_attempt(services, user.id)
    # Only a code of the new device proves the app was set up.
    if (
        await spend_code(db, services, user, code, context, allow_backup=False, devices=[pending])
        is None
    ):
        await record_failure(db, user.id, context, "enable")
        raise invalid_code()
    await guessing.succeeded(services, attempt)
    if not await repository.confirm_device(db, pending.id, now=utcnow()):
        raise Conflict("This authenticator is already set up.", code="mfa_already_enabled")
    added = await factors.factor_added(
        db,
        services,
        auth,
        context,
        factor_type=MfaMethod.TOTP,
        factor_id=pending.id,
        name=pending.name,
    )
    return added.backup_codes, added.sessions_revoked


async def disable_totp(
    db: AsyncSession,
    services: AppServices,
    auth: SignedInUser,
    context: RequestContext,
    *,
    code: str | None = None,
    password: str | None = None,
) -> tuple[int, bool]:
    """Remove every TOTP device after a fresh code or the password (``/totp/disable``).

    Passkeys stay; when no factor is left, backup codes go too and MFA is off. Refused while
    MFA is required by policy and no other factor remains. Returns (other sessions signed
    out, whether MFA is still on)."""
    user = auth.user
    devices = await repository.totp_devices(db, user.id)
    if not devices:
        await _require_enabled(db, user.id)
        raise _totp_not_enabled()
    remaining = await repository.factor_count(db, user.id) - len(devices)
    if remaining == 0:
        await factors.refuse_if_required(db, services, user)
    if password is not None:
        attempt = await _check_password(db, services, user, password, context, "disable")
        method: str = "password"
    else:
        assert code is not None
        attempt = await guessing.code_attempt(services, user.id)
        spent = await spend_code(db, services, user, code, context, devices=devices)
        if spent is None:
            await record_failure(db, user.id, context, "disable")
            raise invalid_code()
        method = spent
    await guessing.succeeded(services, attempt)
    await repository.delete_totp_devices(db, user.id)
    revoked = await factors.factors_removed(
        db,
        services,
        auth,
        context,
        removed=[(MfaMethod.TOTP, d.id, d.name) for d in devices],
        verified_with=method,
    )
    return revoked, remaining > 0


async def regenerate_backup_codes(
    db: AsyncSession,
    services: AppServices,
    auth: SignedInUser,
    code: str | None,
    context: RequestContext,
) -> tuple[list[str], int]:
    """A new set of 10 codes; every earlier code (used or not) stops working, and so does
    every other session (one may have been opened with an old code).

    Proven with a TOTP or backup code, or — for users whose factors are passkeys — by a
    second factor proven within the recent-authentication window (passkey step-up)."""
    user = auth.user
    await _require_enabled(db, user.id)
    if code is None:
        factors.require_recent_auth(services.settings, auth.session, second_factor=True)
        spent: str = "recent_mfa"
    else:
        attempt = await guessing.code_attempt(services, user.id)
        spent_code = await spend_code(db, services, user, code, context)
        if spent_code is None:
            await record_failure(db, user.id, context, "regenerate_backup_codes")
            raise invalid_code()
        await guessing.succeeded(services, attempt)
        spent = spent_code
    codes = await sealed.new_backup_codes(db, services, user.id)
    revoked = await factors.end_other_sessions(
        db, user, auth.session.id, "backup_codes_regenerated"
    )
    emit_user_event(db, "mfa.backup_codes_regenerated", user.id, other_sessions_revoked=revoked)
    factors.mail_change(db, services, user, context, MailKind.BACKUP_CODES_REGENERATED, revoked)
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
    await _require_enabled(db, user.id)
    attempt = await guessing.code_attempt(services, user.id)
    spent = await spend_code(db, services, user, code, context)
    if spent is None:
        await record_failure(db, user.id, context, purpose)
        raise invalid_code()
    await guessing.succeeded(services, attempt)
    return spent


# --- the second step of login ---------------------------------------------------------------


async def start_login_challenge(
    db: AsyncSession,
    services: AppServices,
    user: User,
    context: RequestContext,
    *,
    persist: bool,
    first_factor: str,
) -> str:
    """Open the second step of a sign-in whose first factor (``pwd``, ``fed``) was right;
    returns the ``session_token`` that names it (stored only as a hash)."""
    raw = crypto.new_token(crypto.MFA_SESSION_PREFIX)
    ttl = dt.timedelta(seconds=services.settings.mfa_challenge_ttl_seconds)
    await repository.add_challenge(
        db,
        MfaChallenge(
            token_hash=crypto.hash_token(raw),
            user_id=user.id,
            expires_at=utcnow() + ttl,
            persist_session=persist,
            device_fingerprint=context.device_fingerprint,
            ip=context.ip,
            user_agent=(context.user_agent or "")[:512] or None,
            first_factor=None if first_factor == "pwd" else first_factor,
        ),
    )
    return raw


async def login_methods(db: AsyncSession, user_id: uuid.UUID) -> list[MfaMethod]:
    """What the MFA step accepts for this user: ``totp`` and/or ``passkey`` (the factors they
    hold), and ``backup_code``."""
    methods = []
    if await repository.totp_devices(db, user_id):
        methods.append(MfaMethod.TOTP)
    if await repository.passkeys(db, user_id):
        methods.append(MfaMethod.PASSKEY)
    return [*methods, MfaMethod.BACKUP_CODE]


async def open_login_challenge(
    db: AsyncSession, services: AppServices, session_token: str
) -> tuple[MfaChallenge, User]:
    """The pending login a ``session_token`` names, and its user, or 401."""
    max_attempts = services.settings.mfa_challenge_max_attempts
    if not crypto.looks_like(session_token, crypto.MFA_SESSION_PREFIX):
        raise session_invalid()
    challenge = await repository.challenge_by_hash(db, crypto.hash_token(session_token))
    if (
        challenge is None
        or challenge.consumed_at is not None
        or challenge.failed_attempts >= max_attempts
    ):
        raise session_invalid()
    if challenge.expires_at <= utcnow():
        raise Unauthorized(
            "This sign-in attempt has expired. Sign in again.", code="mfa_session_expired"
        )
    user = await users_repository.get_by_id(db, challenge.user_id)
    if (
        user is None
        or user.status != UserStatus.ACTIVE
        or not await repository.is_enabled(db, user.id)
    ):
        raise session_invalid()  # account suspended or MFA switched off since the password step
    return challenge, user


async def count_login_failure(
    db: AsyncSession, services: AppServices, challenge: MfaChallenge
) -> int:
    """One more wrong answer on a pending login; returns how many tries are left."""
    max_attempts = services.settings.mfa_challenge_max_attempts
    failures = await repository.count_challenge_failure(db, challenge.id) or max_attempts
    return max(0, max_attempts - failures)


async def finish_login(
    db: AsyncSession,
    services: AppServices,
    user: User,
    challenge: MfaChallenge,
    context: RequestContext,
    *,
    method: str,
    second_factor_amr: list[str],
) -> SessionGrant:
    """The second factor was right: spend the pending login and open the session.

    The session's ``amr`` is the first factor the challenge remembers (``pwd``, or ``fed``
    after an OpenID Connect sign-in) followed by ``second_factor_amr``.
    """
    if not await repository.consume_challenge(
        db, challenge.id, now=utcnow(), max_attempts=services.settings.mfa_challenge_max_attempts
    ):
        # A parallel request spent or killed it first; rolling back leaves the factor unspent.
        raise session_invalid()
    context = dataclasses.replace(
        context, device_fingerprint=context.device_fingerprint or challenge.device_fingerprint
    )
    assessment = await risk.assess(db, services, user, context)
    amr = [challenge.first_factor or "pwd", *second_factor_amr]
    grant = await sessions.start_session(
        db,
        services,
        user,
        context,
        persist=challenge.persist_session,
        amr=amr,
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
        details={"session_id": str(grant.session.id), "amr": amr, "mfa_method": method},
    )
    return grant


@dataclass(frozen=True)
class LoginVerified:
    grant: SessionGrant
    #: Unused backup codes left after a backup-code sign-in (so the console can warn); else None.
    backup_codes_remaining: int | None


async def verify_login(
    db: AsyncSession, services: AppServices, session_token: str, code: str, context: RequestContext
) -> LoginVerified:
    """Finish a login that answered ``mfa_required`` (docs/api.md §3 ``/v1/auth/mfa/verify``).

    The ``session_token`` is opaque (never a JWT, so never a bearer token), lives
    ``MFA_CHALLENGE_TTL_SECONDS``, is spent by the first correct code and dies after
    ``MFA_CHALLENGE_MAX_ATTEMPTS`` wrong ones.
    """
    challenge, user = await open_login_challenge(db, services, session_token)
    attempt = await guessing.code_attempt(services, challenge.user_id)
    method = await spend_code(db, services, user, code, context)
    if method is None:
        remaining = await count_login_failure(db, services, challenge)
        await record_failure(db, user.id, context, "login", attempts_remaining=remaining)
        raise invalid_code(login=True, attempts_remaining=remaining)
    await guessing.succeeded(services, attempt)
    grant = await finish_login(
        db, services, user, challenge, context, method=method, second_factor_amr=["otp"]
    )
    codes_left: int | None = None
    if method == MfaMethod.BACKUP_CODE:
        codes_left = await repository.count_unused_backup_codes(db, user.id)
    return LoginVerified(grant, codes_left)


# --- step-up --------------------------------------------------------------------------------


async def mark_step_up(
    db: AsyncSession,
    services: AppServices,
    auth: SignedInUser,
    context: RequestContext,
    *,
    method: str,
    amr: str,
) -> IssuedToken:
    """The session proved a second factor now: a fresh ``mfa_at`` (and recent-auth time)."""
    user, session = auth.user, auth.session
    now = utcnow()
    session.mfa_verified_at = now
    session.last_active_at = now
    if amr not in (session.amr or []):
        session.amr = [*(session.amr or []), amr]
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


async def step_up(
    db: AsyncSession, services: AppServices, auth: SignedInUser, code: str, context: RequestContext
) -> IssuedToken:
    """Re-prove the second factor for the current session (docs/api.md §3, §4: a fresh ``mfa_at``).

    Policies that demand "MFA proven within N seconds" (trading actions) read ``mfa_at`` from
    the access token this returns.
    """
    user, session = auth.user, auth.session
    await _require_enabled(db, user.id)
    attempt = await guessing.code_attempt(services, user.id)
    method = await spend_code(db, services, user, code, context)
    if method is None:
        await record_failure(db, user.id, context, "step_up", session_id=str(session.id))
        raise invalid_code()
    await guessing.succeeded(services, attempt)
    return await mark_step_up(db, services, auth, context, method=method, amr="otp")


# --- recent authentication ------------------------------------------------------------------


async def reauthenticate(
    db: AsyncSession,
    services: AppServices,
    auth: SignedInUser,
    context: RequestContext,
    *,
    password: str | None = None,
    code: str | None = None,
) -> dt.datetime:
    """Prove it is still the account holder (password, or a TOTP/backup code): the session's
    ``auth_time`` becomes now, which opens the recent-authentication window for enrolling or
    removing factors. Returns when that window closes."""
    user, session = auth.user, auth.session
    if password is not None:
        attempt = await _check_password(db, services, user, password, context, "reauthenticate")
        method: str = "password"
    else:
        assert code is not None
        await _require_enabled(db, user.id)
        attempt = await guessing.code_attempt(services, user.id)
        spent = await spend_code(db, services, user, code, context)
        if spent is None:
            await record_failure(db, user.id, context, "reauthenticate")
            raise invalid_code()
        method = spent
    await guessing.succeeded(services, attempt)
    now = utcnow()
    session.auth_time = now
    session.last_active_at = now
    await db.flush()
    await audit.record(
        db,
        "auth.reauthenticated",
        context=context,
        user_id=user.id,
        details={"session_id": str(session.id), "method": method},
    )
    return now + dt.timedelta(seconds=services.settings.recent_auth_seconds)
