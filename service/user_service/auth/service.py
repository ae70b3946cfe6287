"""Registration and the password step of login (docs/api.md §3, §5)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from user_service.audit import service as audit
from user_service.audit.service import RequestContext
from user_service.auth import guessing, password_policy
from user_service.auth.schemas import LoginIn, RegisterIn
from user_service.db import commit_before_slow_call
from user_service.events.outbox import emit_user_event
from user_service.exceptions import Conflict, Forbidden, RateLimited, Unauthorized
from user_service.kit.ratelimit import Attempt
from user_service.mfa import repository as mfa_repository
from user_service.mfa import service as mfa_service
from user_service.mfa.enums import MfaMethod
from user_service.models import User, UserStatus
from user_service.risk import service as risk
from user_service.sessions import service as sessions
from user_service.state import AppServices
from user_service.users import repository as users_repository
from user_service.verification import service as verification


def _invalid_credentials() -> Unauthorized:
    return Unauthorized("Incorrect email or password.", code="invalid_credentials", commit=True)


async def register(
    db: AsyncSession, services: AppServices, data: RegisterIn, context: RequestContext
) -> User:
    settings = services.settings
    limit = await services.rate_limiter.hit(
        settings.rate_limit_register_ip, f"register:{context.ip}"
    )
    if not limit.allowed:
        raise RateLimited(limit.retry_after)
    password_policy.enforce(data.password, services.password_rules, (data.email, data.name))
    # Hash before touching the database: no lock is held during bcrypt.
    password_hash = await services.hasher.hash(data.password)
    user = User(
        id=uuid.uuid4(),
        email=data.email,
        password_hash=password_hash,
        name=data.name,
        phone=data.phone,
        timezone=data.timezone or "Asia/Kolkata",
        locale=data.locale or "en-IN",
        status=UserStatus.ACTIVE,
    )
    await create_account(db, user, context)
    await verification.send_verification_email(db, services, user)
    return user


async def create_account(
    db: AsyncSession, user: User, context: RequestContext, *, via: str | None = None
) -> None:
    """Insert a new user with the ``user`` role, audited and announced (``user.registered``);
    ``via`` names the identity provider when the account was created through one."""
    db.add(user)
    try:
        await db.flush()
    except IntegrityError as exc:
        raise Conflict(
            "An account with this email already exists.", code="email_already_registered"
        ) from exc
    roles = await users_repository.roles_by_name(db, ["user"])
    await users_repository.grant_role(db, user.id, roles["user"], granted_by="system")
    await audit.record(
        db,
        "user.registered",
        context=context,
        user_id=user.id,
        details={"via": via} if via else None,
    )
    emit_user_event(db, "user.registered", user.id, email=user.email)
    await db.flush()


@dataclass(frozen=True)
class MfaPending:
    session_token: str
    expires_in: int
    methods: list[MfaMethod]


async def _acquire_login_attempt(
    services: AppServices, db: AsyncSession, email: str, user: User | None, context: RequestContext
) -> tuple[Attempt, Attempt]:
    """Count this attempt per IP and per account *before* bcrypt runs (atomically), so a
    parallel burst of wrong passwords gets at most the limit (docs/api.md §5)."""
    limiter = services.rate_limiter
    by_ip = await limiter.acquire(services.settings.rate_limit_login_ip, f"login-ip:{context.ip}")
    by_account = await limiter.acquire(
        services.settings.rate_limit_login_account,
        guessing.password_key(user.id if user else None, email),
    )
    if by_ip.allowed and by_account.allowed:
        return by_ip, by_account
    # Refused before any password was looked at: neither window keeps this request.
    await limiter.refund(by_ip)
    await limiter.refund(by_account)
    await audit.record(
        db,
        "login.rate_limited",
        context=context,
        user_id=user.id if user else None,
        actor="anonymous",
        risk_score=70,
    )
    raise RateLimited(
        max(by_ip.retry_after, by_account.retry_after),
        "Too many failed sign-in attempts. Try again later.",
        commit=True,
    )


async def refuse_inactive(
    db: AsyncSession, user: User, context: RequestContext, **details: object
) -> None:
    """Every way of signing in (password, passkey, identity provider) refuses a suspended or
    deactivated account the same way: audited ``login.failed``, 403 ``account_inactive``;
    asked only once the first factor was proven, so the status is not revealed without it."""
    if user.status == UserStatus.ACTIVE:
        return
    await audit.record(
        db,
        "login.failed",
        context=context,
        user_id=user.id,
        risk_score=60,
        details={"reason": f"account_{user.status}", **details},
    )
    raise Forbidden(
        f"This account is {user.status}. Contact support to restore access.",
        code="account_inactive",
        commit=True,
    )


async def login(
    db: AsyncSession, services: AppServices, data: LoginIn, context: RequestContext
) -> sessions.SessionGrant | MfaPending:
    user = await users_repository.get_by_email(db, data.email)
    by_ip, by_account = await _acquire_login_attempt(services, db, data.email, user, context)
    # bcrypt takes a quarter of a second, longer in a storm's queue: no pooled connection (on
    # SQLite, not the write lock) is held meanwhile. Nothing was written yet, and the user row
    # read above was never locked on PostgreSQL either: the sign-in goes on with it as read.
    await commit_before_slow_call(db)
    if user is None:
        await services.hasher.burn_time(data.password)
        await audit.record(
            db,
            "login.failed",
            context=context,
            actor="anonymous",
            risk_score=40,
            details={"reason": "invalid_credentials"},
        )
        raise _invalid_credentials()

    valid, new_hash = await services.hasher.verify_and_update(data.password, user.password_hash)
    if not valid:
        await audit.record(
            db,
            "login.failed",
            context=context,
            user_id=user.id,
            actor="anonymous",
            risk_score=50,
            details={"reason": "invalid_credentials"},
        )
        raise _invalid_credentials()

    # The password was right: only failures count against the IP and the account.
    await services.rate_limiter.refund(by_ip)
    await services.rate_limiter.reset(by_account.rule, by_account.key)
    await refuse_inactive(db, user, context)

    if new_hash is not None:
        user.password_hash = new_hash
    return await finish_sign_in(
        db, services, user, context, persist=data.persist_session, amr=["pwd"]
    )


async def finish_sign_in(
    db: AsyncSession,
    services: AppServices,
    user: User,
    context: RequestContext,
    *,
    persist: bool,
    amr: list[str],
    mfa_proven: bool = False,
) -> sessions.SessionGrant | MfaPending:
    """After a first factor (a password, an identity provider): the second factor when the
    account has one and it was not proven with the first, else the risk rules and a new
    session."""
    if not mfa_proven and await mfa_repository.is_enabled(db, user.id):
        token = await mfa_service.start_login_challenge(
            db, services, user, context, persist=persist, first_factor=amr[0]
        )
        return MfaPending(
            session_token=token,
            expires_in=services.settings.mfa_challenge_ttl_seconds,
            methods=await mfa_service.login_methods(db, user.id),
        )

    assessment = await risk.assess(db, services, user, context)
    settings = services.settings
    if (
        not mfa_proven
        and settings.risky_sign_in_policy == "require_mfa"
        and assessment.risky(settings.risky_sign_in_score)
    ):
        await risk.refuse_without_mfa(db, services, user, assessment, context)
    grant = await sessions.start_session(
        db,
        services,
        user,
        context,
        persist=persist,
        amr=amr,
        mfa_verified=mfa_proven,
        risk=assessment,
    )
    await risk.on_sign_in(db, services, user, grant.session, assessment, context)
    await audit.record(
        db,
        "login.success",
        context=context,
        user_id=user.id,
        risk_score=assessment.score,
        details={"session_id": str(grant.session.id), "amr": amr},
    )
    return grant
