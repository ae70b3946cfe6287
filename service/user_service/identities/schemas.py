from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from user_service.kit.validation import STRICT_BODY, Code, Fingerprint, OpaqueToken
from user_service.mfa.enums import MfaMethod
from user_service.mfa.schemas import PasskeyVerifyIn
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
    # What proves the second factor when ``mfa_required``: ``totp`` and/or ``passkey`` (what
    # the account holds) and ``backup_code``; empty otherwise.
    methods: list[MfaMethod]
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
    """The password of the account, and its second factor when it has one: a TOTP or backup
    ``code``, or a ``passkey`` assertion for ``/v1/auth/oidc/link/passkey/options``."""

    model_config = STRICT_BODY

    link_token: OpaqueToken = Field(repr=False)
    password: SecretPassword = Field(repr=False)
    code: Code | None = Field(default=None, repr=False)
    passkey: PasskeyVerifyIn | None = Field(default=None, repr=False)

    @model_validator(mode="after")
    def _one_second_factor(self) -> CompleteLinkIn:
        if self.code is not None and self.passkey is not None:
            raise ValueError("send either code or passkey, not both")
        return self


class LinkPasskeyOptionsIn(BaseModel):
    model_config = STRICT_BODY

    link_token: OpaqueToken = Field(repr=False)


class IdentitiesOut(BaseModel):
    items: list[IdentityOut]
    next_cursor: str | None = None
    # False for an account created through a provider that never set a password: its last
    # identity cannot be unlinked (docs/oidc.md).
    has_password: bool


class LinkStartIn(FreezeIn):
    """Re-authentication before linking: the password, or a TOTP or backup code."""
