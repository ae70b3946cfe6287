"""/v1/auth/password/change, /reset-request and /reset."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from user_service.auth.dependencies import CurrentUser
from user_service.deps import DbSession, RequestCtx, Services
from user_service.passwords import service
from user_service.passwords.schemas import (
    PasswordChangedOut,
    PasswordChangeIn,
    ResetCheckIn,
    ResetCheckOut,
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


@router.post("/reset/check", response_model=ResetCheckOut)
async def check_reset_link(
    body: ResetCheckIn, response: Response, services: Services, db: DbSession, context: RequestCtx
) -> ResetCheckOut:
    """Public. 200 when the emailed link can still set a password; else 400
    ``reset_token_invalid`` with ``reason`` (``token_used``, ``token_replaced``,
    ``token_expired``, ``token_invalid``). Spends nothing: the console asks before it shows
    the form. The token travels in the body, never in a URL the server logs."""
    no_store(response)
    await service.check_reset_token(db, services, body.token, context)
    return ResetCheckOut()


@router.post("/reset", response_model=PasswordChangedOut)
async def reset_password(
    body: ResetIn, response: Response, services: Services, db: DbSession, context: RequestCtx
) -> PasswordChangedOut:
    """Public: the emailed token is the credential. Signs out every session; MFA stays on."""
    no_store(response)
    revoked = await service.reset_password(db, services, body.token, body.new_password, context)
    return PasswordChangedOut(detail="Your password has been reset.", sessions_revoked=revoked)
