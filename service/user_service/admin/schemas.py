"""Bodies of the admin API (docs/authorization.md)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from user_service.authz.policy_schema import PolicyOut
from user_service.kit.validation import STRICT_BODY
from user_service.models import UserStatus

RoleName = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class AdminUserOut(BaseModel):
    user_id: str
    email: str
    name: str
    status: UserStatus
    roles: list[str]
    email_verified: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class AdminUserDetail(AdminUserOut):
    phone: str | None
    timezone: str
    locale: str
    mfa_enabled: bool
    active_sessions: int
    trading_accounts: list[str]
    frozen: bool = False
    frozen_at: dt.datetime | None = None
    frozen_reason: str | None = None
    frozen_by: str | None = None


class UserPage(BaseModel):
    items: list[AdminUserOut]
    next_cursor: str | None


class StatusIn(BaseModel):
    model_config = STRICT_BODY

    status: UserStatus
    reason: Annotated[str, StringConstraints(max_length=500)] | None = None


class FreezeReasonIn(BaseModel):
    """Why support freezes or unfreezes an account: kept in the audit trail."""

    model_config = STRICT_BODY

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=500)]


class RolesIn(BaseModel):
    """The complete set of roles the user should hold (PUT semantics)."""

    model_config = STRICT_BODY

    roles: list[RoleName] = Field(max_length=20)


class PolicyPage(BaseModel):
    items: list[PolicyOut]
    next_cursor: str | None
