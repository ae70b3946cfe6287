"""/v1/auth/refresh, /v1/auth/logout and /v1/auth/sessions."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Body, Request, Response, status

from user_service.audit import service as audit
from user_service.auth.dependencies import BEARER_OPTIONAL, BearerTokenIfAny, CurrentUser
from user_service.db import utcnow
from user_service.deps import DbSession, RequestCtx, Services
from user_service.exceptions import Unauthorized
from user_service.kit.ip import mask_ip
from user_service.sessions import repository, service
from user_service.sessions.cookies import (
    clear_refresh_cookie,
    no_store,
    refuse_cross_site,
    set_refresh_cookie,
)
from user_service.sessions.schemas import (
    LogoutIn,
    LogoutOut,
    RefreshIn,
    RefreshOut,
    SessionOut,
    SessionsOut,
)

router = APIRouter(prefix="/v1/auth", tags=["sessions"])


@router.post("/refresh", response_model=RefreshOut, response_model_exclude_none=True)
async def refresh(
    request: Request,
    response: Response,
    services: Services,
    db: DbSession,
    context: RequestCtx,
    body: RefreshIn | None = Body(default=None),
) -> RefreshOut:
    """Rotate the refresh token (cookie, or body for non-browser clients) for a new access token."""
    refuse_cross_site(request, services.settings)
    no_store(response)
    from_body = body is not None and body.refresh_token is not None
    raw = (
        body.refresh_token
        if from_body and body
        else request.cookies.get(services.settings.cookie_name)
    )
    if not raw:
        raise Unauthorized("No refresh token was sent.", code="missing_refresh_token")
    grant = await service.rotate_refresh_token(db, services, raw, context)
    assert grant.refresh_token is not None
    if not from_body:
        set_refresh_cookie(
            response, services.settings, grant.refresh_token, grant.session.persistent
        )
    return RefreshOut(
        access_token=grant.access.token,
        expires_in=grant.access.expires_in,
        refresh_token=grant.refresh_token if from_body else None,
    )


@router.post("/logout", response_model=LogoutOut, openapi_extra=BEARER_OPTIONAL)
async def logout(
    request: Request,
    response: Response,
    services: Services,
    db: DbSession,
    context: RequestCtx,
    bearer: BearerTokenIfAny,
    body: LogoutIn | None = Body(default=None),
) -> LogoutOut:
    """Sign out this session (or every session). Works with the access token or the cookie."""
    refuse_cross_site(request, services.settings)
    no_store(response)
    all_devices = body.all_devices if body else False
    clear_refresh_cookie(response, services.settings)
    # Only a live credential signs anyone out: the access token of a live session, or the
    # current refresh token (a rotated one is reuse). A dead one falls through to the cookie.
    session = None
    if bearer is not None:
        try:
            principal = await services.tokens.verify(bearer, "user")
            session = await service.live_session(db, uuid.UUID(principal.session_id))
            if session is not None and str(session.user_id) != principal.user_id:
                session = None
        except Unauthorized:
            session = None  # an expired access token: fall back to the cookie
    if session is None:
        session = await service.session_for_logout(
            db, services, request.cookies.get(services.settings.cookie_name), context
        )
    if session is None:
        return LogoutOut(sessions_revoked=0)
    revoked = await service.revoke_user_sessions(
        db,
        session.user_id,
        reason="logout_all" if all_devices else "logout",
        only=None if all_devices else session.id,
    )
    await audit.record(
        db,
        "logout",
        context=context,
        user_id=session.user_id,
        details={"all_devices": all_devices, "sessions_revoked": revoked},
    )
    return LogoutOut(sessions_revoked=revoked)


@router.get("/sessions", response_model=SessionsOut)
async def list_sessions(auth: CurrentUser, db: DbSession) -> SessionsOut:
    rows = await repository.active_sessions(db, auth.user.id, utcnow())
    return SessionsOut(
        sessions=[
            SessionOut(
                session_id=str(row.id),
                created_at=row.created_at,
                last_active_at=row.last_active_at,
                ip=mask_ip(row.ip),
                user_agent=row.user_agent,
                device=row.device,
                mfa=row.mfa_verified_at is not None,
                current=row.id == auth.session.id,
                country=row.country,
                risk_score=row.risk_score,
                risk_reasons=list(row.risk_reasons or []),
            )
            for row in rows
        ]
    )


@router.delete("/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_session(
    session_id: uuid.UUID, auth: CurrentUser, db: DbSession, context: RequestCtx
) -> Response:
    await service.revoke_own_session(db, auth.user.id, session_id)
    await audit.record(
        db,
        "logout",
        context=context,
        user_id=auth.user.id,
        details={"session_id": str(session_id), "revoked_by": "user"},
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
