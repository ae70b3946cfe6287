from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from user_service.kit.validation import (
    STRICT_BODY,
    Email,
    Fingerprint,
    Locale,
    LoginEmail,
    Name,
    Password,
    Phone,
)
from user_service.mfa.enums import MfaMethod
from user_service.models import UserStatus
from user_service.users.schemas import TimeZone, UserOut


class RegisterIn(BaseModel):
    model_config = STRICT_BODY

    email: Email
    password: Password
    name: Name
    phone: Phone | None = None
    timezone: TimeZone | None = None
    locale: Locale | None = None


class RegisterOut(BaseModel):
    user_id: str
    email: str
    name: str
    status: UserStatus


class LoginIn(BaseModel):
    model_config = STRICT_BODY

    email: LoginEmail
    password: Password
    persist_session: bool = False
    device_fingerprint: Fingerprint | None = None


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    user: UserOut


class MfaRequiredOut(BaseModel):
    status: Literal["mfa_required"] = "mfa_required"
    session_token: str
    methods: list[MfaMethod]
    expires_in: int
