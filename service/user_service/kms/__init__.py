"""Encryption at rest behind a key management service (docs/kms.md).

``provider`` — the protocol every KMS implements; ``local`` — the default key-file provider;
``envelope`` — sealing values under fresh data keys; ``cli`` — ``user-service kms …``.
Callers import the names below from ``user_service.kms``.
"""

from user_service.kms.envelope import (
    open_json,
    open_sealed,
    rewrap,
    row_aad,
    seal,
    seal_json,
    sealed_key_id,
)
from user_service.kms.local import LocalKeyProvider
from user_service.kms.provider import DecryptionError, KeyProvider, KeyProviderError, WrappedKey

__all__ = [
    "DecryptionError",
    "KeyProvider",
    "KeyProviderError",
    "LocalKeyProvider",
    "WrappedKey",
    "open_json",
    "open_sealed",
    "rewrap",
    "row_aad",
    "seal",
    "seal_json",
    "sealed_key_id",
]
