"""Sign-in with an OpenID Connect provider, and the identities linked to an account."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Annotated

from fastapi import APIRouter, Cookie, Response, status

from user_service.auth import service as auth_service
from user_service.auth.dependencies import CurrentUser
from user_service.auth.endpoints import grant_response
from user_service.auth.schemas import MfaRequiredOut, TokenOut
from user_service.config import Settings
from user_service.deps import DbSession, RequestCtx, Services
from user_service.identities import service
from user_service.identities.schemas import (
    CompleteLinkIn,
    IdentitiesOut,
    IdentityOut,
    LinkedOut,
    LinkPasskeyOptionsIn,
    LinkRequiredOut,
    LinkStartIn,
    OidcCallbackIn,
    OidcStartIn,
    OidcStartOut,
    ProviderOut,
    ProvidersOut,
)
from user_service.kit.passwords import has_usable_password
from user_service.mfa.schemas import CeremonyOut
from user_service.models import ExternalIdentity
from user_service.sessions.cookies import no_store

router = APIRouter(tags=["identities"])

BINDING_COOKIE = "oidc_binding"
BINDING_COOKIE_PATH = "/v1/auth/oidc"


def _set_binding(response: Response, settings: Settings, started: service.StartedFlow) -> None:
    """Ties the flow to this browser. SameSite=Lax: the console's callback page runs after a
    cross-site redirect from the provider; the cookie only travels to the callback path."""
    response.set_cookie(
        BINDING_COOKIE,
        started.binding,
        max_age=started.expires_in,
        path=BINDING_COOKIE_PATH,
        secure=settings.cookie_secure,
        httponly=True,
        samesite="lax",
    )


def identity_out(row: ExternalIdentity) -> IdentityOut:
    return IdentityOut(
        identity_id=str(row.id),
        provider=row.provider,
        email=row.email,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
    )


@router.get("/v1/auth/providers", response_model=ProvidersOut)
async def providers(services: Services) -> ProvidersOut:
    """The identity providers this service signs in with (public: the login page asks)."""
    return ProvidersOut(
        providers=[
            ProviderOut(provider=name, display_name=display)
            for name, display in service.enabled_providers(services)
        ]
    )


@router.post("/v1/auth/oidc/{provider}/start", response_model=OidcStartOut)
async def start_sign_in(
    provider: str,
    body: OidcStartIn,
    response: Response,
    services: Services,
    db: DbSession,
    context: RequestCtx,
) -> OidcStartOut:
    """Begin "Sign in with …": answers the provider's authorization URL to send the browser
    to, and sets the HttpOnly cookie that binds the flow to this browser."""
    if body.device_fingerprint:
        context = dataclasses.replace(context, device_fingerprint=body.device_fingerprint)
    started = await service.start(db, services, provider, context, persist=body.persist_session)
    no_store(response)
    _set_binding(response, services.settings, started)
    return OidcStartOut(authorization_url=started.authorization_url, expires_in=started.expires_in)


@router.post(
    "/v1/auth/oidc/{provider}/callback",
    response_model=TokenOut | MfaRequiredOut | LinkRequiredOut | LinkedOut,
)
async def finish(
    provider: str,
    body: OidcCallbackIn,
    response: Response,
    services: Services,
    db: DbSession,
    context: RequestCtx,
    oidc_binding: Annotated[str | None, Cookie(include_in_schema=False)] = None,
) -> TokenOut | MfaRequiredOut | LinkRequiredOut | LinkedOut:
    """The console's callback page posts the provider's ``code`` and ``state`` here. Signs in
    (or answers ``mfa_required``), creates the account, answers ``link_required`` for an
    existing account's e-mail, or ``linked`` when a signed-in user was linking."""
    no_store(response)
    response.delete_cookie(
        BINDING_COOKIE,
        path=BINDING_COOKIE_PATH,
        secure=services.settings.cookie_secure,
        httponly=True,
        samesite="lax",
    )
    outcome = await service.callback(
        db, services, provider, body.code, body.state, oidc_binding, context
    )
    if isinstance(outcome, auth_service.MfaPending):
        return MfaRequiredOut(
            session_token=outcome.session_token,
            methods=outcome.methods,
            expires_in=outcome.expires_in,
        )
    if isinstance(outcome, service.LinkRequired):
        return LinkRequiredOut(
            provider=outcome.provider,
            email=outcome.email,
            link_token=outcome.link_token,
            mfa_required=outcome.mfa_required,
            methods=outcome.methods,
            expires_in=outcome.expires_in,
        )
    if isinstance(outcome, service.Linked):
        return LinkedOut(identity=identity_out(outcome.identity))
    return await grant_response(response, services, db, outcome)


@router.post("/v1/auth/oidc/link", response_model=TokenOut)
async def complete_link(
    body: CompleteLinkIn, response: Response, services: Services, db: DbSession, context: RequestCtx
) -> TokenOut:
    """Finish a ``link_required`` answer: the account's password (and second factor: a code,
    or a passkey) link the provider account to it and sign in."""
    proof = (
        service.PasskeyProof(body.passkey.challenge_id, body.passkey.credential)
        if body.passkey
        else None
    )
    grant = await service.complete_link(
        db, services, body.link_token, body.password, body.code, context, passkey=proof
    )
    return await grant_response(response, services, db, grant)


@router.post("/v1/auth/oidc/link/passkey/options", response_model=CeremonyOut)
async def link_passkey_options(
    body: LinkPasskeyOptionsIn,
    response: Response,
    services: Services,
    db: DbSession,
    context: RequestCtx,
) -> CeremonyOut:
    """The passkey ceremony for the second factor of a pending link (``methods`` lists
    ``passkey``); send its answer as ``passkey`` to ``/v1/auth/oidc/link``."""
    found = await service.link_passkey_options(db, services, body.link_token, context)
    no_store(response)
    return CeremonyOut(challenge_id=found.challenge_id, options=found.options)


@router.get("/v1/users/me/identities", response_model=IdentitiesOut)
async def my_identities(auth: CurrentUser, db: DbSession) -> IdentitiesOut:
    rows = await service.list_identities(db, auth.user)
    return IdentitiesOut(
        items=[identity_out(row) for row in rows],
        has_password=has_usable_password(auth.user.password_hash),
    )


@router.post("/v1/users/me/identities/{provider}/start", response_model=OidcStartOut)
async def start_link(
    provider: str,
    body: LinkStartIn,
    response: Response,
    auth: CurrentUser,
    services: Services,
    db: DbSession,
    context: RequestCtx,
) -> OidcStartOut:
    """ "Link Google" on Security: re-prove the password (or a second-factor code), then go to
    the provider; its callback answers ``linked``."""
    started = await service.start_link(
        db, services, provider, auth, context, password=body.password, code=body.code
    )
    no_store(response)
    _set_binding(response, services.settings, started)
    return OidcStartOut(authorization_url=started.authorization_url, expires_in=started.expires_in)


@router.delete("/v1/users/me/identities/{identity_id}", status_code=status.HTTP_204_NO_CONTENT)
async def unlink(
    identity_id: uuid.UUID,
    auth: CurrentUser,
    services: Services,
    db: DbSession,
    context: RequestCtx,
) -> Response:
    await service.unlink(db, services, auth, identity_id, context)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
