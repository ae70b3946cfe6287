"""Test stand-ins: signing keys, token minting and a fake User Service (httpx transport)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "user_service"
AUDIENCE = "trading_platform"
BASE = "http://users.test"


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey

    @property
    def jwk(self) -> dict[str, Any]:
        data = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**data, "kid": self.kid, "use": "sig", "alg": "RS256"}


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def user_claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(uuid.uuid4()),
        "sid": str(uuid.uuid4()),
        "jti": uuid.uuid4().hex,
        "iat": now,
        "nbf": now,
        "exp": now + 900,
        "email": "trader@example.com",
        "email_verified": True,
        "roles": ["user"],
        "trading_accounts": [],
        "mfa": False,
        "auth_time": now,
        "mfa_at": None,
    }
    claims.update(overrides)
    return claims


def service_claims(client_id: str = "ticker_service", **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": client_id,
        "client_id": client_id,
        "scope": "credentials:read events:read",
        "jti": uuid.uuid4().hex,
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
    }
    claims.update(overrides)
    return claims


def mint(key: SigningKey, claims: dict[str, Any], **headers: Any) -> str:
    header = {"kid": key.kid, "typ": "at+jwt", **headers}
    header = {k: v for k, v in header.items() if v is not None}
    return jwt.encode(claims, key.private, algorithm="RS256", headers=header)


def sign_raw(key: SigningKey, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """RS256 over any header at all (PyJWT refuses to encode some malformed ones)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    signing_input = f"{b64(header)}.{b64(claims)}"
    signature = key.private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


@dataclass
class FakeUserService:
    """The User Service's HTTP face as far as the SDK sees it; records every request."""

    published: list[SigningKey]
    jwks_delay: float = 0.0
    jwks_cache_control: str = "public, max-age=300"
    jwks_down: bool = False
    requests: list[httpx.Request] = field(default_factory=list)
    routes: dict[tuple[str, str], Handler] = field(default_factory=dict)

    def count(self, path: str) -> int:
        return sum(1 for r in self.requests if r.url.path == path)

    def route(self, method: str, path: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes[(method, path)] = handler
            return handler

        return register

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/.well-known/openid-configuration":
            return httpx.Response(
                200,
                json={
                    "issuer": ISSUER,
                    "jwks_uri": f"{BASE}/v1/.well-known/jwks.json",
                    "token_endpoint": f"{BASE}/v1/oauth/token",
                    "introspection_endpoint": f"{BASE}/v1/oauth/introspect",
                    "revocation_endpoint": f"{BASE}/v1/oauth/revoke",
                    "events_endpoint": f"{BASE}/v1/events",
                },
            )
        if path == "/v1/.well-known/jwks.json":
            if self.jwks_delay:
                await asyncio.sleep(self.jwks_delay)
            if self.jwks_down:
                raise httpx.ConnectError("down", request=request)
            return httpx.Response(
                200,
                json={"keys": [key.jwk for key in self.published]},
                headers={"Cache-Control": self.jwks_cache_control},
            )
        handler = self.routes.get((request.method, path))
        if handler is None:
            for (method, pattern), candidate in self.routes.items():
                if (
                    method == request.method
                    and pattern.endswith("*")
                    and path.startswith(pattern[:-1])
                ):
                    handler = candidate
        if handler is None:
            return httpx.Response(404, json={"detail": "Not found", "code": "not_found"})
        return await handler(request)

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self), base_url=BASE)


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def json_body(request: httpx.Request) -> Any:
    return json.loads(request.content or b"null")


def add_token_endpoint(
    service: FakeUserService, key: SigningKey, *, expires_in: int = 3600, delay: float = 0.0
) -> list[str]:
    """``POST /v1/oauth/token`` for the client ``ticker_service`` / ``s3cret``; returns the
    list of tokens it issued."""
    issued: list[str] = []

    @service.route("POST", "/v1/oauth/token")
    async def token(request: httpx.Request) -> httpx.Response:
        if delay:
            await asyncio.sleep(delay)
        expected = httpx.BasicAuth("ticker_service", "s3cret")
        auth_header = next(expected.auth_flow(httpx.Request("GET", BASE))).headers["authorization"]
        if request.headers.get("authorization") != auth_header:
            return httpx.Response(401, json={"error": "invalid_client", "code": "invalid_client"})
        form = dict(httpx.QueryParams(request.content.decode()))
        if form.get("grant_type") != "client_credentials":
            return httpx.Response(400, json={"error": "unsupported_grant_type"})
        access = mint(key, service_claims(scope=form.get("scope", "events:read authz:check")))
        issued.append(access)
        return httpx.Response(
            200,
            json={
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": expires_in,
                "scope": form.get("scope", "events:read authz:check"),
            },
            headers={"Cache-Control": "no-store"},
        )

    return issued
