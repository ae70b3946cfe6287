from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, model_validator

from user_service.kit.validation import STRICT_BODY, Code, Locale, Name, OpaqueToken, Phone
from user_service.models import UserStatus


def _valid_timezone(value: str) -> str:
    if value not in zoneinfo.available_timezones():
        raise ValueError("not a known IANA time zone (example: Asia/Kolkata)")
    return value


TimeZone = Annotated[str, Field(max_length=64), AfterValidator(_valid_timezone)]


class UserOut(BaseModel):
    user_id: str
    email: str
    email_verified: bool
    name: str
    phone: str | None
    timezone: str
    locale: str
    status: UserStatus
    roles: list[str]
    mfa_enabled: bool
    created_at: dt.datetime
    # Emergency freeze (docs/freeze.md): signed in, but no trading until unfrozen.
    frozen: bool = False
    frozen_at: dt.datetime | None = None


class UserUpdate(BaseModel):
    model_config = STRICT_BODY

    name: Name | None = None
    phone: Phone | None = None
    timezone: TimeZone | None = None
    locale: Locale | None = None


class PreferencesBody(BaseModel):
    model_config = STRICT_BODY

    preferences: dict[str, Any]


class PreferencesOut(BaseModel):
    preferences: dict[str, Any]


class AuditEventOut(BaseModel):
    event_id: int
    event_type: str
    occurred_at: dt.datetime
    actor: str
    user_id: str | None = None
    ip: str | None
    user_agent: str | None
    risk_score: int
    details: dict[str, Any]


class AuditPage(BaseModel):
    items: list[AuditEventOut]
    next_cursor: str | None


class DeactivateIn(BaseModel):
    model_config = STRICT_BODY

    password: Annotated[str, Field(min_length=1, max_length=1024)]


class DeactivateOut(BaseModel):
    status: UserStatus
    sessions_revoked: int


SecretPassword = Annotated[str, Field(min_length=1, max_length=1024)]


class FreezeIn(BaseModel):
    """Exactly one proof: the password, or a TOTP or backup code."""

    model_config = STRICT_BODY

    password: SecretPassword | None = Field(default=None, repr=False)
    code: Code | None = Field(default=None, repr=False)

    @model_validator(mode="after")
    def _one_proof(self) -> FreezeIn:
        if (self.password is None) == (self.code is None):
            raise ValueError("send either password or code (a TOTP or backup code), not both")
        return self


class UnfreezeIn(BaseModel):
    """The password and, when two-factor authentication is on, a TOTP or backup code."""

    model_config = STRICT_BODY

    password: SecretPassword = Field(repr=False)
    code: Code | None = Field(default=None, repr=False)


class ActionTokenIn(BaseModel):
    model_config = STRICT_BODY

    token: OpaqueToken = Field(repr=False)


class FreezeOut(BaseModel):
    frozen: bool
    frozen_at: dt.datetime | None
    sessions_revoked: int = 0
    # "frozen", "unfrozen", or "confirmation_sent" (an unfreeze without a second factor).
    status: str
