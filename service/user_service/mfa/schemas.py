from __future__ import annotations

from pydantic import BaseModel, model_validator

from user_service.auth.schemas import TokenOut
from user_service.kit.validation import STRICT_BODY, Code, OpaqueToken, Password


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
    mfa_enabled: bool = False
    other_sessions_revoked: int = 0


class StepUpOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class MfaVerifiedOut(TokenOut):
    """The login answer, plus how many backup codes are left after a backup-code sign-in."""

    backup_codes_remaining: int | None = None
