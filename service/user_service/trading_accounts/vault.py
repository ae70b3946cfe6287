"""The credential vault: broker credentials sealed per account (docs/api.md §3, docs/kms.md).

A trading account's ``{api_key, api_secret, access_token?}`` is one ``seal_json`` blob in
``trading_accounts.credentials_sealed``: a fresh data key per write, AES-256-GCM with
``row_aad("trading_account", account_id)`` as associated data, so a blob copied onto another
account (or into another table) does not open. The plaintext lives only in a ``Credentials``
value for the length of one call; it is never logged, cached or put in an error.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from typing import Any

import structlog

from user_service.exceptions import UserServiceError
from user_service.kms import DecryptionError, KeyProvider, open_json, row_aad, seal_json

__all__ = ["Credentials", "CredentialsUnreadable", "mask_api_key", "open_credentials", "seal"]

log = structlog.get_logger(__name__)

AAD_KIND = "trading_account"
MASK = "••••"


@dataclass(frozen=True, slots=True)
class Credentials:
    """Plaintext broker credentials; ``repr`` shows only the masked api key."""

    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)
    access_token: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return (
            f"Credentials(api_key={mask_api_key(self.api_key)!r}, "
            f"access_token={'set' if self.access_token else 'none'})"
        )

    def __reduce__(self) -> Any:
        raise TypeError("Credentials hold secrets and cannot be pickled")

    def with_access_token(self, access_token: str | None) -> Credentials:
        return replace(self, access_token=access_token)

    def secrets(self) -> tuple[str, ...]:
        """Every secret value, for scrubbing text a broker sends back."""
        return tuple(v for v in (self.api_secret, self.access_token) if v)


class CredentialsUnreadable(UserServiceError):
    """The stored blob does not open (tampered, moved from another row, master key lost).

    A server-side fault, never the caller's: 500 with a stable code, no detail about why.
    """

    status_code = 500
    code = "credentials_unreadable"


def mask_api_key(api_key: str) -> str:
    """``••••ab12``: enough to recognise a key, never enough to use it."""
    tail = api_key[-4:] if len(api_key) > 8 else ""
    return MASK + tail


def _aad(account_id: uuid.UUID) -> bytes:
    return row_aad(AAD_KIND, account_id)


async def seal(provider: KeyProvider, account_id: uuid.UUID, credentials: Credentials) -> bytes:
    value: dict[str, str] = {"api_key": credentials.api_key, "api_secret": credentials.api_secret}
    if credentials.access_token:
        value["access_token"] = credentials.access_token
    return await seal_json(provider, value, _aad(account_id))


async def open_credentials(
    provider: KeyProvider, account_id: uuid.UUID, blob: bytes | None
) -> Credentials:
    """Open an account's blob; ``CredentialsUnreadable`` (logged with the account id only)."""
    if blob is None:
        raise CredentialsUnreadable("This trading account holds no credentials.")
    try:
        value = await open_json(provider, blob, _aad(account_id))
        if not isinstance(value, dict):
            raise DecryptionError("sealed credentials are not an object")
        api_key, api_secret = value.get("api_key"), value.get("api_secret")
        access_token = value.get("access_token")
        if not isinstance(api_key, str) or not isinstance(api_secret, str):
            raise DecryptionError("sealed credentials lack api_key or api_secret")
        if access_token is not None and not isinstance(access_token, str):
            raise DecryptionError("sealed access token is not a string")
    except DecryptionError as exc:
        log.error(
            "trading_account.credentials_unreadable", account_id=str(account_id), why=str(exc)
        )
        raise CredentialsUnreadable(
            "The stored credentials of this trading account cannot be decrypted. "
            "Enter them again (PUT /v1/trading-accounts/{id}/credentials) or contact support.",
            extra={"account_id": str(account_id)},
        ) from None
    return Credentials(api_key=api_key, api_secret=api_secret, access_token=access_token or None)
