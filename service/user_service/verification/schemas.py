from __future__ import annotations

from pydantic import BaseModel

from user_service.kit.validation import STRICT_BODY, OpaqueToken


class VerifyEmailIn(BaseModel):
    model_config = STRICT_BODY

    token: OpaqueToken


class EmailVerifiedOut(BaseModel):
    email: str
    email_verified: bool = True


class VerificationSentOut(BaseModel):
    detail: str = "We have sent a new verification link to your email address."
