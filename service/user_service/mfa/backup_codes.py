"""Single-use backup (recovery) codes for the second factor.

A backup code is ten characters from a 31-symbol alphabet with the easily confused ``0 o 1 l
i`` left out, shown as ``xxxxx-xxxxx``: 10 * log2(31) ≈ 49.5 bits from ``secrets``, above the
40-bit floor and well above what an online guesser gets through the MFA rate limits and the
5-attempt ``session_token`` (docs/api.md §5, NIST SP 800-63B §5.1.2 "look-up secrets": at least
20 bits when rate limited, stored hashed).

Why HMAC-SHA256 and not bcrypt: a login attempt checks the code against all ten stored
hashes, and ten bcrypt verifies at cost 12 take ~3 s of CPU per attempt (a free DoS lever).
The codes are random, not chosen by people, so a slow hash adds little; what matters is that a
database dump alone does not let anyone brute-force ~2^49.5 candidates offline at GPU speed.
So the hash is keyed: ``HMAC-SHA256(key, normalised code)`` where ``key`` comes from a secret
that a database dump does not reveal, bound to the user with :func:`user_key`, so equal codes
of two users hash differently and nothing can be precomputed. (The 256-bit opaque tokens of
``kit.crypto`` need no key; ~50 bits do.) Hashes carry a ``v1$`` prefix so the scheme can
change later; at 67 characters they fit ``MfaBackupCode.code_hash``.

Single use is the caller's job: :func:`verify_backup_code` returns the index of the matching
hash (pass only the unused rows, or ``None`` for used ones), and the caller marks that row
used in the same transaction with a conditional ``UPDATE … WHERE used_at IS NULL`` so two
parallel logins cannot both spend it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence

from user_service.mfa.enums import CodeKind, MfaMethod
from user_service.mfa.totp import normalise_code as normalise_totp_code

__all__ = [
    "ALPHABET",
    "CODE_COUNT",
    "CODE_LENGTH",
    "classify_code",
    "generate_backup_codes",
    "hash_backup_code",
    "looks_like_backup_code",
    "normalise",
    "user_key",
    "verify_backup_code",
]

ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"  # no 0 o 1 l i
CODE_LENGTH = 10
CODE_COUNT = 10
_GROUP = 5
_HASH_PREFIX = "v1$"
_MAX_INPUT_LENGTH = 64
_MIN_KEY_BYTES = 16


def generate_backup_codes(n: int = CODE_COUNT) -> list[str]:
    """Return ``n`` distinct fresh codes formatted ``xxxxx-xxxxx``, to be shown to the user once."""
    if n < 1:
        raise ValueError("n must be positive")
    codes: list[str] = []
    seen: set[str] = set()
    while len(codes) < n:
        raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
        if raw not in seen:
            seen.add(raw)
            codes.append(f"{raw[:_GROUP]}-{raw[_GROUP:]}")
    return codes


def normalise(code: str) -> str:
    """Canonical form of a typed code: trimmed, lower-case, without spaces or dashes.

    People copy codes with the dash, type them in capitals, or split them with spaces; none
    of that should make a valid code fail.
    """
    return "".join(ch for ch in code.strip().lower() if ch not in " -\t\r\n")


def looks_like_backup_code(code: str) -> bool:
    """True when ``code`` has the shape of a backup code (10 symbols of the alphabet)."""
    if len(code) > _MAX_INPUT_LENGTH:
        return False
    compact = normalise(code)
    return len(compact) == CODE_LENGTH and all(ch in ALPHABET for ch in compact)


def classify_code(code: str) -> CodeKind | None:
    """Tell a TOTP code (six digits) from a backup code, so one ``code`` field serves both.

    The shapes cannot overlap: a TOTP code is 6 digits, a backup code 10 symbols.
    ``None`` means the input is neither and can be rejected without touching a secret.
    """
    if normalise_totp_code(code) is not None:
        return MfaMethod.TOTP
    if looks_like_backup_code(code):
        return MfaMethod.BACKUP_CODE
    return None


def user_key(secret_key: bytes, user_id: str | int) -> bytes:
    """Derive the per-user HMAC key from a secret that is not readable from the database.

    ``secret_key`` is either a service secret (from config or the KMS) or, if the service has
    none, the user's decrypted TOTP secret bytes (``base64.b32decode(secret)``): it is sealed
    by the KMS at rest, exists whenever backup codes do, and the codes are regenerated when it
    changes. Binding the key to the user id separates users' hashes, so a hash copied from one
    user's row never verifies for another.
    """
    if len(secret_key) < _MIN_KEY_BYTES:
        raise ValueError("secret_key is too short")
    label = f"quantagro/mfa/backup-code/v1/{user_id}".encode()
    return hmac.new(secret_key, label, hashlib.sha256).digest()


def hash_backup_code(code: str, key: bytes) -> str:
    """Hash a code (typed or generated form) for storage: ``v1$`` + hex HMAC-SHA256."""
    if len(key) < _MIN_KEY_BYTES:
        raise ValueError("key is too short")
    digest = hmac.new(key, normalise(code).encode("utf-8"), hashlib.sha256).hexdigest()
    return _HASH_PREFIX + digest


def verify_backup_code(code: str, hashes: Sequence[str | None], key: bytes) -> int | None:
    """Return the index in ``hashes`` of the hash ``code`` matches, or ``None``.

    Entries that are ``None`` are codes already used and never match. Every entry is
    compared in constant time and the loop never stops early, so timing does not reveal which
    position matched or how many codes are left.
    """
    if not looks_like_backup_code(code):
        return None
    candidate = hash_backup_code(code, key).encode("ascii")
    found: int | None = None
    for index, stored in enumerate(hashes):
        if stored is None:
            continue
        if hmac.compare_digest(candidate, stored.encode()) and found is None:
            found = index
    return found
