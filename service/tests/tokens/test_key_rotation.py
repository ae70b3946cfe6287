import anyio
import jwt
import pytest

from tests.conftest import client_for, running_app
from tests.fixtures.users import signed_in_user
from user_service.tokens.signing_keys import rotate_signing_key

pytestmark = pytest.mark.anyio


async def rotate(app):
    services = app.state.services
    async with services.sessionmaker() as db:
        key, retired = await rotate_signing_key(db, services.key_provider, 2048, 3600)
        await db.commit()
    return key.kid, retired


async def test_rotation_publishes_both_keys_and_old_tokens_keep_working(client, app):
    user = await signed_in_user(client)
    old_kid = jwt.get_unverified_header(user.access_token)["kid"]
    new_kid, retired = await rotate(app)
    assert old_kid in retired
    await app.state.services.keyring.refresh(force=True)
    kids = {
        key["kid"] for key in (await client.get("/v1/auth/.well-known/jwks.json")).json()["keys"]
    }
    assert {old_kid, new_kid} <= kids
    # A token signed by the retired key is still valid until it expires.
    assert (await client.get("/v1/users/me", headers=user.headers)).status_code == 200
    # New tokens are signed by the new key.
    refreshed = await client.post("/v1/auth/refresh")
    assert jwt.get_unverified_header(refreshed.json()["access_token"])["kid"] == new_kid


async def test_another_instance_signs_with_the_new_key_after_its_refresh_interval(
    app, backend_settings
):
    async with running_app(backend_settings()) as other, client_for(other) as http:
        new_kid, _ = await rotate(app)
        await other.state.services.keyring.refresh(
            force=True
        )  # ≤ SIGNING_KEY_REFRESH_SECONDS later
        user = await signed_in_user(http)
        assert jwt.get_unverified_header(user.access_token)["kid"] == new_kid


async def test_jwks_entries_carry_kid_alg_and_use_and_no_private_parts(client):
    keys = (await client.get("/v1/.well-known/jwks.json")).json()["keys"]
    assert keys
    for key in keys:
        assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig" and key["kid"]
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)


async def test_private_keys_are_stored_sealed(app):
    from sqlalchemy import select

    from user_service.models import JwtSigningKey

    async with app.state.services.sessionmaker() as db:
        rows = list((await db.execute(select(JwtSigningKey))).scalars())
    assert rows
    for row in rows:
        assert b"PRIVATE KEY" not in row.private_key_sealed


async def test_a_rotated_key_is_published_before_it_signs(client, app, backend_settings):
    """Issue 10: verifiers that cache the JWKS must hold a key before its first token exists."""
    user = await signed_in_user(client)
    old_kid = jwt.get_unverified_header(user.access_token)["kid"]
    services = app.state.services
    async with services.sessionmaker() as db:
        key, _ = await rotate_signing_key(
            db, services.key_provider, 2048, 3600, publish_lead_seconds=4
        )
        await db.commit()
    await anyio.sleep(1.1)  # JWKS_MAX_STALENESS
    jwks = await client.get("/v1/.well-known/jwks.json")
    assert key.kid in {entry["kid"] for entry in jwks.json()["keys"]}  # published at once
    assert jwks.headers["cache-control"] == "public, max-age=30"
    async with running_app(backend_settings()) as other, client_for(other) as http:
        # Every instance keeps signing with the old key during the lead time...
        early = await signed_in_user(http)
        assert jwt.get_unverified_header(early.access_token)["kid"] == old_kid
        refreshed = await client.post("/v1/auth/refresh")
        assert jwt.get_unverified_header(refreshed.json()["access_token"])["kid"] == old_kid
        # ...and switches by itself when it ends, without waiting for a reload.
        await anyio.sleep(3.2)  # 4 s after the rotation
        late = await signed_in_user(http)
        assert jwt.get_unverified_header(late.access_token)["kid"] == key.kid
        again = await client.post("/v1/auth/refresh")
        assert jwt.get_unverified_header(again.json()["access_token"])["kid"] == key.kid
