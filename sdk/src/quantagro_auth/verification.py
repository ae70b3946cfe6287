"""The access-token verification rules, shared by the User Service and every resource server.

SPEC §4 and RFC 9068 §4 (validating JWT access tokens), in this order:

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

This module depends on PyJWT and the standard library only (no httpx, no FastAPI), so the
service can call :func:`verify_access_token` with its own keyring. Keep its behaviour stable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import jwt

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


def read_header(token: str) -> dict[str, Any]:
    """Check the token's shape and header (steps 1 to 3) and return the header.

    Raises :class:`TokenInvalid`; the returned header has a valid ``kid``.
    """
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise TokenInvalid()
    if token.count(".") != 2:
        raise TokenInvalid()
    try:
        header: dict[str, Any] = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise TokenInvalid() from exc
    if header.get("alg") != ALGORITHM or header.get("typ") != TOKEN_TYPE:
        raise TokenInvalid()
    if any(name in header for name in FORBIDDEN_HEADERS):
        raise TokenInvalid()
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_LENGTH:
        raise TokenInvalid()
    return header


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
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuer,
            options={"require": list(REQUIRED_CLAIMS)},
            leeway=leeway,
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenExpired() from exc
    except jwt.PyJWTError as exc:
        raise TokenInvalid() from exc
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

    Raises :class:`~quantagro_auth.errors.TokenExpired`, :class:`TokenInvalid` or its
    subclass :class:`TokenKindMismatch`; never anything else for a bad token.
    """
    header = read_header(token)
    key = await keys.verification_key(header["kid"])
    if key is None:
        raise TokenInvalid()
    return check_claims(
        token, key, issuer=issuer, audience=audience, expected=expected, leeway=leeway
    )


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
