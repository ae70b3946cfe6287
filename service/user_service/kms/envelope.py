"""Envelope encryption (docs/kms.md): a fresh data key per value, wrapped by a master key.

Every sealed value gets its own random 256-bit data key; the value is encrypted with AES-256-GCM
(NIST SP 800-38D) under that data key with caller-supplied associated data (the row id), and
only the data key is encrypted ("wrapped") by a master key that a ``KeyProvider`` holds. The
sealed blob only records the master key's id, so master keys rotate by re-wrapping data keys,
never by re-encrypting the values.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from user_service.kms.provider import (
    NONCE_BYTES,
    TAG_BYTES,
    DecryptionError,
    KeyProvider,
    WrappedKey,
)

BLOB_VERSION = 1
_DATA_AAD_PREFIX = b"quantagro/sealed/v1\x00"
_U16 = struct.Struct(">H")


#
# Blob v1:  0x01 | u16 len | key id (utf-8) | u16 len | wrapped data key | nonce (12) | ct+tag
#
# The data AEAD's associated data is a fixed label, the version byte and the caller's aad;
# the header (key id, wrapped key) is not in it, so ``rewrap`` can replace the header without
# touching the ciphertext. Swapping in another blob's wrapped key yields another data key,
# which fails the tag.


@dataclass(frozen=True, slots=True)
class _Blob:
    wrapped: WrappedKey
    nonce: bytes
    ciphertext: bytes = field(repr=False)

    def encode(self) -> bytes:
        key_id = self.wrapped.key_id.encode()
        wrapped = self.wrapped.ciphertext
        return b"".join(
            (
                bytes((BLOB_VERSION,)),
                _U16.pack(len(key_id)),
                key_id,
                _U16.pack(len(wrapped)),
                wrapped,
                self.nonce,
                self.ciphertext,
            )
        )

    @classmethod
    def decode(cls, blob: bytes) -> _Blob:
        try:
            view = memoryview(blob)
            if view[0] != BLOB_VERSION:
                raise DecryptionError("sealed value has an unknown format version")
            (kid_len,) = _U16.unpack_from(view, 1)
            pos = 3
            key_id_bytes = bytes(view[pos : pos + kid_len])
            key_id = key_id_bytes.decode()
            pos += kid_len
            (wrapped_len,) = _U16.unpack_from(view, pos)
            pos += 2
            wrapped = bytes(view[pos : pos + wrapped_len])
            pos += wrapped_len
            nonce = bytes(view[pos : pos + NONCE_BYTES])
            ciphertext = bytes(view[pos + NONCE_BYTES :])
        except (IndexError, struct.error, UnicodeDecodeError, TypeError):
            raise DecryptionError("sealed value is malformed") from None
        if (
            len(key_id_bytes) != kid_len
            or len(wrapped) != wrapped_len
            or len(nonce) != NONCE_BYTES
            or len(ciphertext) < TAG_BYTES
            or not key_id
        ):
            raise DecryptionError("sealed value is malformed")
        return cls(WrappedKey(key_id, wrapped), nonce, ciphertext)


def _data_aad(aad: bytes) -> bytes:
    return _DATA_AAD_PREFIX + bytes((BLOB_VERSION,)) + aad


def row_aad(kind: str, row_id: object) -> bytes:
    """Associated data naming the row a value belongs to, e.g. ``row_aad("trading_account", id)``.

    Scoping by kind keeps a ciphertext from one table from opening as another's.
    """
    return f"{kind}:{row_id}".encode()


async def seal(provider: KeyProvider, plaintext: bytes, aad: bytes) -> bytes:
    """Encrypt ``plaintext`` under a fresh data key bound to ``aad``; returns a storable blob."""
    data_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(data_key).encrypt(nonce, plaintext, _data_aad(aad))
    wrapped = await provider.wrap_key(data_key)
    return _Blob(wrapped, nonce, ciphertext).encode()


async def open_sealed(provider: KeyProvider, blob: bytes, aad: bytes) -> bytes:
    """Decrypt a ``seal`` blob; ``DecryptionError`` on tampering, wrong aad or unknown key."""
    parsed = _Blob.decode(blob)
    data_key = await provider.unwrap_key(parsed.wrapped)
    try:
        return AESGCM(data_key).decrypt(parsed.nonce, parsed.ciphertext, _data_aad(aad))
    except InvalidTag:
        raise DecryptionError("sealed value failed authentication") from None


def sealed_key_id(blob: bytes) -> str:
    """The master key id a blob's data key is wrapped under (what rotation counts)."""
    return _Blob.decode(blob).wrapped.key_id


async def rewrap(provider: KeyProvider, blob: bytes) -> bytes:
    """Re-wrap the blob's data key under the provider's active master key.

    The nonce and ciphertext are kept byte for byte; a blob already under the active key is
    returned unchanged.
    """
    parsed = _Blob.decode(blob)
    if parsed.wrapped.key_id == provider.current_key_id():
        return blob
    data_key = await provider.unwrap_key(parsed.wrapped)
    wrapped = await provider.wrap_key(data_key)
    return _Blob(wrapped, parsed.nonce, parsed.ciphertext).encode()


async def seal_json(provider: KeyProvider, value: Any, aad: bytes) -> bytes:
    """``seal`` a JSON-serialisable value (e.g. ``{"api_key": ..., "api_secret": ...}``)."""
    payload = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return await seal(provider, payload.encode(), aad)


async def open_json(provider: KeyProvider, blob: bytes, aad: bytes) -> Any:
    """Open a ``seal_json`` blob and parse it back."""
    plaintext = await open_sealed(provider, blob, aad)
    try:
        return json.loads(plaintext)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise DecryptionError("sealed value is not JSON") from None
