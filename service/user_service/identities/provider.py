"""The client side of OpenID Connect: discovery, the authorization request, the code exchange
and ID-token validation (OIDC Core 1.0 §3.1; RFC 6749 §4.1; RFC 7636 PKCE).

The request and token-request encodings and the S256 challenge come from authlib's protocol
modules; HTTP is httpx (timeouts and errors mapped to our own codes) and the ID token is
verified with PyJWT against the provider's JWKS (the project's JWT library; not
``authlib.jose``). Discovery documents and key sets are cached per process; an unknown
``kid`` refetches the key set at most once every ``JWKS_REFRESH_SECONDS``.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import anyio
import httpx
import jwt
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from user_service.config import Settings
from user_service.exceptions import BadGateway, BadRequest, NotFound
from user_service.kit.crypto import constant_time_equals

SCOPES = "openid email profile"
# Asymmetric algorithms only: never "none", never HMAC with the client secret (OIDC Core
# §10.1 allows it; we do not need it and it would make the secret a signing key).
ALLOWED_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256"})
CLOCK_SKEW_SECONDS = 60
MAX_ID_TOKEN_AGE_SECONDS = 600  # an ID token issued longer ago than this is refused
JWKS_REFRESH_SECONDS = 10.0


def not_configured(provider: str) -> NotFound:
    return NotFound(
        f"Sign-in with {provider!r} is not configured on this service.",
        code="provider_not_configured",
    )


def _unavailable(provider: str) -> BadGateway:
    return BadGateway(
        f"The sign-in provider ({provider}) did not answer as expected. Try again later.",
        code="oidc_provider_unavailable",
    )


class IdTokenInvalid(Exception):
    """The ID token failed a check; ``reason`` is audited (never returned in detail)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CodeRejected(Exception):
    """The token endpoint refused the code (expired, replayed, wrong PKCE verifier)."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass(frozen=True)
class ProviderConfig:
    name: str
    display_name: str
    issuer: str
    client_id: str
    client_secret: str


@dataclass(frozen=True)
class VerifiedIdentity:
    """The claims of a verified ID token that sign-in uses."""

    subject: str
    email: str | None
    email_verified: bool
    name: str | None


def configured_providers(settings: Settings) -> dict[str, ProviderConfig]:
    """Providers whose issuer, client id and secret are all set (others are off)."""
    providers: dict[str, ProviderConfig] = {}
    secret = settings.oidc_google_client_secret
    if settings.oidc_google_issuer and settings.oidc_google_client_id and secret:
        providers["google"] = ProviderConfig(
            name="google",
            display_name="Google",
            issuer=settings.oidc_google_issuer,
            client_id=settings.oidc_google_client_id,
            client_secret=secret.get_secret_value(),
        )
    return providers


def _truthy(value: object) -> bool:
    # Some providers send email_verified as the string "true" (OIDC Core §5.1 says boolean).
    return value is True or (isinstance(value, str) and value.lower() == "true")


class OidcProvider:
    def __init__(self, config: ProviderConfig, settings: Settings) -> None:
        self.config = config
        self._timeout = settings.oidc_http_timeout_seconds
        self._cache_seconds = settings.oidc_discovery_cache_seconds
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._jwks: jwt.PyJWKSet | None = None
        self._jwks_at = 0.0
        self._lock = anyio.Lock()

    @property
    def name(self) -> str:
        return self.config.name

    # --- HTTP ----------------------------------------------------------------------------

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as http:
                response = await http.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise _unavailable(self.config.display_name) from exc
        if not isinstance(body, dict):
            raise _unavailable(self.config.display_name)
        return body

    async def metadata(self) -> dict[str, Any]:
        """The discovery document (OIDC Discovery §4), cached; its issuer must be ours."""
        async with self._lock:
            fresh = time.monotonic() - self._metadata_at < self._cache_seconds
            if self._metadata is not None and fresh:
                return self._metadata
            document = await self._get_json(
                f"{self.config.issuer}/.well-known/openid-configuration"
            )
            needed = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
            if document.get("issuer") != self.config.issuer or not all(
                isinstance(document.get(key), str) for key in needed
            ):
                raise _unavailable(self.config.display_name)
            self._metadata, self._metadata_at = document, time.monotonic()
            return document

    async def _key_set(self, *, refresh: bool = False) -> jwt.PyJWKSet:
        async with self._lock:
            recent = time.monotonic() - self._jwks_at < JWKS_REFRESH_SECONDS
            if self._jwks is not None and (not refresh or recent):
                return self._jwks
        metadata = await self.metadata()
        document = await self._get_json(metadata["jwks_uri"])
        try:
            key_set = jwt.PyJWKSet.from_dict(document)
        except jwt.PyJWTError as exc:
            raise _unavailable(self.config.display_name) from exc
        async with self._lock:
            self._jwks, self._jwks_at = key_set, time.monotonic()
        return key_set

    async def _signing_key(self, kid: str | None) -> jwt.PyJWK:
        for refresh in (False, True):
            key_set = await self._key_set(refresh=refresh)
            matches = [key for key in key_set.keys if kid is None or key.key_id == kid]
            if len(matches) == 1:
                return matches[0]
        raise IdTokenInvalid("unknown_kid")

    # --- the flow ------------------------------------------------------------------------

    async def authorization_url(
        self, *, redirect_uri: str, state: str, nonce: str, code_verifier: str
    ) -> str:
        """The authorization request (OIDC Core §3.1.2.1) with PKCE S256 (RFC 7636 §4.3)."""
        metadata = await self.metadata()
        url: str = prepare_grant_uri(
            metadata["authorization_endpoint"],
            client_id=self.config.client_id,
            response_type="code",
            redirect_uri=redirect_uri,
            scope=SCOPES,
            state=state,
            nonce=nonce,
            code_challenge=create_s256_code_challenge(code_verifier),
            code_challenge_method="S256",
        )
        return url

    async def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str) -> str:
        """The token request (RFC 6749 §4.1.3, RFC 7636 §4.5); returns the raw ID token.
        The access token the provider returns is not kept: sign-in needs only the ID token."""
        metadata = await self.metadata()
        body: str = prepare_token_request(
            "authorization_code", code=code, redirect_uri=redirect_uri, code_verifier=code_verifier
        )
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        methods = metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        if "client_secret_basic" in methods:
            # RFC 6749 §2.3.1: each part form-encoded before the base64.
            pair = f"{quote(self.config.client_id, safe='')}:" + quote(
                self.config.client_secret, safe=""
            )
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
        else:
            body += "&" + urlencode(
                {"client_id": self.config.client_id, "client_secret": self.config.client_secret}
            )
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as http:
                response = await http.post(
                    metadata["token_endpoint"], content=body, headers=headers
                )
            answer = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise _unavailable(self.config.display_name) from exc
        if not isinstance(answer, dict):
            raise _unavailable(self.config.display_name)
        if response.status_code >= 500:
            raise _unavailable(self.config.display_name)
        if response.status_code != 200 or "error" in answer:
            raise CodeRejected(str(answer.get("error", "invalid_grant"))[:64])
        id_token = answer.get("id_token")
        if not isinstance(id_token, str):
            raise IdTokenInvalid("missing_id_token")
        return id_token

    async def verify_id_token(self, id_token: str, *, nonce: str) -> VerifiedIdentity:
        """ID-token validation, OIDC Core §3.1.3.7: signature with the provider's key and an
        allowed algorithm, ``iss``, ``aud`` contains our client id (and ``azp`` is it when
        present or when there are several audiences), ``exp``, ``iat`` recent, ``nonce``."""
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError as exc:
            raise IdTokenInvalid("malformed") from exc
        algorithm = header.get("alg")
        if algorithm not in ALLOWED_ALGORITHMS:
            raise IdTokenInvalid("algorithm_not_allowed")
        key = await self._signing_key(header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key=key.key,
                algorithms=[algorithm],
                audience=self.config.client_id,
                issuer=self.config.issuer,
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            )
        except jwt.InvalidSignatureError as exc:
            raise IdTokenInvalid("bad_signature") from exc
        except jwt.ExpiredSignatureError as exc:
            raise IdTokenInvalid("expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise IdTokenInvalid("wrong_audience") from exc
        except jwt.InvalidIssuerError as exc:
            raise IdTokenInvalid("wrong_issuer") from exc
        except jwt.PyJWTError as exc:
            raise IdTokenInvalid("invalid") from exc
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        azp = claims.get("azp")
        if (azp is not None or len(audiences) > 1) and azp != self.config.client_id:
            raise IdTokenInvalid("wrong_authorized_party")
        issued_at = claims["iat"]
        now = time.time()
        if not isinstance(issued_at, int | float) or not (
            now - MAX_ID_TOKEN_AGE_SECONDS <= issued_at <= now + CLOCK_SKEW_SECONDS
        ):
            raise IdTokenInvalid("issued_at_out_of_range")
        token_nonce = claims.get("nonce")
        if not isinstance(token_nonce, str) or not constant_time_equals(token_nonce, nonce):
            raise IdTokenInvalid("wrong_nonce")
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject or len(subject) > 255:
            raise IdTokenInvalid("bad_subject")
        email = claims.get("email")
        name = claims.get("name")
        return VerifiedIdentity(
            subject=subject,
            email=email.strip().casefold() if isinstance(email, str) and email.strip() else None,
            email_verified=_truthy(claims.get("email_verified")),
            name=name.strip()[:200] if isinstance(name, str) and name.strip() else None,
        )


def provider_for(services_extras: dict[str, object], settings: Settings, name: str) -> OidcProvider:
    """The configured provider ``name`` (one client object per process, so its discovery
    and key caches are shared), or 404 ``provider_not_configured``."""
    config = configured_providers(settings).get(name)
    if config is None:
        raise not_configured(name)
    key = f"oidc:{name}"
    provider = services_extras.get(key)
    if not isinstance(provider, OidcProvider) or provider.config != config:
        provider = OidcProvider(config, settings)
        services_extras[key] = provider
    return provider


def invalid_id_token() -> BadRequest:
    return BadRequest(
        "The sign-in provider's answer could not be verified. Start again.",
        code="invalid_id_token",
        commit=True,
    )
