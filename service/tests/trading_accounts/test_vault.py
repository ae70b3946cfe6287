"""The credential vault: sealed per account, refused when tampered with or moved."""

import pickle
import uuid

import pytest

from tests.fixtures.sealed_blobs import data_key_of
from tests.trading_accounts.helpers import (
    account_row,
    audit_rows,
    linked_active_account,
    service_headers,
    set_account_columns,
    settings_overrides,  # noqa: F401 - the Kite stand-in for the app
    verified_user,
)
from user_service.kms import LocalKeyProvider, open_json, row_aad
from user_service.trading_accounts import vault
from user_service.trading_accounts.vault import Credentials, CredentialsUnreadable

pytestmark = pytest.mark.anyio

SECRET = "s3cr3t-api-secret-value"
TOKEN = "acc3ss-t0ken-value"


@pytest.fixture
def provider(tmp_path):
    return LocalKeyProvider.create(tmp_path / "master.key")


async def test_credentials_round_trip_and_are_bound_to_the_account(provider):
    account_id = uuid.uuid4()
    credentials = Credentials("kiteapikey1234", SECRET, TOKEN)
    blob = await vault.seal(provider, account_id, credentials)
    assert SECRET.encode() not in blob and TOKEN.encode() not in blob
    assert await vault.open_credentials(provider, account_id, blob) == credentials
    assert await open_json(provider, blob, row_aad("trading_account", account_id)) == {
        "api_key": "kiteapikey1234",
        "api_secret": SECRET,
        "access_token": TOKEN,
    }
    with pytest.raises(CredentialsUnreadable) as refused:
        await vault.open_credentials(provider, uuid.uuid4(), blob)
    assert SECRET not in str(refused.value) and refused.value.status_code == 500


async def test_each_seal_uses_a_fresh_data_key(provider):
    account_id = uuid.uuid4()
    credentials = Credentials("kiteapikey1234", SECRET)
    first = await vault.seal(provider, account_id, credentials)
    second = await vault.seal(provider, account_id, credentials)
    assert await data_key_of(provider, first) != await data_key_of(provider, second)


@pytest.mark.parametrize("position", [-1, -20, 40])
async def test_a_flipped_byte_is_refused(provider, position):
    account_id = uuid.uuid4()
    blob = bytearray(await vault.seal(provider, account_id, Credentials("kiteapikey1234", SECRET)))
    blob[position] ^= 0x01
    with pytest.raises(CredentialsUnreadable):
        await vault.open_credentials(provider, account_id, bytes(blob))


def test_credentials_never_show_their_secrets():
    credentials = Credentials("kiteapikey1234", SECRET, TOKEN)
    assert SECRET not in repr(credentials) and TOKEN not in repr(credentials)
    assert "kiteapikey1234" not in repr(credentials) and "1234" in repr(credentials)
    assert SECRET not in str(credentials)
    with pytest.raises(TypeError):
        pickle.dumps(credentials)


@pytest.mark.parametrize(
    ("api_key", "masked"),
    [("abcdefgh12345678", "••••5678"), ("abcdefghi", "••••fghi"), ("short", "••••")],
)
def test_masking_shows_at_most_the_last_four_characters(api_key, masked):
    assert vault.mask_api_key(api_key) == masked


# --- against the database -----------------------------------------------------------------


async def test_tampered_ciphertext_in_the_database_is_refused_and_audited(app, client, kite_state):
    owner = await verified_user(app, client)
    account = await linked_active_account(client, owner, kite_state.register_app())
    row = await account_row(app, account["account_id"])
    tampered = bytearray(row.credentials_sealed)
    tampered[-5] ^= 0xFF
    await set_account_columns(app, account["account_id"], credentials_sealed=bytes(tampered))

    ticker = await service_headers(app, ["credentials:read"])
    response = await client.post(
        f"/v1/internal/trading-accounts/{account['account_id']}/credentials", headers=ticker
    )
    assert response.status_code == 500
    assert response.json()["code"] == "credentials_unreadable"
    verify = await client.post(
        f"/v1/trading-accounts/{account['account_id']}/verify", headers=owner.headers
    )
    assert verify.status_code == 500
    rows = await audit_rows(app, "trading_account.credentials_unreadable", account["account_id"])
    assert [row.actor for row in rows] == ["client:ticker_service", f"user:{owner.user_id}"]
    assert rows[0].risk_score >= 50
    assert await audit_rows(app, "credentials.released", account["account_id"]) == []


async def test_a_blob_moved_to_another_account_does_not_open(app, client, new_client, kite_state):
    victim = await verified_user(app, client)
    victim_account = await linked_active_account(client, victim, kite_state.register_app())
    async with new_client() as attacker_browser:
        attacker = await verified_user(app, attacker_browser)
        attacker_account = await linked_active_account(
            attacker_browser, attacker, kite_state.register_app()
        )
    stolen = (await account_row(app, victim_account["account_id"])).credentials_sealed
    await set_account_columns(app, attacker_account["account_id"], credentials_sealed=stolen)

    ticker = await service_headers(app, ["credentials:read"])
    moved = await client.post(
        f"/v1/internal/trading-accounts/{attacker_account['account_id']}/credentials",
        headers=ticker,
    )
    assert moved.status_code == 500 and moved.json()["code"] == "credentials_unreadable"
    original = await client.post(
        f"/v1/internal/trading-accounts/{victim_account['account_id']}/credentials",
        headers=ticker,
    )
    assert original.status_code == 200


async def test_the_database_holds_no_plaintext(app, client, kite_state):
    kite_app = kite_state.register_app()
    owner = await verified_user(app, client)
    account = await linked_active_account(client, owner, kite_app)
    row = await account_row(app, account["account_id"])
    for value in (kite_app.api_key, kite_app.api_secret):
        assert value.encode() not in row.credentials_sealed
        assert value not in repr(row)
    assert row.api_key_masked == "••••" + kite_app.api_key[-4:]


def test_request_and_release_models_never_show_secrets():
    from user_service.trading_accounts.schemas import KiteSessionIn, LinkIn, ReleasedCredentialsOut

    body = LinkIn(
        broker="kite",
        user_id_broker="AB1234",
        api_key="kiteapikey1234",
        api_secret=SECRET,
        access_token=TOKEN,
    )
    released = ReleasedCredentialsOut(
        account_id="a",
        broker="kite",
        user_id_broker="AB1234",
        api_key="kiteapikey1234",
        api_secret=SECRET,
        access_token=TOKEN,
        access_token_expires_at=None,
    )
    session = KiteSessionIn(request_token=TOKEN)
    for model in (body, released, session):
        assert SECRET not in repr(model) and TOKEN not in repr(model) and TOKEN not in str(model)
    assert released.model_dump()["api_secret"] == SECRET  # still serialised for the service
