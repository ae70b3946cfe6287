"""Access tokens (RFC 9068 profile) and service tokens: issuing and verifying (docs/api.md §4).

Verification is the SDK's (``quantagro_auth.verification``), so the service and every
resource server apply the same rules: header shape first (``typ`` = ``at+jwt``, ``alg`` on
the allow-list, no ``jku``/``x5u``/``jwk``/``x5c``), the ``kid`` looked up only in our own
keyring, then the signature with the algorithm pinned, then ``iss``/``aud``/``exp``/``iat``.
A user token and a service token are told apart by their claims; neither is accepted where
the other is expected.
RSA signing costs ~6 ms with a 4096-bit key, so it runs in a worker thread.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal, overload

import anyio
import anyio.to_thread
import jwt
from quantagro_auth.errors import TokenExpired, TokenInvalid, TokenKindMismatch
from quantagro_auth.principals import (
    Principal,
    ServicePrincipal,
    UserPrincipal,
    principal_from_claims,
)
from quantagro_auth.verification import TOKEN_TYPE, verify_access_token

from user_service.exceptions import Unauthorized
from user_service.tokens.signing_keys import ALGORITHM, Keyring

VERIFIED_CACHE_SECONDS = 30.0
VERIFIED_CACHE_SIZE = 20_000


def invalid_token(message: str = "The access token is not valid.") -> Unauthorized:
    return Unauthorized(message, code="invalid_token")


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_in: int
    jti: str
    claims: dict[str, Any]


class TokenService:
    def __init__(
        self,
        keyring: Keyring,
        *,
        issuer: str,
        audience: str,
        access_ttl: int,
        service_ttl: int,
        sign_workers: int = 4,
    ) -> None:
        self.keyring = keyring
        self.issuer = issuer
        self.audience = audience
        self.access_ttl = access_ttl
        self.service_ttl = service_ttl
        self._limiter = anyio.CapacityLimiter(sign_workers)
        # (kind, token) -> (principal, keep until): see ``verify``.
        self._verified: dict[tuple[str, str], tuple[Principal, float]] = {}

    async def _sign(self, claims: dict[str, Any]) -> str:
        kid, private_key = await self.keyring.signing_key()
        headers = {"kid": kid, "typ": TOKEN_TYPE}
        return await anyio.to_thread.run_sync(
            lambda: jwt.encode(claims, private_key, algorithm=ALGORITHM, headers=headers),
            limiter=self._limiter,
        )

    def _base_claims(self, subject: str, ttl: int, now: dt.datetime) -> dict[str, Any]:
        issued_at = int(now.timestamp())
        return {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "jti": uuid.uuid4().hex,
            "iat": issued_at,
            "nbf": issued_at,
            "exp": issued_at + ttl,
        }

    async def issue_user_token(
        self,
        *,
        user_id: uuid.UUID,
        session_id: uuid.UUID,
        email: str,
        email_verified: bool,
        roles: list[str],
        trading_accounts: list[str],
        mfa: bool,
        auth_time: dt.datetime,
        mfa_at: dt.datetime | None,
        now: dt.datetime,
    ) -> IssuedToken:
        claims = self._base_claims(str(user_id), self.access_ttl, now)
        claims.update(
            {
                "sid": str(session_id),
                "email": email,
                "email_verified": email_verified,
                "roles": roles,
                "trading_accounts": trading_accounts,
                "mfa": mfa,
                "auth_time": int(auth_time.timestamp()),
                "mfa_at": int(mfa_at.timestamp()) if mfa_at else None,
            }
        )
        return IssuedToken(await self._sign(claims), self.access_ttl, claims["jti"], claims)

    async def issue_service_token(
        self, *, client_id: str, scopes: list[str], now: dt.datetime
    ) -> IssuedToken:
        claims = self._base_claims(client_id, self.service_ttl, now)
        claims.update({"client_id": client_id, "scope": " ".join(scopes)})
        return IssuedToken(await self._sign(claims), self.service_ttl, claims["jti"], claims)

    @overload
    async def verify(self, token: str, expected: Literal["user"]) -> UserPrincipal: ...
    @overload
    async def verify(self, token: str, expected: Literal["service"]) -> ServicePrincipal: ...
    @overload
    async def verify(self, token: str, expected: Literal["any"]) -> Principal: ...

    async def verify(self, token: str, expected: Literal["user", "service", "any"]) -> Principal:
        """The one verifier: the platform's rules (``quantagro_auth.verification``, the SDK
        every resource server runs) with this instance's keyring as the key source, giving
        the SDK's frozen principal (a ``UserPrincipal`` or a ``ServicePrincipal``, told apart
        by their claims, each accepted only where ``expected`` allows it).

        A token that verified is remembered for ``VERIFIED_CACHE_SECONDS`` (and never past its
        ``exp``): the same bytes verify the same way, and an RSA-4096 verification costs more
        than the rest of a cached request. Only the signature work is skipped; revocation is
        checked by the caller on every request, and a failure is never remembered.
        """
        now = time.time()
        key = (expected, token)
        hit = self._verified.get(key)
        if hit is not None:
            if hit[1] > now:
                return hit[0]
            del self._verified[key]
        try:
            claims = await verify_access_token(
                token, self.keyring, issuer=self.issuer, audience=self.audience, expected=expected
            )
            principal = principal_from_claims(claims, token)
        except TokenExpired as exc:
            raise Unauthorized("The access token has expired.", code="token_expired") from exc
        except TokenKindMismatch as exc:
            raise invalid_token("This kind of token is not accepted here.") from exc
        except (TokenInvalid, KeyError, ValueError) as exc:
            raise invalid_token() from exc
        if isinstance(claims.get("exp"), int):
            if len(self._verified) >= VERIFIED_CACHE_SIZE:
                self._verified.clear()
            self._verified[key] = (principal, min(now + VERIFIED_CACHE_SECONDS, claims["exp"]))
        return principal

    async def decode(
        self, token: str, expected: Literal["user", "service", "any"] = "user"
    ) -> dict[str, Any]:
        """The verified claims (``verify``), for code that reads claims the principal does not
        name (introspection, revocation)."""
        return dict((await self.verify(token, expected)).claims)
