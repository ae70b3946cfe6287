"""Forged, truncated and mis-typed tokens are refused with 401, never a 5xx (docs/api.md §4)."""

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fixtures.users import signed_in_user

pytestmark = pytest.mark.anyio


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def claims_and_kid(client, user):
    claims = jwt.decode(user.access_token, options={"verify_signature": False})
    return claims, jwt.get_unverified_header(user.access_token)["kid"]


async def assert_refused(client, token, code="invalid_token"):
    response = await client.get("/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, response.text
    assert response.json()["code"] == code


async def test_alg_none_is_refused(client):
    user = await signed_in_user(client)
    claims, kid = await claims_and_kid(client, user)
    token = f"{b64({'alg': 'none', 'typ': 'at+jwt', 'kid': kid})}.{b64(claims)}."
    await assert_refused(client, token)


async def test_hs256_signed_with_the_public_key_is_refused(client):
    user = await signed_in_user(client)
    claims, kid = await claims_and_kid(client, user)
    jwks = (await client.get("/v1/.well-known/jwks.json")).json()
    public = jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(jwks["keys"][0]))
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "at+jwt", "kid": kid}
    signing_input = f"{b64(header)}.{b64(claims)}".encode()
    import hashlib
    import hmac

    signature = base64.urlsafe_b64encode(
        hmac.new(pem, signing_input, hashlib.sha256).digest()
    ).rstrip(b"=")
    await assert_refused(client, signing_input.decode() + "." + signature.decode())


async def test_a_key_we_do_not_publish_is_refused_even_with_an_embedded_jwk(client):
    user = await signed_in_user(client)
    claims, _ = await claims_and_kid(client, user)
    attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(attacker.public_key()))
    for headers in (
        {"kid": "attacker-key", "typ": "at+jwt"},
        {"kid": "attacker-key", "typ": "at+jwt", "jwk": jwk},
        {"kid": "attacker-key", "typ": "at+jwt", "jku": "https://evil.example/jwks.json"},
    ):
        await assert_refused(
            client, jwt.encode(claims, attacker, algorithm="RS256", headers=headers)
        )


async def test_signature_tampering_truncation_and_garbage_are_refused(client):
    user = await signed_in_user(client)
    token = user.access_token
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["roles"] = ["admin"]
    for forged in (
        f"{header}.{b64(claims)}.{signature}",
        token[:-10],
        f"{header}.{payload}",
        "x.y.z",
        "not-a-jwt",
        "a" * 9000,
        token + ".extra",
    ):
        await assert_refused(client, forged)


async def test_wrong_issuer_audience_type_or_expired_tokens_are_refused(client, app):
    user = await signed_in_user(client)
    claims, kid = await claims_and_kid(client, user)
    signing_kid, private_key = await app.state.services.keyring.signing_key()
    assert signing_kid == kid
    now = int(time.time())
    expired = {**claims, "exp": now - 120, "iat": now - 1000, "nbf": now - 1000}
    cases = [
        ({**claims, "iss": "someone_else"}, {"typ": "at+jwt"}, "invalid_token"),
        ({**claims, "aud": "other_platform"}, {"typ": "at+jwt"}, "invalid_token"),
        (expired, {"typ": "at+jwt"}, "token_expired"),
        (claims, {"typ": "JWT"}, "invalid_token"),  # not an access token
        ({k: v for k, v in claims.items() if k != "exp"}, {"typ": "at+jwt"}, "invalid_token"),
    ]
    for bad_claims, headers, code in cases:
        token = jwt.encode(
            bad_claims, private_key, algorithm="RS256", headers={"kid": kid, **headers}
        )
        await assert_refused(client, token, code)


async def test_a_service_token_is_not_a_user_token(client, app):
    from user_service.db import utcnow

    issued = await app.state.services.tokens.issue_service_token(
        client_id="backend", scopes=["positions:read"], now=utcnow()
    )
    response = await client.get("/v1/users/me", headers={"Authorization": f"Bearer {issued.token}"})
    assert response.status_code == 401


async def test_refresh_and_mfa_tokens_are_not_bearer_tokens(client):
    await signed_in_user(client)
    refresh = client.cookies.get("refresh_token")
    for token in (refresh, "qms_" + "a" * 43):
        response = await client.get("/v1/users/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401


@pytest.mark.parametrize(
    "header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer    ", "bearer a.b.c", "Token abc"]
)
async def test_malformed_authorization_headers_are_401(client, header):
    response = await client.get("/v1/users/me", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"
    assert response.headers.get("www-authenticate", "").startswith("Bearer")
