"""Request and response bodies of /v1/trading-accounts and the internal release endpoint.

Secret fields are ``repr=False``: a model that ends up in a log or a traceback shows no secret.

Credential fields are bounded, trimmed and limited to the characters brokers use, so an
empty or oversized key is a 422 before anything is sealed; validation errors never echo the
value (the error handler reports field, message and type only).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, Field, StringConstraints, field_validator

from user_service.kit.validation import STRICT_BODY, Email, UtcDateTime
from user_service.models import TradingAccountStatus

ACCOUNT_PERMISSIONS = ("view", "trade", "manage")
BROKERS = ("kite",)


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


_CREDENTIAL = r"^[A-Za-z0-9._~+/=-]+$"  # printable ASCII, no space or ':' (Kite's header form)


def _credential(max_length: int) -> StringConstraints:
    return StringConstraints(min_length=1, max_length=max_length, pattern=_CREDENTIAL)


ApiKey = Annotated[str, BeforeValidator(_strip), _credential(128)]
ApiSecret = Annotated[str, BeforeValidator(_strip), _credential(256)]
AccessToken = Annotated[str, BeforeValidator(_strip), _credential(512)]
RequestToken = Annotated[str, BeforeValidator(_strip), _credential(256)]
BrokerUserId = Annotated[
    str,
    BeforeValidator(_strip),
    StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$"),
]
Permission = Literal["view", "trade", "manage"]


class CredentialsIn(BaseModel):
    model_config = STRICT_BODY

    api_key: ApiKey = Field(repr=False)
    api_secret: ApiSecret = Field(repr=False)
    access_token: AccessToken | None = Field(default=None, repr=False)


class LinkIn(CredentialsIn):
    broker: Literal["kite"]
    user_id_broker: BrokerUserId


class KiteSessionIn(BaseModel):
    model_config = STRICT_BODY

    request_token: RequestToken = Field(repr=False)


class MemberIn(BaseModel):
    model_config = STRICT_BODY

    email: Email
    permissions: list[Permission] = Field(min_length=1, max_length=3)
    # ISO 8601 with an offset (naive means UTC); future and at most MAX_GRANT_DAYS ahead,
    # checked by the service against the clock (docs/trading-accounts.md, "Bounded sharing").
    expires_at: UtcDateTime | None = None

    @field_validator("permissions")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return sorted(set(value), key=ACCOUNT_PERMISSIONS.index)


class ReleaseIn(BaseModel):
    model_config = STRICT_BODY

    on_behalf_of: uuid.UUID | None = None


class OwnerOut(BaseModel):
    """Who shared the account (shown to members only)."""

    name: str
    email: str


class AccountOut(BaseModel):
    account_id: str
    broker: str
    user_id_broker: str
    status: TradingAccountStatus
    created_at: dt.datetime
    role: Literal["owner", "member"]
    permissions: list[str]
    api_key_masked: str
    verified_at: dt.datetime | None
    access_token_expires_at: dt.datetime | None
    # Trading on the account is frozen: its owner (or the caller) used the emergency freeze.
    frozen: bool = False
    # A member's grant ends then (None: until removed; always None for the owner).
    expires_at: dt.datetime | None = None
    # For a member, who owns the account (in the list); None for the owner.
    owner: OwnerOut | None = None


class AccountPage(BaseModel):
    items: list[AccountOut]
    next_cursor: str | None


class VerificationOut(AccountOut):
    """The account after a broker check, with why it has the status it has."""

    reason: str | None = None


class KiteLoginUrlOut(BaseModel):
    account_id: str
    login_url: str


class MemberOut(BaseModel):
    user_id: str
    email: str
    name: str
    permissions: list[str]
    added_by: str | None
    created_at: dt.datetime
    expires_at: dt.datetime | None = None


class MembersOut(BaseModel):
    items: list[MemberOut]
    next_cursor: str | None = None


class ReleasedCredentialsOut(BaseModel):
    account_id: str
    broker: str
    user_id_broker: str
    api_key: str = Field(repr=False)
    api_secret: str = Field(repr=False)
    access_token: str = Field(repr=False)
    access_token_expires_at: dt.datetime | None
