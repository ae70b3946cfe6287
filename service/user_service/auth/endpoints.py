"""/v1/auth/register and /v1/auth/login."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter, Response, status

from user_service.auth import service
from user_service.auth.schemas import LoginIn, MfaRequiredOut, RegisterIn, RegisterOut, TokenOut
from user_service.deps import DbSession, RequestCtx, Services
from user_service.sessions.cookies import no_store, set_refresh_cookie
from user_service.sessions.service import SessionGrant
from user_service.state import AppServices
from user_service.users.service import user_out

router = APIRouter(prefix="/v1/auth", tags=["auth"])


@router.post("/register", status_code=status.HTTP_201_CREATED, response_model=RegisterOut)
async def register(
    body: RegisterIn, services: Services, db: DbSession, context: RequestCtx
) -> RegisterOut:
    user = await service.register(db, services, body, context)
    return RegisterOut(user_id=str(user.id), email=user.email, name=user.name, status=user.status)


async def grant_response(
    response: Response, services: AppServices, db: DbSession, grant: SessionGrant
) -> TokenOut:
    """The body and cookie of every successful sign-in (login, MFA step)."""
    no_store(response)
    assert grant.refresh_token is not None
    set_refresh_cookie(response, services.settings, grant.refresh_token, grant.session.persistent)
    return TokenOut(
        access_token=grant.access.token,
        expires_in=grant.access.expires_in,
        user=await user_out(db, grant.user),
    )


@router.post("/login", response_model=TokenOut | MfaRequiredOut)
async def login(
    body: LoginIn, response: Response, services: Services, db: DbSession, context: RequestCtx
) -> TokenOut | MfaRequiredOut:
    """Password step. With MFA on, answers ``mfa_required`` and sets no cookie."""
    if body.device_fingerprint:
        context = dataclasses.replace(context, device_fingerprint=body.device_fingerprint)
    outcome = await service.login(db, services, body, context)
    if isinstance(outcome, service.MfaPending):
        no_store(response)
        return MfaRequiredOut(
            session_token=outcome.session_token,
            methods=outcome.methods,
            expires_in=outcome.expires_in,
        )
    return await grant_response(response, services, db, outcome)
