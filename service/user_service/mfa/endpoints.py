"""/v1/mfa/* (TOTP enrolment, backup codes) and the MFA steps of /v1/auth (verify, step-up)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from user_service.auth.dependencies import CurrentUser
from user_service.auth.endpoints import grant_response
from user_service.deps import DbSession, RequestCtx, Services
from user_service.mfa import service
from user_service.mfa.schemas import (
    BackupCodesOut,
    CodeIn,
    DisableIn,
    MfaDisabledOut,
    MfaVerifiedOut,
    MfaVerifyIn,
    StepUpOut,
    TotpSetupOut,
)
from user_service.sessions.cookies import no_store

router = APIRouter(prefix="/v1/mfa", tags=["mfa"])
auth_router = APIRouter(prefix="/v1/auth", tags=["mfa"])


@router.post("/totp/setup", response_model=TotpSetupOut)
async def totp_setup(
    response: Response, auth: CurrentUser, services: Services, db: DbSession
) -> TotpSetupOut:
    """A new secret to scan (``otpauth_uri`` as a QR data URI); enable confirms it."""
    no_store(response)
    setup = await service.setup_totp(db, services, auth.user)
    return TotpSetupOut(
        secret=setup.secret, otpauth_uri=setup.otpauth_uri, qr_code_uri=setup.qr_code_uri
    )


@router.post("/totp/enable", response_model=BackupCodesOut)
async def totp_enable(
    body: CodeIn,
    response: Response,
    auth: CurrentUser,
    services: Services,
    db: DbSession,
    context: RequestCtx,
) -> BackupCodesOut:
    """Confirm with a current TOTP code; the 10 backup codes are shown this once."""
    no_store(response)
    codes, revoked = await service.enable_totp(db, services, auth, body.code, context)
    return BackupCodesOut(backup_codes=codes, other_sessions_revoked=revoked)


@router.post("/totp/disable", response_model=MfaDisabledOut)
async def totp_disable(
    body: DisableIn, auth: CurrentUser, services: Services, db: DbSession, context: RequestCtx
) -> MfaDisabledOut:
    revoked = await service.disable_totp(
        db, services, auth, context, code=body.code, password=body.password
    )
    return MfaDisabledOut(other_sessions_revoked=revoked)


@router.post("/backup-codes/regenerate", response_model=BackupCodesOut)
async def regenerate_backup_codes(
    body: CodeIn,
    response: Response,
    auth: CurrentUser,
    services: Services,
    db: DbSession,
    context: RequestCtx,
) -> BackupCodesOut:
    no_store(response)
    codes, revoked = await service.regenerate_backup_codes(db, services, auth, body.code, context)
    return BackupCodesOut(backup_codes=codes, other_sessions_revoked=revoked)


@auth_router.post("/mfa/verify", response_model=MfaVerifiedOut)
async def mfa_verify(
    body: MfaVerifyIn, response: Response, services: Services, db: DbSession, context: RequestCtx
) -> MfaVerifiedOut:
    """Second step of login: the ``session_token`` from ``/login`` and a TOTP or backup code.

    Public on purpose: the ``session_token`` is the credential. Answers like a login, plus
    ``backup_codes_remaining`` after a backup-code sign-in (null after a TOTP code).
    """
    verified = await service.verify_login(db, services, body.session_token, body.code, context)
    token = await grant_response(response, services, db, verified.grant)
    return MfaVerifiedOut(
        **token.model_dump(), backup_codes_remaining=verified.backup_codes_remaining
    )


@auth_router.post("/step-up", response_model=StepUpOut)
async def step_up(
    body: CodeIn,
    response: Response,
    auth: CurrentUser,
    services: Services,
    db: DbSession,
    context: RequestCtx,
) -> StepUpOut:
    """Re-prove the second factor; the new access token's ``mfa_at`` is now."""
    no_store(response)
    access = await service.step_up(db, services, auth, body.code, context)
    return StepUpOut(access_token=access.token, expires_in=access.expires_in)
