"""The shared verification rules refuse every forgery the service's own tests try
(docs/api.md §4)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from support import SigningKey, b64, mint, service_claims, sign_raw, user_claims

from quantagro_auth import (
    TokenExpired,
    TokenInvalid,
    TokenKindMismatch,
    TokenVerifier,
    verify_access_token,
)
from quantagro_auth.verification import KeySource

pytestmark = pytest.mark.anyio


class Keyring:
    """A KeySource like the service's keyring: a dict, and a count of lookups."""

    def __init__(self, *keys: SigningKey) -> None:
        self.keys = {k.kid: k.private.public_key() for k in keys}
        self.lookups: list[str] = []

    async def verification_key(self, kid: str) -> Any | None:
        self.lookups.append(kid)
        return self.keys.get(kid)


@pytest.fixture
def keyring(key: SigningKey) -> Keyring:
    return Keyring(key)


async def refused(token: str, keyring: KeySource, expected: Any = "user") -> TokenInvalid:
    with pytest.raises(TokenInvalid) as caught:
        await verify_access_token(token, keyring, expected=expected)
    return caught.value


async def test_a_genuine_user_token_returns_its_claims(key, keyring):
    claims = user_claims()
    verified = await verify_access_token(mint(key, claims), keyring)
    assert verified == claims
    assert isinstance(keyring, KeySource)


async def test_alg_none_is_refused(key, keyring):
    token = f"{b64({'alg': 'none', 'typ': 'at+jwt', 'kid': key.kid})}.{b64(user_claims())}."
    await refused(token, keyring)
    assert keyring.lookups == []  # refused on the header, before any key lookup


async def test_hs256_signed_with_the_public_key_is_refused(key, keyring):
    pem = key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{b64({'alg': 'HS256', 'typ': 'at+jwt', 'kid': key.kid})}.{b64(user_claims())}"
    signature = base64.urlsafe_b64encode(
        hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    ).rstrip(b"=")
    await refused(f"{signing_input}.{signature.decode()}", keyring)


@pytest.mark.parametrize("alg", ["RS384", "RS512", "PS256"])
async def test_other_rsa_algorithms_with_our_key_are_refused(key, keyring, alg):
    token = jwt.encode(
        user_claims(), key.private, algorithm=alg, headers={"kid": key.kid, "typ": "at+jwt"}
    )
    await refused(token, keyring)


async def test_a_key_we_do_not_publish_is_refused_even_with_an_embedded_jwk(keys, keyring):
    attacker = keys[2]
    for headers in (
        {},
        {"jwk": attacker.jwk},
        {"jku": "https://evil.example/jwks.json"},
        {"x5u": "https://evil.example/cert.pem"},
        {"x5c": ["MIIB..."]},
    ):
        await refused(mint(attacker, user_claims(), **headers), keyring)
    assert set(keyring.lookups) <= {"attacker-key"}


async def test_an_embedded_jwk_or_jku_is_refused_even_with_our_kid(keys, keyring):
    ours, attacker = keys[0], keys[2]
    forged = SigningKey(ours.kid, attacker.private)
    for headers in ({"jwk": attacker.jwk}, {"jku": "https://evil.example/jwks.json"}, {}):
        await refused(mint(forged, user_claims(), **headers), keyring)
    await refused(mint(ours, user_claims(), crit=["exp"]), keyring)


async def test_signature_tampering_truncation_and_garbage_are_refused(key, keyring):
    token = mint(key, user_claims())
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
        "",
        f"{b64({'alg': 'RS256', 'typ': 'at+jwt', 'kid': key.kid})}.e30." + "A" * 8200,
    ):
        await refused(forged, keyring)


@pytest.mark.parametrize(
    ("claims", "headers"),
    [
        ({"iss": "someone_else"}, {}),
        ({"iss": "http://127.0.0.1:8001"}, {}),
        ({"aud": "other_platform"}, {}),
        ({"aud": ["other_platform", "another"]}, {}),
        ({}, {"typ": "JWT"}),
        ({}, {"typ": "application/jwt"}),
        ({}, {"typ": None}),
        ({"nbf": int(time.time()) + 120}, {}),
        ({"iat": int(time.time()) + 120}, {}),
    ],
    ids=["iss", "iss-url", "aud", "aud-list", "typ-jwt", "typ-app", "typ-missing", "nbf", "iat"],
)
async def test_wrong_issuer_audience_type_or_timing_is_refused(key, keyring, claims, headers):
    error = await refused(mint(key, user_claims(**claims), **headers), keyring)
    assert type(error) is TokenInvalid


@pytest.mark.parametrize("kid", ["", "k" * 65, 42, None])
async def test_a_missing_empty_overlong_or_non_string_kid_is_refused(key, keyring, kid):
    header = {"alg": "RS256", "typ": "at+jwt", "kid": kid}
    await refused(sign_raw(key, header, user_claims()), keyring)
    assert keyring.lookups == []
    genuine = sign_raw(key, {**header, "kid": key.kid}, user_claims())
    assert await verify_access_token(genuine, keyring)


@pytest.mark.parametrize("claim", ["exp", "iat", "sub", "jti", "iss", "aud"])
async def test_a_token_missing_a_required_claim_is_refused(key, keyring, claim):
    claims = user_claims()
    del claims[claim]
    await refused(mint(key, claims), keyring)


async def test_an_expired_token_says_expired_and_the_leeway_is_five_seconds(key, keyring):
    now = int(time.time())
    expired = user_claims(exp=now - 120, iat=now - 1000, nbf=now - 1000)
    with pytest.raises(TokenExpired):
        await verify_access_token(mint(key, expired), keyring)
    within_leeway = user_claims(exp=now - 2, nbf=now + 2, iat=now - 100)
    assert await verify_access_token(mint(key, within_leeway), keyring)


async def test_a_service_token_is_not_a_user_token_and_vice_versa(key, keyring):
    service = mint(key, service_claims())
    user = mint(key, user_claims())
    error = await refused(service, keyring, expected="user")
    assert isinstance(error, TokenKindMismatch)
    assert (error.expected, error.actual) == ("user", "service")
    await refused(user, keyring, expected="service")
    assert (await verify_access_token(service, keyring, expected="service"))["client_id"]
    assert (await verify_access_token(user, keyring, expected="any"))["sid"]


async def test_a_token_with_both_or_neither_sid_and_client_id_is_refused(key, keyring):
    both = user_claims(client_id="backend")
    neither = {k: v for k, v in user_claims().items() if k != "sid"}
    for claims in (both, neither):
        for expected in ("user", "service", "any"):
            await refused(mint(key, claims), keyring, expected=expected)


@pytest.mark.parametrize("token", ["qrt_" + "a" * 43, "qms_" + "b" * 43, "qcs_" + "c" * 43])
async def test_opaque_refresh_mfa_and_client_secrets_are_not_bearer_tokens(keyring, token):
    await refused(token, keyring, expected="any")


async def test_the_verifier_binds_issuer_and_audience(key, keyring):
    token = mint(key, user_claims(iss="staging_users", aud="paper_trading"))
    await refused(token, keyring)
    verifier = TokenVerifier(keyring, issuer="staging_users", audience="paper_trading")
    assert (await verifier.verify(token))["iss"] == "staging_users"
