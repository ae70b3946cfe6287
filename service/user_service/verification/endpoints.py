"""/v1/auth/email/verify (public: the emailed token is the credential) and /resend."""

from __future__ import annotations

from fastapi import APIRouter, status

from user_service.auth.dependencies import CurrentUser
from user_service.deps import DbSession, RequestCtx, Services
from user_service.verification import service
from user_service.verification.schemas import (
    EmailVerifiedOut,
    VerificationSentOut,
    VerifyEmailIn,
)

router = APIRouter(prefix="/v1/auth/email", tags=["verification"])


@router.post("/verify", response_model=EmailVerifiedOut)
async def verify_email(
    body: VerifyEmailIn, services: Services, db: DbSession, context: RequestCtx
) -> EmailVerifiedOut:
    user = await service.verify_email(db, services, body.token, context)
    return EmailVerifiedOut(email=user.email, email_verified=user.email_verified)


@router.post("/resend", status_code=status.HTTP_202_ACCEPTED, response_model=VerificationSentOut)
async def resend_verification(
    auth: CurrentUser, services: Services, db: DbSession, context: RequestCtx
) -> VerificationSentOut:
    await service.resend(db, services, auth.user, context)
    return VerificationSentOut()
