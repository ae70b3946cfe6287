"""Kite's answers and failures as the trader sees them (expired, wrong user, slow, down)."""

import socket
import time

import pytest

from tests.conftest import client_for, running_app
from tests.trading_accounts.helpers import (
    audit_rows,
    complete_kite_login,
    link,
    linked_active_account,
    settings_overrides,  # noqa: F401 - the Kite stand-in for the app
    verified_user,
)

pytestmark = pytest.mark.anyio


async def test_flushed_token_makes_the_account_expired(app, client, kite_state):
    kite_app = kite_state.register_app()
    owner = await verified_user(app, client)
    account = await linked_active_account(client, owner, kite_app)
    kite_state.expire_tokens(kite_app.api_key)

    response = await client.post(
        f"/v1/trading-accounts/{account['account_id']}/verify", headers=owner.headers
    )
    assert response.status_code == 200
    assert response.json()["status"] == "expired"
    assert response.json()["reason"] == "access_token_expired"
    audited = (await audit_rows(app, "trading_account.verified", account["account_id"]))[-1]
    assert audited.details["error_type"] == "TokenException"

    # The daily login brings it back.
    again = await complete_kite_login(client, owner, account["account_id"])
    assert again.status_code == 200 and again.json()["status"] == "active"


async def test_a_token_that_never_worked_makes_the_account_invalid(app, client, kite_app):
    owner = await verified_user(app, client)
    account = await link(client, owner, kite_app, access_token="not-a-kite-token")
    response = await client.post(
        f"/v1/trading-accounts/{account['account_id']}/verify", headers=owner.headers
    )
    assert response.status_code == 200
    assert response.json()["status"] == "invalid"
    assert response.json()["reason"] == "credentials_rejected"


async def test_a_pasted_working_token_activates_with_the_next_kite_expiry(
    app, client, kite_state, kite_app
):
    owner = await verified_user(app, client)
    token = kite_state.issue_access_token(kite_app.api_key)
    account = await link(client, owner, kite_app, access_token=token)
    response = await client.post(
        f"/v1/trading-accounts/{account['account_id']}/verify", headers=owner.headers
    )
    assert response.status_code == 200
    assert response.json()["status"] == "active"
    assert response.json()["access_token_expires_at"] is not None
    assert token not in response.text


async def test_verify_without_a_token_asks_for_the_kite_login(app, client, kite_app):
    owner = await verified_user(app, client)
    account = await link(client, owner, kite_app)
    response = await client.post(
        f"/v1/trading-accounts/{account['account_id']}/verify", headers=owner.headers
    )
    assert response.status_code == 409
    assert response.json()["code"] == "broker_login_required"


async def test_another_broker_users_token_is_dropped_and_the_account_invalid(
    app, client, kite_state, kite_app
):
    owner = await verified_user(app, client)
    token = kite_state.issue_access_token(kite_app.api_key)
    account = await link(
        client, owner, kite_app, user_id_broker="ZZ" + kite_app.user_id, access_token=token
    )
    base = f"/v1/trading-accounts/{account['account_id']}"

    response = await client.post(f"{base}/verify", headers=owner.headers)
    assert response.status_code == 200
    assert response.json()["status"] == "invalid"
    assert response.json()["reason"] == "broker_user_mismatch"
    again = await client.post(f"{base}/verify", headers=owner.headers)
    assert again.status_code == 409 and again.json()["code"] == "broker_login_required"

    # The login flow for the wrong broker user stores nothing either.
    session = await complete_kite_login(client, owner, account["account_id"])
    assert session.status_code == 409
    assert session.json()["code"] == "broker_user_mismatch"
    assert (await client.get(base, headers=owner.headers)).json()["status"] == "invalid"


async def test_a_stale_request_token_is_a_broker_auth_error(app, client, kite_app):
    owner = await verified_user(app, client)
    account = await link(client, owner, kite_app)
    response = await client.post(
        f"/v1/trading-accounts/{account['account_id']}/kite/session",
        json={"request_token": "used-or-invented"},
        headers=owner.headers,
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "broker_auth_failed"
    assert body["broker"] == "kite" and body["error_type"] == "TokenException"
    assert kite_app.api_secret not in response.text


async def test_slow_kite_is_504_in_bounded_time_and_changes_nothing(app, client, kite_state):
    kite_app = kite_state.register_app()
    owner = await verified_user(app, client)
    account = await linked_active_account(client, owner, kite_app)
    base = f"/v1/trading-accounts/{account['account_id']}"
    kite_state.delay = 10.0  # the app gives Kite 3 s

    for path, body in ((f"{base}/verify", None), (f"{base}/kite/session", {"request_token": "x"})):
        started = time.monotonic()
        response = await client.post(path, json=body, headers=owner.headers)
        elapsed = time.monotonic() - started
        assert response.status_code == 504, response.text
        assert response.json()["code"] == "broker_timeout"
        assert elapsed < 6.0
    kite_state.reset_faults()
    current = await client.get(base, headers=owner.headers)
    assert current.json()["status"] == "active"
    assert current.json()["verified_at"] == account["verified_at"]


async def test_kite_outage_is_502_and_changes_nothing(app, client, kite_state):
    kite_app = kite_state.register_app()
    owner = await verified_user(app, client)
    account = await linked_active_account(client, owner, kite_app)
    base = f"/v1/trading-accounts/{account['account_id']}"
    kite_state.fail_status = 503
    calls_before = kite_state.api_calls("/user/profile")

    response = await client.post(f"{base}/verify", headers=owner.headers)
    assert response.status_code == 502
    assert response.json()["code"] == "broker_unavailable"
    assert response.json()["error_type"] == "NetworkException"
    assert kite_state.api_calls("/user/profile") == calls_before + 1  # no retry storm
    kite_state.reset_faults()
    assert (await client.get(base, headers=owner.headers)).json()["status"] == "active"


async def test_unreachable_kite_is_502(backend_settings, kite_url, kite_state):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    settings = backend_settings(
        kite_api_base_url=f"http://127.0.0.1:{dead_port}",
        kite_login_url=f"{kite_url}/connect/login",
        kite_timeout_seconds=2.0,
    )
    kite_app = kite_state.register_app()
    async with running_app(settings) as app, client_for(app) as client:
        owner = await verified_user(app, client)
        token = kite_state.issue_access_token(kite_app.api_key)
        account = await link(client, owner, kite_app, access_token=token)
        started = time.monotonic()
        response = await client.post(
            f"/v1/trading-accounts/{account['account_id']}/verify", headers=owner.headers
        )
        assert response.status_code == 502
        assert response.json()["code"] == "broker_unavailable"
        assert time.monotonic() - started < 2.5
        current = await client.get(
            f"/v1/trading-accounts/{account['account_id']}", headers=owner.headers
        )
        assert current.json()["status"] == "pending_verification"


async def test_a_rotation_during_a_verify_wins(app, client, kite_state, monkeypatch):
    """The verdict is about the credentials Kite saw; newer ones are never overwritten.

    Also shows that no transaction is held while Kite answers: the rotation inside the call
    would otherwise wait on SQLite's write lock.
    """
    kite_app = kite_state.register_app()
    owner = await verified_user(app, client)
    account = await linked_active_account(client, owner, kite_app)
    base = f"/v1/trading-accounts/{account['account_id']}"
    broker = app.state.services.brokers["kite"]
    original = broker.fetch_profile
    kite_state.expire_tokens(kite_app.api_key)

    async def fetch_while_the_owner_rotates(api_key, access_token):
        rotated = await client.put(
            f"{base}/credentials",
            json={"api_key": kite_app.api_key, "api_secret": kite_app.api_secret},
            headers=owner.headers,
        )
        assert rotated.status_code == 200
        return await original(api_key, access_token)

    monkeypatch.setattr(broker, "fetch_profile", fetch_while_the_owner_rotates)
    started = time.monotonic()
    response = await client.post(f"{base}/verify", headers=owner.headers)
    assert time.monotonic() - started < 5
    assert response.status_code == 409, response.text
    assert response.json()["code"] == "trading_account_changed"
    current = await client.get(base, headers=owner.headers)
    assert current.json()["status"] == "pending_verification"  # not "expired"
