from __future__ import annotations

import datetime as dt

from pydantic import BaseModel

from user_service.kit.validation import STRICT_BODY, OpaqueToken


class RefreshIn(BaseModel):
    model_config = STRICT_BODY

    refresh_token: OpaqueToken | None = None


class RefreshOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    refresh_token: str | None = None


class LogoutIn(BaseModel):
    model_config = STRICT_BODY

    all_devices: bool = False


class LogoutOut(BaseModel):
    sessions_revoked: int


class SessionOut(BaseModel):
    session_id: str
    created_at: dt.datetime
    last_active_at: dt.datetime
    ip: str | None
    user_agent: str | None
    device: str | None
    mfa: bool
    current: bool
    # The sign-in risk assessment of the session (docs/risk.md).
    country: str | None = None
    risk_score: int = 0
    risk_reasons: list[str] = []


class SessionsOut(BaseModel):
    sessions: list[SessionOut]
