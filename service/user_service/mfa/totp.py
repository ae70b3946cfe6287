"""TOTP second factor: RFC 6238 (time-based) on top of RFC 4226 (HOTP), via ``pyotp``.

These are pure building blocks; the MFA service stores the secret (encrypted) together with
the last accepted time step and passes both in. Why each choice:

* **Secret**: 160 bits from ``secrets`` — the key length RFC 4226 §4 (R6) recommends and the
  floor of docs/api.md §5; 32 base32 characters, no padding, which every authenticator app accepts.
* **Window**: ±1 step of 30 s (RFC 6238 §5.2 allows "at most one time step" of network delay)
  to absorb clock drift between the phone and the server, and nothing more.
* **Replay**: pyotp answers "is this code valid now", not "was it already used". RFC 6238
  §5.2 says the verifier MUST NOT accept the second attempt of a one-time password after the
  first successful validation, so :func:`verify_totp` returns the matched *time step* only when
  it is strictly greater than the last one accepted; the caller stores it in the same row as
  the secret (a conditional ``UPDATE … WHERE last_used_step < :step``), which also makes two
  parallel verifications of one code succeed at most once, across instances.
* **Comparisons** are constant-time (``hmac.compare_digest``) and every candidate step is
  checked, so timing does not tell which step matched.

Secrets never appear in logs, ``repr`` or exception messages here.
"""

from __future__ import annotations

import base64
import hmac
import secrets
import time
from datetime import datetime

import pyotp
import segno

__all__ = [
    "DIGITS",
    "INTERVAL_SECONDS",
    "ISSUER",
    "SECRET_BYTES",
    "VALID_WINDOW",
    "current_code",
    "current_step",
    "generate_secret",
    "normalise_code",
    "provisioning_uri",
    "qr_code_data_uri",
    "verify_totp",
]

ISSUER = "Quantagro"
DIGITS = 6
INTERVAL_SECONDS = 30
VALID_WINDOW = 1
SECRET_BYTES = 20  # 160 bits, RFC 4226 §4 R6

# Longer input is rejected before any work is done on it.
_MAX_INPUT_LENGTH = 32


def generate_secret() -> str:
    """Return a fresh 160-bit TOTP secret, base32-encoded (32 characters, no padding)."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL_SECONDS)


def provisioning_uri(secret: str, account_name: str, issuer: str = ISSUER) -> str:
    """Build the ``otpauth://totp/Issuer:account?secret=…&issuer=…`` URI (Key URI Format).

    SHA-1, 6 digits and 30 s are the defaults every authenticator app assumes, so they are
    left implicit, as the Key URI Format recommends.
    """
    return _totp(secret).provisioning_uri(name=account_name, issuer_name=issuer)


def qr_code_data_uri(otpauth_uri: str, *, scale: int = 5) -> str:
    """Render ``otpauth_uri`` as a QR code SVG ``data:`` URI usable directly in ``<img src>``.

    Error correction level M is what authenticator apps scan reliably from a screen. SVG keeps
    the service free of an imaging library and the URI small.
    """
    return segno.make(otpauth_uri, error="m", micro=False).svg_data_uri(scale=scale)


def current_step(now: datetime | None = None) -> int:
    """The RFC 6238 §4.2 time step ``T = floor((unix_time - T0) / X)`` for ``now``."""
    return int(_timestamp(now) // INTERVAL_SECONDS)


def current_code(secret: str, at: datetime | None = None) -> str:
    """The code an authenticator app shows at ``at`` (default now); for tests and development."""
    return _totp(secret).generate_otp(current_step(at))


def normalise_code(code: str) -> str | None:
    """Return ``code`` as six ASCII digits (whitespace removed), or ``None`` if it is not one.

    Apps display codes as ``123 456``; people paste them with spaces. Anything that is not
    exactly six ASCII digits afterwards cannot be a TOTP code.
    """
    if len(code) > _MAX_INPUT_LENGTH:
        return None
    compact = "".join(code.split())
    if len(compact) != DIGITS or not (compact.isascii() and compact.isdigit()):
        return None
    return compact


def verify_totp(
    secret: str,
    code: str,
    last_used_step: int | None,
    now: datetime | None = None,
) -> int | None:
    """Check ``code`` against ``secret`` and return the matched time step, or ``None``.

    A code is accepted for steps ``T-1 … T+1`` (RFC 6238 §5.2) and only if its step is strictly
    greater than ``last_used_step`` (replay protection, RFC 6238 §5.2). The caller must persist
    the returned step atomically with the check; ``None`` means "reject" whatever the reason
    (malformed, wrong, too old, already used), so no reason leaks to the client.
    """
    normalised = normalise_code(code)
    if normalised is None:
        return None
    totp = _totp(secret)
    step = current_step(now)
    submitted = normalised.encode("ascii")
    accepted: int | None = None
    # Every candidate is computed and compared, whichever matches, to keep timing flat.
    for candidate in range(step - VALID_WINDOW, step + VALID_WINDOW + 1):
        if candidate < 0:
            continue
        expected = totp.generate_otp(candidate).encode("ascii")
        fresh = last_used_step is None or candidate > last_used_step
        if hmac.compare_digest(expected, submitted) and fresh and accepted is None:
            accepted = candidate
    return accepted


def _timestamp(now: datetime | None) -> float:
    if now is None:
        return time.time()
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.timestamp()
