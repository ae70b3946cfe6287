from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from user_service.kit.validation import STRICT_BODY, Code, Fingerprint, OpaqueToken
from user_service.users.schemas import FreezeIn, SecretPassword

ProviderName = Literal["google"]
# The provider's authorization code and our state: opaque strings of bounded size.
ProviderCode = Field(min_length=1, max_length=2048, repr=False)


class ProviderOut(BaseModel):
    provider: str
    display_name: str


class ProvidersOut(BaseModel):
    providers: list[ProviderOut]


class OidcStartIn(BaseModel):
    model_config = STRICT_BODY

    persist_session: bool = False
    device_fingerprint: Fingerprint | None = None


class OidcStartOut(BaseModel):
    authorization_url: str
    expires_in: int


class OidcCallbackIn(BaseModel):
    model_config = STRICT_BODY

    code: str = ProviderCode
    state: str = Field(min_length=1, max_length=256)


class LinkRequiredOut(BaseModel):
    """The verified e-mail belongs to an account: prove it is yours to link (docs/oidc.md)."""

    status: Literal["link_required"] = "link_required"
    provider: str
    email: str
    link_token: str
    mfa_required: bool
    expires_in: int


class IdentityOut(BaseModel):
    identity_id: str
    provider: str
    email: str | None
    created_at: dt.datetime
    last_used_at: dt.datetime | None


class LinkedOut(BaseModel):
    status: Literal["linked"] = "linked"
    identity: IdentityOut


class CompleteLinkIn(BaseModel):
    """The password of the account (and its second factor when it has one)."""

    model_config = STRICT_BODY

    link_token: OpaqueToken = Field(repr=False)
    password: SecretPassword = Field(repr=False)
    code: Code | None = Field(default=None, repr=False)


class IdentitiesOut(BaseModel):
    items: list[IdentityOut]
    next_cursor: str | None = None
    # False for an account created through a provider that never set a password: its last
    # identity cannot be unlinked (docs/oidc.md).
    has_password: bool


class LinkStartIn(FreezeIn):
    """Re-authentication before linking: the password, or a TOTP or backup code."""
