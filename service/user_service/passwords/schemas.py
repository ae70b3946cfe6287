from __future__ import annotations

from pydantic import BaseModel

from user_service.kit.validation import STRICT_BODY, Email, OpaqueToken, Password


class PasswordChangeIn(BaseModel):
    model_config = STRICT_BODY

    current_password: Password
    new_password: Password


class PasswordChangedOut(BaseModel):
    detail: str = "Your password has been changed."
    sessions_revoked: int


class ResetRequestIn(BaseModel):
    model_config = STRICT_BODY

    email: Email


class ResetRequestedOut(BaseModel):
    detail: str = (
        "If an account exists for this address, we have sent it a link to reset the password."
    )


class ResetIn(BaseModel):
    model_config = STRICT_BODY

    token: OpaqueToken
    new_password: Password


class ResetCheckIn(BaseModel):
    model_config = STRICT_BODY

    token: OpaqueToken


class ResetCheckOut(BaseModel):
    valid: bool = True
