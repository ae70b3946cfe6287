"""/v1/mfa/* (named factors: TOTP devices, passkeys; backup codes) and the MFA steps of
/v1/auth (verify, step-up, reauthenticate, passkey sign-in)."""

from __future__ import annotations

import dataclasses
import uuid

from fastapi import APIRouter, Response

from user_service.auth.dependencies import CurrentUser
from user_service.auth.endpoints import grant_response
from user_service.auth.schemas import TokenOut
from user_service.deps import DbSession, RequestCtx, Services
from user_service.mfa import factors, passkeys, service
from user_service.mfa.schemas import (
    BackupCodesOut,
    CeremonyOut,
    CodeIn,
    DisableIn,
    FactorListOut,
    FactorOut,
    FactorRemovedOut,
    FactorRenameIn,
    LoginPasskeyOptionsIn,
    LoginPasskeyVerifyIn,
    MfaDisabledOut,
    MfaVerifiedOut,
    MfaVerifyIn,
    PasskeyRegisteredOut,
    PasskeyRegisterIn,
    PasskeySignInIn,
    PasskeyVerifyIn,
    ReauthenticateIn,
    RecentAuthOut,
    RegenerateIn,
    StepUpOut,
    TotpSetupIn,
    TotpSetupOut,
)
from user_service.sessions.cookies import no_store

router = APIRouter(prefix="/v1/mfa", tags=["mfa"])
auth_router = APIRouter(prefix="/v1/auth", tags=["mfa"])


def _factor_out(found: factors.Factor) -> FactorOut:
    return FactorOut(**dataclasses.asdict(found))


def _ceremony_out(response: Response, found: passkeys.Ceremony) -> CeremonyOut:
    no_store(response)
    return CeremonyOut(challenge_id=found.challenge_id, options=found.options)


# --- factors --------------------------------------------------------------------------------


@router.get("/factors", response_model=FactorListOut)
async def list_factors(auth: CurrentUser, services: Services, db: DbSession) -> FactorListOut:
    """The user's authenticators (TOTP devices and passkeys), backup codes left, and whether
    policy requires a second factor."""
    found = await factors.overview(db, services, auth)
    return FactorListOut(
        factors=[_factor_out(item) for item in found.factors],
        mfa_enabled=bool(found.factors),
        backup_codes_remaining=found.backup_codes_remaining,
        mfa_required=found.mfa_required,
        recent_auth_until=found.recent_auth_until,
    )


@router.patch("/factors/{factor_id}", response_model=FactorOut)
async def rename_factor(
    factor_id: uuid.UUID,
    body: FactorRenameIn,
    auth: CurrentUser,
    services: Services,
    db: DbSession,
    context: RequestCtx,
) -> FactorOut:
    """A new name for one authenticator: audited and e-mailed, no recent authentication."""
    return _factor_out(await factors.rename(db, services, auth, factor_id, body.name, context))


@router.delete("/factors/{factor_id}", response_model=FactorRemovedOut)
async def remove_factor(
    factor_id: uuid.UUID, auth: CurrentUser, services: Services, db: DbSession, context: RequestCtx
) -> FactorRemovedOut:
    """Remove one authenticator: recent authentication required (403 ``recent_auth_required``);
    never the last one while policy requires MFA (409 ``last_factor``)."""
    revoked, still_on = await factors.remove(db, services, auth, factor_id, context)
    return FactorRemovedOut(mfa_enabled=still_on, other_sessions_revoked=revoked)


# --- TOTP (docs/api.md §3) ------------------------------------------------------------------


@router.post("/totp/setup", response_model=TotpSetupOut)
async def totp_setup(
    response: Response,
    auth: CurrentUser,
    services: Services,
    db: DbSession,
    body: TotpSetupIn | None = None,
) -> TotpSetupOut:
    """A new secret to scan (``otpauth_uri`` as a QR data URI); enable confirms it. Adds a
    device (optionally named) next to any existing ones; needs recent authentication."""
    no_store(response)
    setup = await service.setup_totp(db, services, auth, body.name if body else None)
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
    """Confirm with a current code of the new device. With the account's first factor the 10
    backup codes are shown this once (an empty list when the account already had them)."""
    no_store(response)
    codes, revoked = await service.enable_totp(db, services, auth, body.code, context)
    return BackupCodesOut(backup_codes=codes, other_sessions_revoked=revoked)


@router.post("/totp/disable", response_model=MfaDisabledOut)
async def totp_disable(
    body: DisableIn, auth: CurrentUser, services: Services, db: DbSession, context: RequestCtx
) -> MfaDisabledOut:
    """Remove every authenticator app (passkeys stay; with none left MFA is off)."""
    revoked, still_on = await service.disable_totp(
        db, services, auth, context, code=body.code, password=body.password
    )
    return MfaDisabledOut(mfa_enabled=still_on, other_sessions_revoked=revoked)


@router.post("/backup-codes/regenerate", response_model=BackupCodesOut)
async def regenerate_backup_codes(
    body: RegenerateIn,
    response: Response,
    auth: CurrentUser,
    services: Services,
    db: DbSession,
    context: RequestCtx,
) -> BackupCodesOut:
    no_store(response)
    codes, revoked = await service.regenerate_backup_codes(db, services, auth, body.code, context)
    return BackupCodesOut(backup_codes=codes, other_sessions_revoked=revoked)


# --- passkey registration -------------------------------------------------------------------


@router.post("/passkeys/register/options", response_model=CeremonyOut)
async def passkey_register_options(
    response: Response, auth: CurrentUser, services: Services, db: DbSession
) -> CeremonyOut:
    """Options for ``navigator.credentials.create`` (needs recent authentication)."""
    return _ceremony_out(response, await passkeys.start_registration(db, services, auth))


@router.post("/passkeys/register/verify", response_model=PasskeyRegisteredOut)
async def passkey_register_verify(
    body: PasskeyRegisterIn,
    response: Response,
    auth: CurrentUser,
    services: Services,
    db: DbSession,
    context: RequestCtx,
) -> PasskeyRegisteredOut:
    no_store(response)
    found, added = await passkeys.finish_registration(
        db, services, auth, body.challenge_id, body.name, body.credential, context
    )
    return PasskeyRegisteredOut(
        factor=_factor_out(found),
        backup_codes=added.backup_codes,
        other_sessions_revoked=added.sessions_revoked,
    )


# --- the MFA steps of /v1/auth --------------------------------------------------------------


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


@auth_router.post("/passkey/mfa/options", response_model=CeremonyOut)
async def passkey_mfa_options(
    body: LoginPasskeyOptionsIn, response: Response, services: Services, db: DbSession
) -> CeremonyOut:
    """Second step of login with a passkey instead of a code (``methods`` lists ``passkey``)."""
    return _ceremony_out(response, await passkeys.start_login_mfa(db, services, body.session_token))


@auth_router.post("/passkey/mfa/verify", response_model=TokenOut)
async def passkey_mfa_verify(
    body: LoginPasskeyVerifyIn,
    response: Response,
    services: Services,
    db: DbSession,
    context: RequestCtx,
) -> TokenOut:
    grant = await passkeys.finish_login_mfa(
        db, services, body.session_token, body.challenge_id, body.credential, context
    )
    return await grant_response(response, services, db, grant)


@auth_router.post("/passkey/options", response_model=CeremonyOut)
async def passkey_sign_in_options(
    response: Response, services: Services, db: DbSession, context: RequestCtx
) -> CeremonyOut:
    """Passwordless sign-in: options for a discoverable credential (no e-mail needed)."""
    return _ceremony_out(response, await passkeys.start_sign_in(db, services, context))


@auth_router.post("/passkey/verify", response_model=TokenOut)
async def passkey_sign_in_verify(
    body: PasskeySignInIn,
    response: Response,
    services: Services,
    db: DbSession,
    context: RequestCtx,
) -> TokenOut:
    """Answers like a login; the session counts as multi-factor (``mfa_at`` set)."""
    if body.device_fingerprint:
        context = dataclasses.replace(context, device_fingerprint=body.device_fingerprint)
    grant = await passkeys.finish_sign_in(
        db,
        services,
        body.challenge_id,
        body.credential,
        persist=body.persist_session,
        context=context,
    )
    return await grant_response(response, services, db, grant)


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


@auth_router.post("/passkey/step-up/options", response_model=CeremonyOut)
async def passkey_step_up_options(
    response: Response, auth: CurrentUser, services: Services, db: DbSession
) -> CeremonyOut:
    return _ceremony_out(response, await passkeys.start_step_up(db, services, auth))


@auth_router.post("/passkey/step-up/verify", response_model=StepUpOut)
async def passkey_step_up_verify(
    body: PasskeyVerifyIn,
    response: Response,
    auth: CurrentUser,
    services: Services,
    db: DbSession,
    context: RequestCtx,
) -> StepUpOut:
    """Step-up with a passkey: a fresh ``mfa_at``, like a TOTP step-up."""
    no_store(response)
    access = await passkeys.finish_step_up(
        db, services, auth, body.challenge_id, body.credential, context
    )
    return StepUpOut(access_token=access.token, expires_in=access.expires_in)


@auth_router.post("/reauthenticate", response_model=RecentAuthOut)
async def reauthenticate(
    body: ReauthenticateIn,
    auth: CurrentUser,
    services: Services,
    db: DbSession,
    context: RequestCtx,
) -> RecentAuthOut:
    """Confirm it is you (password, or a TOTP/backup code) before enrolling or removing a
    factor; the window lasts ``RECENT_AUTH_SECONDS``."""
    until = await service.reauthenticate(
        db, services, auth, context, password=body.password, code=body.code
    )
    return RecentAuthOut(recent_auth_until=until)
