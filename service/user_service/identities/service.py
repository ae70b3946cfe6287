"""Sign-in with an OpenID Connect provider and the identities linked to accounts (docs/oidc.md).

An account is linked to a provider account by the provider's ``sub`` only, never by e-mail:

* a known ``sub`` signs its account in (the second factor and the risk rules still apply);
* an unknown ``sub`` whose *verified* e-mail names an account gets a pending link, finished
  only with that account's password (and second factor when it has one);
* an unknown ``sub`` with a new verified e-mail creates an account, its e-mail verified and
  without a password.

A flow's ``state`` is single-use, expires after ``OIDC_FLOW_TTL_SECONDS`` and is bound to the
browser that started it by an HttpOnly cookie; the PKCE verifier and the nonce are derived
from that cookie (HMAC), so neither is stored and a stolen ``state`` is useless elsewhere.
The provider's tokens are never stored: only the verified ``sub`` and e-mail are kept.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from user_service.audit import service as audit
from user_service.audit.service import RequestContext
from user_service.auth import guessing
from user_service.auth import service as auth_service
from user_service.auth.dependencies import SignedInUser
from user_service.db import utcnow
from user_service.events.outbox import emit_user_event
from user_service.exceptions import BadRequest, Conflict, NotFound, RateLimited, Unauthorized
from user_service.identities import repository
from user_service.identities.provider import (
    CodeRejected,
    IdTokenInvalid,
    OidcProvider,
    VerifiedIdentity,
    configured_providers,
    invalid_id_token,
    provider_for,
)
from user_service.kit import crypto
from user_service.kit.passwords import has_usable_password, unusable_password
from user_service.mail import messages
from user_service.mail.templates import MailKind
from user_service.mfa import passkeys
from user_service.mfa import repository as mfa_repository
from user_service.mfa import service as mfa_service
from user_service.mfa.enums import MfaMethod
from user_service.models import ExternalIdentity, OidcFlow, User, UserStatus
from user_service.sessions import repository as sessions_repository
from user_service.sessions.service import SessionGrant
from user_service.state import AppServices
from user_service.users import repository as users_repository

LINK_TOKEN_PREFIX = "qol_"
FEDERATED_AMR = "fed"  # the session's first factor was a federated identity provider
LINK_MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class StartedFlow:
    authorization_url: str
    binding: str  # the cookie value; never stored
    expires_in: int


@dataclass(frozen=True)
class LinkRequired:
    provider: str
    email: str
    link_token: str
    mfa_required: bool
    methods: list[MfaMethod]  # the second factors the link accepts ([] without MFA)
    expires_in: int


@dataclass(frozen=True)
class Linked:
    identity: ExternalIdentity


CallbackOutcome = SessionGrant | auth_service.MfaPending | LinkRequired | Linked


def _derive(binding: str, purpose: str, state: str) -> str:
    """The PKCE verifier or the nonce of a flow: 43 URL-safe characters (RFC 7636 §4.1)."""
    digest = hmac.new(binding.encode(), f"{purpose}:{state}".encode(), hashlib.sha256).digest()
    return crypto.b64url(digest)


def redirect_uri(services: AppServices, provider: str) -> str:
    """Where the provider sends the browser back: a page of the console, which posts the code
    and state to ``/v1/auth/oidc/{provider}/callback``. Register it with the provider."""
    return f"{services.settings.frontend_url}/login/{provider}/callback"


def enabled_providers(services: AppServices) -> list[tuple[str, str]]:
    return [
        (name, config.display_name)
        for name, config in configured_providers(services.settings).items()
    ]


def _provider(services: AppServices, name: str) -> OidcProvider:
    return provider_for(services.extras, services.settings, name)


# --- start ---------------------------------------------------------------------------------


async def start(
    db: AsyncSession,
    services: AppServices,
    provider_name: str,
    context: RequestContext,
    *,
    persist: bool = False,
    link_for: SignedInUser | None = None,
) -> StartedFlow:
    """Begin an authorization-code flow: sign-in, or linking to the signed-in ``link_for``."""
    provider = _provider(services, provider_name)
    limit = await services.rate_limiter.hit(
        services.settings.rate_limit_oidc_start_ip, f"oidc-start:{context.ip}"
    )
    if not limit.allowed:
        raise RateLimited(limit.retry_after)
    state = crypto.new_token("")
    binding = crypto.new_token("")
    url = await provider.authorization_url(
        redirect_uri=redirect_uri(services, provider_name),
        state=state,
        nonce=_derive(binding, "nonce", state),
        code_verifier=_derive(binding, "pkce", state),
    )
    now = utcnow()
    ttl = services.settings.oidc_flow_ttl_seconds
    await repository.delete_expired_flows(db, before=now - dt.timedelta(seconds=ttl))
    db.add(
        OidcFlow(
            provider=provider_name,
            purpose="link" if link_for else "sign_in",
            state_hash=crypto.hash_token(state),
            binding_hash=crypto.hash_token(binding),
            user_id=link_for.user.id if link_for else None,
            session_id=link_for.session.id if link_for else None,
            persist_session=persist,
            device_fingerprint=(context.device_fingerprint or "")[:128] or None,
            created_at=now,
            expires_at=now + dt.timedelta(seconds=ttl),
        )
    )
    await db.flush()
    return StartedFlow(authorization_url=url, binding=binding, expires_in=ttl)


async def start_link(
    db: AsyncSession,
    services: AppServices,
    provider_name: str,
    auth: SignedInUser,
    context: RequestContext,
    *,
    password: str | None,
    code: str | None,
) -> StartedFlow:
    """Linking adds a way into the account, so the signed-in user proves it again first
    (password, or a TOTP or backup code): a stolen session alone cannot add one."""
    _provider(services, provider_name)  # 404 before any secret is checked
    if password is not None:
        attempt = await guessing.confirm_password(
            db, services, auth.user, password, context, failed_event="user.identity_link_failed"
        )
        await guessing.succeeded(services, attempt)
    elif code is not None:
        await mfa_service.prove_second_factor(
            db, services, auth.user, code, context, "identity_link"
        )
    return await start(db, services, provider_name, context, link_for=auth)


# --- callback ------------------------------------------------------------------------------


def _invalid_state() -> BadRequest:
    return BadRequest(
        "This sign-in attempt is not valid or has expired. Start again.",
        code="invalid_oidc_state",
        commit=True,
    )


async def _failed(
    db: AsyncSession,
    context: RequestContext,
    provider: str,
    reason: str,
    user_id: uuid.UUID | None = None,
    risk_score: int = 40,
) -> None:
    await audit.record(
        db,
        "login.failed",
        context=context,
        user_id=user_id,
        actor="anonymous",
        risk_score=risk_score,
        details={"reason": reason, "provider": provider},
    )


async def _claim_flow(
    db: AsyncSession, provider: str, state: str, binding: str | None, context: RequestContext
) -> OidcFlow:
    flow = await repository.flow_by_state(db, crypto.hash_token(state))
    bound = (
        flow is not None
        and binding is not None
        and crypto.constant_time_equals(flow.binding_hash, crypto.hash_token(binding))
    )
    if flow is None or not bound or flow.provider != provider:
        await _failed(db, context, provider, "oidc_invalid_state")
        raise _invalid_state()
    if not await repository.consume_flow(db, flow.id, now=utcnow()):
        # Spent already (a replayed redirect) or expired.
        await _failed(db, context, provider, "oidc_state_replayed_or_expired")
        raise _invalid_state()
    return flow


async def callback(
    db: AsyncSession,
    services: AppServices,
    provider_name: str,
    code: str,
    state: str,
    binding: str | None,
    context: RequestContext,
) -> CallbackOutcome:
    """The provider sent the browser back with ``code`` and ``state``: check the state
    against this browser, exchange the code (with the PKCE verifier), verify the ID token."""
    provider = _provider(services, provider_name)
    flow = await _claim_flow(db, provider_name, state, binding, context)
    assert binding is not None
    try:
        id_token = await provider.exchange_code(
            code=code,
            redirect_uri=redirect_uri(services, provider_name),
            code_verifier=_derive(binding, "pkce", state),
        )
        identity = await provider.verify_id_token(id_token, nonce=_derive(binding, "nonce", state))
    except CodeRejected as exc:
        await _failed(db, context, provider_name, f"oidc_code_rejected:{exc.error}")
        raise BadRequest(
            "The sign-in provider did not accept this sign-in. Start again.",
            code="oidc_code_rejected",
            commit=True,
        ) from exc
    except IdTokenInvalid as exc:
        await _failed(db, context, provider_name, f"oidc_id_token_{exc.reason}", risk_score=60)
        raise invalid_id_token() from exc

    if flow.purpose == "link":
        return await _link_signed_in(db, services, flow, identity, context)
    known = await repository.identity_by_subject(db, provider_name, identity.subject)
    if known is not None:
        return await _sign_in_known(db, services, flow, known, context)
    if identity.email is None or not identity.email_verified:
        await _failed(db, context, provider_name, "oidc_email_not_verified")
        raise BadRequest(
            "Your account at the sign-in provider has no verified e-mail address. Verify it "
            "there, or register with a password.",
            code="oidc_email_not_verified",
            commit=True,
        )
    existing = await users_repository.get_by_email(db, identity.email)
    if existing is not None:
        return await _offer_link(db, services, flow, existing, identity, context)
    return await _register(db, services, flow, identity, context)


async def _sign_in_known(
    db: AsyncSession,
    services: AppServices,
    flow: OidcFlow,
    known: ExternalIdentity,
    context: RequestContext,
) -> SessionGrant | auth_service.MfaPending:
    user = await users_repository.get_by_id(db, known.user_id)
    assert user is not None  # the foreign key cascades
    await auth_service.refuse_inactive(db, user, context)
    known.last_used_at = utcnow()
    return await _sign_in(db, services, user, flow, context)


async def _sign_in(
    db: AsyncSession,
    services: AppServices,
    user: User,
    flow: OidcFlow,
    context: RequestContext,
    *,
    amr: list[str] | None = None,
    mfa_proven: bool = False,
) -> SessionGrant | auth_service.MfaPending:
    """The rest of a sign-in, as after a password: second factor, risk rules, session."""
    context = dataclasses.replace(
        context, device_fingerprint=context.device_fingerprint or flow.device_fingerprint
    )
    return await auth_service.finish_sign_in(
        db,
        services,
        user,
        context,
        persist=flow.persist_session,
        amr=amr or [FEDERATED_AMR],
        mfa_proven=mfa_proven,
    )


async def _offer_link(
    db: AsyncSession,
    services: AppServices,
    flow: OidcFlow,
    user: User,
    identity: VerifiedIdentity,
    context: RequestContext,
) -> LinkRequired:
    """Never link by e-mail alone: whoever controls the provider account may not be the
    account's owner (a recycled address, a provider that got it wrong)."""
    token = crypto.new_token(LINK_TOKEN_PREFIX)
    ttl = services.settings.oidc_flow_ttl_seconds
    flow.link_token_hash = crypto.hash_token(token)
    flow.link_user_id = user.id
    flow.link_subject = identity.subject
    flow.link_email = identity.email
    flow.link_expires_at = utcnow() + dt.timedelta(seconds=ttl)
    await audit.record(
        db,
        "identity.link_requested",
        context=context,
        user_id=user.id,
        actor="anonymous",
        risk_score=30,
        details={"provider": flow.provider},
    )
    assert identity.email is not None
    mfa_on = await mfa_repository.is_enabled(db, user.id)
    return LinkRequired(
        provider=flow.provider,
        email=identity.email,
        link_token=token,
        mfa_required=mfa_on,
        methods=await mfa_service.login_methods(db, user.id) if mfa_on else [],
        expires_in=ttl,
    )


async def _register(
    db: AsyncSession,
    services: AppServices,
    flow: OidcFlow,
    identity: VerifiedIdentity,
    context: RequestContext,
) -> SessionGrant | auth_service.MfaPending:
    limit = await services.rate_limiter.hit(
        services.settings.rate_limit_register_ip, f"register:{context.ip}"
    )
    if not limit.allowed:
        raise RateLimited(limit.retry_after)
    assert identity.email is not None
    now = utcnow()
    user = User(
        id=uuid.uuid4(),
        email=identity.email,
        password_hash=unusable_password(),
        name=identity.name or identity.email.split("@", 1)[0][:200],
        timezone="Asia/Kolkata",
        locale="en-IN",
        status=UserStatus.ACTIVE,
        email_verified_at=now,  # the provider verified it (email_verified: true)
    )
    await auth_service.create_account(db, user, context, via=flow.provider)
    await _add_identity(db, services, user, flow.provider, identity, context, how="account_created")
    return await _sign_in(db, services, user, flow, context)


async def _add_identity(
    db: AsyncSession,
    services: AppServices,
    user: User,
    provider: str,
    identity: VerifiedIdentity,
    context: RequestContext,
    *,
    how: str,
) -> ExternalIdentity:
    now = utcnow()
    row = ExternalIdentity(
        id=uuid.uuid4(),
        user_id=user.id,
        provider=provider,
        subject=identity.subject,
        email=identity.email,
        created_at=now,
        last_used_at=now if how != "signed_in_link" else None,
    )
    db.add(row)
    try:
        await db.flush()
    except IntegrityError as exc:  # a concurrent link of the same sub won; nothing is kept
        raise Conflict(
            "This sign-in account is already linked to a Quantagro account.",
            code="identity_in_use",
        ) from exc
    await audit.record(
        db,
        "identity.linked",
        context=context,
        user_id=user.id,
        details={"provider": provider, "identity_id": str(row.id), "how": how},
    )
    emit_user_event(db, "user.identity_linked", user.id, provider=provider, identity_id=str(row.id))
    _mail(db, services, user, MailKind.IDENTITY_LINKED, row, context)
    return row


def _mail(
    db: AsyncSession,
    services: AppServices,
    user: User,
    kind: MailKind,
    identity: ExternalIdentity,
    context: RequestContext,
) -> None:
    providers = configured_providers(services.settings)
    config = providers.get(identity.provider)
    services.mail.notify(
        db,
        user,
        messages.identity_changed,
        kind=kind,
        when=utcnow(),
        provider=config.display_name if config else identity.provider,
        account=identity.email,
        ip=context.ip_masked,
    )


async def _link_signed_in(
    db: AsyncSession,
    services: AppServices,
    flow: OidcFlow,
    identity: VerifiedIdentity,
    context: RequestContext,
) -> Linked:
    """The "Link Google" button of Security: the flow names the user and session that asked;
    the session must still be live."""
    assert flow.user_id is not None and flow.session_id is not None
    session = await sessions_repository.get_session(db, flow.session_id)
    user = await users_repository.get_by_id(db, flow.user_id)
    if (
        session is None
        or session.revoked_at is not None
        or session.expires_at <= utcnow()
        or user is None
        or user.status != UserStatus.ACTIVE
    ):
        raise Unauthorized("This session has been signed out.", code="session_revoked")
    known = await repository.identity_by_subject(db, flow.provider, identity.subject)
    if known is not None and known.user_id == user.id:
        return Linked(identity=known)
    if known is not None:
        await _failed(db, context, flow.provider, "oidc_identity_in_use", user.id)
        raise Conflict(
            "This sign-in account is already linked to another Quantagro account.",
            code="identity_in_use",
            commit=True,
        )
    if any(row.provider == flow.provider for row in await repository.identities_of(db, user.id)):
        raise Conflict(
            "Another account of this provider is already linked. Unlink it first.",
            code="identity_already_linked",
            commit=True,
        )
    row = await _add_identity(
        db, services, user, flow.provider, identity, context, how="signed_in_link"
    )
    return Linked(identity=row)


# --- the pending link ------------------------------------------------------------------------


def _link_invalid() -> Unauthorized:
    return Unauthorized(
        "This link request is not valid or has expired. Sign in with the provider again.",
        code="invalid_link_token",
    )


@dataclass(frozen=True)
class PasskeyProof:
    """A passkey assertion answering a link challenge (``/v1/auth/oidc/link/passkey``)."""

    challenge_id: uuid.UUID
    credential: dict[str, Any]


async def _pending_link(db: AsyncSession, link_token: str) -> OidcFlow:
    """The flow of a live link token (unspent, unexpired, fewer than 5 wrong proofs)."""
    if not crypto.looks_like(link_token, LINK_TOKEN_PREFIX):
        raise _link_invalid()
    flow = await repository.flow_by_link_token(db, crypto.hash_token(link_token))
    if (
        flow is None
        or flow.linked_at is not None
        or flow.link_user_id is None
        or flow.link_expires_at is None
        or flow.link_expires_at <= utcnow()
        or flow.link_failed_attempts >= LINK_MAX_ATTEMPTS
    ):
        raise _link_invalid()
    return flow


async def link_passkey_options(
    db: AsyncSession, services: AppServices, link_token: str, context: RequestContext
) -> passkeys.Ceremony:
    """The passkey ceremony for the second factor of a pending link."""
    flow = await _pending_link(db, link_token)
    assert flow.link_user_id is not None
    return await passkeys.start_link_proof(db, services, flow.link_user_id, context)


async def complete_link(
    db: AsyncSession,
    services: AppServices,
    link_token: str,
    password: str,
    code: str | None,
    context: RequestContext,
    *,
    passkey: PasskeyProof | None = None,
) -> SessionGrant:
    """Prove the account is yours (its password, and its second factor when it has one: a
    TOTP or backup code, or one of its passkeys), then link the provider account and sign
    in."""
    flow = await _pending_link(db, link_token)
    now = utcnow()
    assert flow.link_user_id is not None
    user = await users_repository.get_by_id(db, flow.link_user_id)
    assert user is not None and flow.link_subject is not None

    attempt = await guessing.password_attempt(services, user.id)
    if not await services.hasher.verify(password, user.password_hash):
        await repository.count_link_failure(db, flow.id)
        await _failed(db, context, flow.provider, "invalid_credentials", user.id, risk_score=50)
        raise Unauthorized("Incorrect password.", code="invalid_credentials", commit=True)
    await guessing.succeeded(services, attempt)
    mfa_enabled = await mfa_repository.is_enabled(db, user.id)
    if mfa_enabled and code is None and passkey is None:
        raise BadRequest(
            "This account has two-factor authentication: use its passkey, or enter a code "
            "from your authenticator app or a backup code.",
            code="mfa_code_required",
        )
    second_factor: list[str] = []
    if mfa_enabled and passkey is not None:
        if not await passkeys.prove_for_link(
            db, services, user.id, passkey.challenge_id, passkey.credential, context
        ):
            await repository.count_link_failure(db, flow.id)
            raise passkeys.link_refused()
        second_factor = ["hwk"]
    elif mfa_enabled:
        assert code is not None
        await mfa_service.prove_second_factor(db, services, user, code, context, "identity_link")
        second_factor = ["otp"]
    await auth_service.refuse_inactive(db, user, context)
    if not await repository.claim_link(db, flow.id, now=now, max_attempts=LINK_MAX_ATTEMPTS):
        raise _link_invalid()
    identity = VerifiedIdentity(
        subject=flow.link_subject, email=flow.link_email, email_verified=True, name=None
    )
    await _add_identity(
        db, services, user, flow.provider, identity, context, how="password_confirmed"
    )
    amr = [FEDERATED_AMR, "pwd", *second_factor]
    outcome = await _sign_in(db, services, user, flow, context, amr=amr, mfa_proven=mfa_enabled)
    assert isinstance(outcome, SessionGrant)
    return outcome


# --- the Security page -------------------------------------------------------------------------


async def list_identities(db: AsyncSession, user: User) -> list[ExternalIdentity]:
    return await repository.identities_of(db, user.id)


async def unlink(
    db: AsyncSession,
    services: AppServices,
    auth: SignedInUser,
    identity_id: uuid.UUID,
    context: RequestContext,
) -> None:
    """Remove a linked identity, never the last way to sign in: an account without a
    password keeps its last identity until it sets one (password reset)."""
    user = auth.user
    rows = await repository.identities_of(db, user.id)
    row = next((item for item in rows if item.id == identity_id), None)
    if row is None:
        raise NotFound("No such linked identity.", code="identity_not_found")
    if not has_usable_password(user.password_hash) and len(rows) <= 1:
        raise Conflict(
            "This is the only way to sign in to your account. Set a password first (use "
            "“Forgot password” to get a link), then unlink it.",
            code="last_sign_in_method",
        )
    await repository.delete_identity(db, row.id)
    await audit.record(
        db,
        "identity.unlinked",
        context=context,
        user_id=user.id,
        details={"provider": row.provider, "identity_id": str(row.id)},
    )
    emit_user_event(
        db, "user.identity_unlinked", user.id, provider=row.provider, identity_id=str(row.id)
    )
    _mail(db, services, user, MailKind.IDENTITY_UNLINKED, row, context)
