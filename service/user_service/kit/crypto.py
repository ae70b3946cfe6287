"""Opaque tokens: random, prefixed, stored only as SHA-256 digests.

Tokens carry 256 bits from ``secrets``; at that entropy a plain SHA-256 is preimage-proof, so
no salt or key is needed and master-key rotation never invalidates a session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

REFRESH_TOKEN_PREFIX = "qrt_"
MFA_SESSION_PREFIX = "qms_"
PASSWORD_RESET_PREFIX = "qpr_"
EMAIL_VERIFY_PREFIX = "qev_"
CLIENT_SECRET_PREFIX = "qcs_"
FREEZE_LINK_PREFIX = "qfz_"
UNFREEZE_CONFIRM_PREFIX = "quf_"

MAX_TOKEN_LENGTH = 256


def new_token(prefix: str, nbytes: int = 32) -> str:
    return prefix + secrets.token_urlsafe(nbytes)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def looks_like(token: object, prefix: str) -> bool:
    """Cheap shape check before any database look-up."""
    return (
        isinstance(token, str)
        and token.startswith(prefix)
        and len(prefix) + 16 <= len(token) <= MAX_TOKEN_LENGTH
    )


def constant_time_equals(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def _key_from_token(token: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
        token.encode("utf-8")
    )


def seal_with_token(token: str, plaintext: str, purpose: bytes) -> bytes:
    """Encrypt ``plaintext`` under a key only the holder of ``token`` can derive."""
    nonce = os.urandom(12)
    return nonce + AESGCM(_key_from_token(token, purpose)).encrypt(
        nonce, plaintext.encode("utf-8"), purpose
    )


def open_with_token(token: str, sealed: bytes, purpose: bytes) -> str | None:
    try:
        return (
            AESGCM(_key_from_token(token, purpose))
            .decrypt(sealed[:12], sealed[12:], purpose)
            .decode("utf-8")
        )
    except (InvalidTag, ValueError):
        return None


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
