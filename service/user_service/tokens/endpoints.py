"""JWKS (both paths of docs/api.md §3) and the discovery document."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from user_service.deps import Services
from user_service.tokens.signing_keys import ALGORITHM, JWKS_MAX_AGE_SECONDS

router = APIRouter(tags=["keys"])


@router.get("/v1/auth/.well-known/jwks.json")
@router.get("/v1/.well-known/jwks.json")
async def jwks(response: Response, services: Services) -> dict[str, Any]:
    """Every key still valid for verification, and a rotated key before it signs. Clients may
    cache it for ``JWKS_MAX_AGE_SECONDS``; the publish lead of a rotation is longer."""
    response.headers["Cache-Control"] = f"public, max-age={JWKS_MAX_AGE_SECONDS}"
    return await services.keyring.jwks()


@router.get("/.well-known/openid-configuration")
async def discovery(services: Services) -> dict[str, Any]:
    """Built from ``PUBLIC_URL`` only: a forged ``Host`` header cannot steer a verifier's JWKS
    or token endpoint to another server."""
    base = services.settings.public_url
    return {
        "issuer": services.settings.jwt_issuer,
        "jwks_uri": f"{base}/v1/.well-known/jwks.json",
        "token_endpoint": f"{base}/v1/oauth/token",
        "introspection_endpoint": f"{base}/v1/oauth/introspect",
        "revocation_endpoint": f"{base}/v1/oauth/revoke",
        "events_endpoint": f"{base}/v1/events",
        "authz_check_endpoint": f"{base}/v1/authz/check",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "id_token_signing_alg_values_supported": [ALGORITHM],
        "token_endpoint_auth_signing_alg_values_supported": [ALGORITHM],
        "access_token_signing_alg_values_supported": [ALGORITHM],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "claims_supported": [
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "jti",
            "sid",
            "email",
            "email_verified",
            "roles",
            "trading_accounts",
            "mfa",
            "auth_time",
            "mfa_at",
            "scope",
            "client_id",
        ],
    }
