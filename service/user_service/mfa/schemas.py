from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, StringConstraints, model_validator

from user_service.auth.schemas import TokenOut
from user_service.kit.validation import STRICT_BODY, Code, Fingerprint, OpaqueToken, Password
from user_service.mfa.enums import FactorType


class CodeIn(BaseModel):
    """A TOTP code (6 digits) or, where accepted, a backup code (``xxxxx-xxxxx``)."""

    model_config = STRICT_BODY

    code: Code


class DisableIn(BaseModel):
    """Either a fresh second-factor code or the account password, not both."""

    model_config = STRICT_BODY

    code: Code | None = None
    password: Password | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> DisableIn:
        if (self.code is None) == (self.password is None):
            raise ValueError("send either 'code' (TOTP or backup code) or 'password'")
        return self


class MfaVerifyIn(BaseModel):
    model_config = STRICT_BODY

    session_token: OpaqueToken
    code: Code


class TotpSetupOut(BaseModel):
    secret: str
    otpauth_uri: str
    qr_code_uri: str


class BackupCodesOut(BaseModel):
    backup_codes: list[str]
    # A changed factor signs out every other session of the user (this one stays).
    other_sessions_revoked: int = 0


class MfaDisabledOut(BaseModel):
    # Still on when passkeys remain after the authenticator apps went.
    mfa_enabled: bool = False
    other_sessions_revoked: int = 0


class StepUpOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


FactorName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
_MAX_CREDENTIAL_BYTES = 16_384


def _bounded(value: dict[str, Any]) -> dict[str, Any]:
    if len(json.dumps(value)) > _MAX_CREDENTIAL_BYTES:
        raise ValueError("credential is too large")
    return value


WebauthnCredential = Annotated[dict[str, Any], AfterValidator(_bounded)]


class TotpSetupIn(BaseModel):
    """Optional name for the new device ("work phone"); default "Authenticator app"."""

    model_config = STRICT_BODY

    name: FactorName | None = None


class RegenerateIn(BaseModel):
    """A TOTP or backup code; without one, a second factor proven within the
    recent-authentication window (a passkey step-up) is required."""

    model_config = STRICT_BODY

    code: Code | None = None


class ReauthenticateIn(DisableIn):
    """The account password or a TOTP/backup code, not both."""


class RecentAuthOut(BaseModel):
    recent_auth_until: dt.datetime


class FactorOut(BaseModel):
    id: uuid.UUID
    type: FactorType
    name: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None


class FactorListOut(BaseModel):
    factors: list[FactorOut]
    mfa_enabled: bool
    # Unused backup codes; the console warns at 3 or fewer.
    backup_codes_remaining: int
    # Policy requires a second factor: the last one cannot be removed.
    mfa_required: bool
    # Until when enrolling or removing a factor needs no new password (None: it does now).
    recent_auth_until: dt.datetime | None


class FactorRenameIn(BaseModel):
    model_config = STRICT_BODY

    name: FactorName


class FactorRemovedOut(BaseModel):
    mfa_enabled: bool
    other_sessions_revoked: int = 0


class CeremonyOut(BaseModel):
    """A WebAuthn ceremony: pass ``options`` to the browser (``@simplewebauthn/browser``) and
    send its answer back with ``challenge_id``."""

    challenge_id: uuid.UUID
    options: dict[str, Any]


class PasskeyRegisterIn(BaseModel):
    model_config = STRICT_BODY

    challenge_id: uuid.UUID
    name: FactorName | None = None
    credential: WebauthnCredential


class PasskeyRegisteredOut(BaseModel):
    factor: FactorOut
    # Shown once, when the passkey is the account's first factor; empty otherwise.
    backup_codes: list[str]
    other_sessions_revoked: int = 0


class LoginPasskeyOptionsIn(BaseModel):
    model_config = STRICT_BODY

    session_token: OpaqueToken


class LoginPasskeyVerifyIn(BaseModel):
    model_config = STRICT_BODY

    session_token: OpaqueToken
    challenge_id: uuid.UUID
    credential: WebauthnCredential


class PasskeyVerifyIn(BaseModel):
    model_config = STRICT_BODY

    challenge_id: uuid.UUID
    credential: WebauthnCredential


class PasskeySignInIn(PasskeyVerifyIn):
    persist_session: bool = False
    device_fingerprint: Fingerprint | None = None


class MfaVerifiedOut(TokenOut):
    """The login answer, plus how many backup codes are left after a backup-code sign-in."""

    backup_codes_remaining: int | None = None
