"""The access-token verification rules, shared by the User Service and every resource server.

docs/api.md §4 and RFC 9068 §4 (validating JWT access tokens), in this order:

1. shape: at most 8192 characters, exactly three dot-separated parts;
2. header: ``alg`` is ``RS256`` (the allow-list has one entry: never ``none``, never an HMAC
   algorithm keyed with the public key), ``typ`` is ``at+jwt`` (RFC 9068 §2.1), none of
   ``jku``/``x5u``/``jwk``/``x5c``/``crit`` (RFC 8725 §3.10: a token never names its own key);
3. ``kid``: a non-empty string of at most 64 characters, looked up **only** in our own
   :class:`KeySource` (the service's keyring, or the SDK's JWKS cache);
4. signature with the algorithm pinned, then ``iss``, ``aud``, ``exp``, ``nbf``, ``iat`` with a
   5-second leeway and the required claims ``exp iat sub jti iss aud``;
5. kind: a user token has ``sid`` and no ``client_id``; a service token has ``client_id`` and
   no ``sid``; neither is accepted where the other is expected.

This module depends on ``cryptography`` (PyJWT's own RSA back-end) and the standard library
only (no httpx, no FastAPI), so the service can call :func:`verify_access_token` with its own
keyring. Keep its behaviour stable: the forgery matrix of ``tests/test_verification.py`` and
of the service's token tests pins it.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from quantagro_auth.errors import TokenExpired, TokenInvalid, TokenKindMismatch

ALGORITHM = "RS256"
TOKEN_TYPE = "at+jwt"
FORBIDDEN_HEADERS = ("jku", "x5u", "jwk", "x5c", "crit")
MAX_TOKEN_LENGTH = 8192
MAX_KID_LENGTH = 64
LEEWAY_SECONDS = 5
REQUIRED_CLAIMS = ("exp", "iat", "sub", "jti", "iss", "aud")
DEFAULT_ISSUER = "user_service"
DEFAULT_AUDIENCE = "trading_platform"

TokenKind = Literal["user", "service", "any"]


@runtime_checkable
class KeySource(Protocol):
    """Where verification keys come from. Return ``None`` for a ``kid`` you do not hold."""

    async def verification_key(self, kid: str) -> Any | None:
        """The public key (a ``cryptography`` RSA public key or a PEM) for ``kid``."""
        ...


def token_kind(claims: Mapping[str, Any]) -> Literal["user", "service"] | None:
    """``"user"`` (``sid``, no ``client_id``), ``"service"`` (the reverse), else ``None``."""
    has_sid, has_client = "sid" in claims, "client_id" in claims
    if has_sid and not has_client:
        return "user"
    if has_client and not has_sid:
        return "service"
    return None


def _b64decode(segment: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise TokenInvalid() from exc


def _json_object(segment: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64decode(segment))
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise TokenInvalid() from exc
    if not isinstance(value, dict):
        raise TokenInvalid()
    return value


def _segments(token: str) -> tuple[str, str, str]:
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise TokenInvalid()
    if token.count(".") != 2:
        raise TokenInvalid()
    header, payload, signature = token.split(".")
    return header, payload, signature


def read_header(token: str) -> dict[str, Any]:
    """Check the token's shape and header (steps 1 to 3) and return the header.

    Raises :class:`TokenInvalid`; the returned header has a valid ``kid``.
    """
    return _checked_header(_segments(token)[0])


def _checked_header(segment: str) -> dict[str, Any]:
    header = _json_object(segment)
    if header.get("alg") != ALGORITHM or header.get("typ") != TOKEN_TYPE:
        raise TokenInvalid()
    if any(name in header for name in FORBIDDEN_HEADERS):
        raise TokenInvalid()
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_LENGTH:
        raise TokenInvalid()
    return header


def _rsa_public_key(key: Any) -> rsa.RSAPublicKey:
    if isinstance(key, rsa.RSAPublicKey):
        return key
    if isinstance(key, str | bytes):
        loaded = serialization.load_pem_public_key(key.encode() if isinstance(key, str) else key)
        if isinstance(loaded, rsa.RSAPublicKey):
            return loaded
    raise TokenInvalid()  # a key source handing out anything else cannot verify RS256


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenInvalid()
    return float(value)


def _check_registered_claims(
    claims: Mapping[str, Any], *, issuer: str, audience: str, leeway: float
) -> None:
    """RFC 7519 §4.1 as RFC 9068 §4 applies it: required claims, iss, aud, exp, nbf, iat."""
    if any(name not in claims for name in REQUIRED_CLAIMS):
        raise TokenInvalid()
    if claims["iss"] != issuer:
        raise TokenInvalid()
    aud = claims["aud"]
    if not (aud == audience or (isinstance(aud, list) and audience in aud)):
        raise TokenInvalid()
    now = time.time()
    exp, nbf, iat = _number(claims, "exp"), _number(claims, "nbf"), _number(claims, "iat")
    if exp is None or iat is None:
        raise TokenInvalid()
    if exp <= now - leeway:
        raise TokenExpired()
    if (nbf is not None and nbf > now + leeway) or iat > now + leeway:
        raise TokenInvalid()


def check_claims(
    token: str,
    key: Any,
    *,
    issuer: str,
    audience: str,
    expected: TokenKind = "user",
    leeway: float = LEEWAY_SECONDS,
) -> dict[str, Any]:
    """Steps 4 and 5 with the key already found: signature, registered claims, token kind."""
    header, payload, signature = _segments(token)
    _checked_header(header)
    return _verified_claims(header, payload, signature, key, issuer, audience, expected, leeway)


def _verified_claims(
    header: str,
    payload: str,
    signature: str,
    key: Any,
    issuer: str,
    audience: str,
    expected: TokenKind,
    leeway: float,
) -> dict[str, Any]:
    try:
        _rsa_public_key(key).verify(
            _b64decode(signature),
            f"{header}.{payload}".encode("ascii"),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except (InvalidSignature, UnicodeEncodeError) as exc:
        raise TokenInvalid() from exc
    claims = _json_object(payload)
    _check_registered_claims(claims, issuer=issuer, audience=audience, leeway=leeway)
    kind = token_kind(claims)
    if kind is None:
        raise TokenInvalid()
    if expected != "any" and kind != expected:
        raise TokenKindMismatch(expected=expected, actual=kind)
    return claims


async def verify_access_token(
    token: str,
    keys: KeySource,
    *,
    issuer: str = DEFAULT_ISSUER,
    audience: str = DEFAULT_AUDIENCE,
    expected: TokenKind = "user",
    leeway: float = LEEWAY_SECONDS,
) -> dict[str, Any]:
    """Verify ``token`` against ``keys`` and return its claims.

    Each part is decoded once and the RS256 signature is checked with ``cryptography``
    directly (PyJWT's general-purpose decode cost as much again as the RSA operation).
    Raises :class:`~quantagro_auth.errors.TokenExpired`, :class:`TokenInvalid` or its
    subclass :class:`TokenKindMismatch`; never anything else for a bad token.
    """
    header, payload, signature = _segments(token)
    kid = _checked_header(header)["kid"]
    key = await keys.verification_key(kid)
    if key is None:
        raise TokenInvalid()
    return _verified_claims(header, payload, signature, key, issuer, audience, expected, leeway)


@dataclass(frozen=True)
class TokenVerifier:
    """:func:`verify_access_token` with its settings bound, for a dependency or a service."""

    keys: KeySource
    issuer: str = DEFAULT_ISSUER
    audience: str = DEFAULT_AUDIENCE
    leeway: float = LEEWAY_SECONDS

    async def verify(self, token: str, expected: TokenKind = "user") -> dict[str, Any]:
        return await verify_access_token(
            token,
            self.keys,
            issuer=self.issuer,
            audience=self.audience,
            expected=expected,
            leeway=self.leeway,
        )
