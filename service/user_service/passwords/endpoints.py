"""/v1/auth/password/change, /reset-request and /reset."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from user_service.auth.dependencies import CurrentUser
from user_service.deps import DbSession, RequestCtx, Services
from user_service.passwords import service
from user_service.passwords.schemas import (
    PasswordChangedOut,
    PasswordChangeIn,
    ResetIn,
    ResetRequestedOut,
    ResetRequestIn,
)
from user_service.sessions.cookies import no_store

router = APIRouter(prefix="/v1/auth/password", tags=["passwords"])


@router.post("/change", response_model=PasswordChangedOut)
async def change_password(
    body: PasswordChangeIn,
    auth: CurrentUser,
    services: Services,
    db: DbSession,
    context: RequestCtx,
) -> PasswordChangedOut:
    """Needs the current password; this session stays signed in, every other one is revoked."""
    revoked = await service.change_password(
        db, services, auth, body.current_password, body.new_password, context
    )
    return PasswordChangedOut(sessions_revoked=revoked)


@router.post(
    "/reset-request", status_code=status.HTTP_202_ACCEPTED, response_model=ResetRequestedOut
)
async def reset_request(
    body: ResetRequestIn, services: Services, db: DbSession, context: RequestCtx
) -> ResetRequestedOut:
    """Public. Always 202 with the same body: it never tells whether the address has an account."""
    await service.request_reset(db, services, body.email, context)
    return ResetRequestedOut()


@router.post("/reset", response_model=PasswordChangedOut)
async def reset_password(
    body: ResetIn, response: Response, services: Services, db: DbSession, context: RequestCtx
) -> PasswordChangedOut:
    """Public: the emailed token is the credential. Signs out every session; MFA stays on."""
    no_store(response)
    revoked = await service.reset_password(db, services, body.token, body.new_password, context)
    return PasswordChangedOut(detail="Your password has been reset.", sessions_revoked=revoked)
