"""What a key management service must do: hold master keys, wrap and unwrap data keys.

A provider can be the local key file (``kms.local``), a cloud KMS or Vault transit
(docs/kms.md, "Plugging in a cloud KMS or Vault transit"); the envelope (``kms.envelope``)
only ever sees this protocol.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # 96-bit GCM nonce, the size SP 800-38D recommends
TAG_BYTES = 16


class KeyProviderError(Exception):
    """The KMS is misconfigured (missing, unreadable or exposed key file): refuse to start."""


class DecryptionError(Exception):
    """A sealed value cannot be opened: tampered, wrong associated data, unknown master key.

    The message never carries key material or plaintext; callers treat every cause alike.
    """


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """A data key encrypted under the master key named by ``key_id``."""

    key_id: str
    ciphertext: bytes = field(repr=False)


@runtime_checkable
class KeyProvider(Protocol):
    """Holds master keys and wraps/unwraps data keys; the key material never leaves it.

    ``unwrap_key`` must accept any key id the provider still knows (old master keys keep
    decrypting during rotation) and raise ``DecryptionError`` for the rest.
    """

    name: str

    async def wrap_key(self, data_key: bytes) -> WrappedKey: ...

    async def unwrap_key(self, wrapped: WrappedKey) -> bytes: ...

    def current_key_id(self) -> str: ...

    def derive_secret(self, purpose: bytes) -> bytes:
        """A stable 32-byte secret for ``purpose`` (e.g. keyed hashes of rate-limit keys),
        the same on every instance that shares the master key; never a data key."""
        ...
