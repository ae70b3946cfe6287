"""POST /v1/internal/trading-accounts/{id}/credentials: who gets credentials; the trail."""

import datetime as dt
import uuid

import pytest

from tests.trading_accounts.helpers import (
    account_row,
    audit_rows,
    link,
    linked_active_account,
    outbox_rows,
    service_headers,
    set_account_columns,
    settings_overrides,  # noqa: F401 - the Kite stand-in for the app
    verified_user,
)
from user_service.metrics import CREDENTIALS_RELEASED

pytestmark = pytest.mark.anyio


def release_url(account_id: str) -> str:
    return f"/v1/internal/trading-accounts/{account_id}/credentials"


@pytest.fixture
async def active(app, client, kite_state):
    kite_app = kite_state.register_app()
    owner = await verified_user(app, client)
    account = await linked_active_account(client, owner, kite_app)
    return owner, account, kite_app


async def test_a_service_with_the_scope_gets_the_credentials_once_audited(app, client, active):
    owner, account, kite_app = active
    ticker = await service_headers(app, ["quotes:subscribe", "credentials:read"])
    before = CREDENTIALS_RELEASED.labels("ticker_service")._value.get()

    for _ in range(2):
        response = await client.post(release_url(account["account_id"]), headers=ticker)
        assert response.status_code == 200, response.text
    body = response.json()
    assert body["api_key"] == kite_app.api_key and body["api_secret"] == kite_app.api_secret
    assert body["access_token"] and body["user_id_broker"] == kite_app.user_id
    assert body["access_token_expires_at"] == account["access_token_expires_at"]
    assert response.headers["cache-control"] == "no-store"

    rows = await audit_rows(app, "credentials.released", account["account_id"])
    assert len(rows) == 2
    assert rows[0].actor == "client:ticker_service"
    assert str(rows[0].user_id) == owner.user_id
    assert rows[0].details == {
        "client_id": "ticker_service",
        "account_id": account["account_id"],
        "broker": "kite",
        "on_behalf_of": None,
    }
    assert CREDENTIALS_RELEASED.labels("ticker_service")._value.get() == before + 2

    trail = await client.get(
        "/v1/users/me/audit?event_type=credentials.released", headers=owner.headers
    )
    assert len(trail.json()["items"]) == 2  # the owner sees every release


async def test_without_the_scope_it_is_403(app, client, active):
    _, account, _ = active
    alerts = await service_headers(app, ["alerts:read"], client_id="alert_service")
    response = await client.post(release_url(account["account_id"]), headers=alerts)
    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"
    assert await audit_rows(app, "credentials.released", account["account_id"]) == []


async def test_a_user_token_is_403_even_for_the_owner(app, client, active):
    owner, account, _ = active
    response = await client.post(release_url(account["account_id"]), headers=owner.headers)
    assert response.status_code == 403
    assert response.json()["code"] == "service_token_required"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not.a.jwt"}, {"Authorization": "Basic dGlja2VyOng="}],
)
async def test_no_or_a_bad_token_is_401(app, client, active, headers):
    _, account, _ = active
    response = await client.post(release_url(account["account_id"]), headers=headers)
    assert response.status_code == 401


async def test_unknown_account_is_404(app, client):
    ticker = await service_headers(app, ["credentials:read"])
    response = await client.post(release_url(str(uuid.uuid4())), headers=ticker)
    assert response.status_code == 404
    assert response.json()["code"] == "trading_account_not_found"


@pytest.mark.parametrize("status", ["pending_verification", "invalid", "expired"])
async def test_only_active_accounts_are_released(app, client, kite_app, status):
    owner = await verified_user(app, client)
    account = await link(client, owner, kite_app)
    await set_account_columns(app, account["account_id"], status=status)
    ticker = await service_headers(app, ["credentials:read"])
    response = await client.post(release_url(account["account_id"]), headers=ticker)
    assert response.status_code == 409
    assert response.json()["code"] == "account_not_active"
    assert response.json()["status"] == status


async def test_a_token_past_its_kite_expiry_is_not_released(app, client, active):
    _, account, _ = active
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    await set_account_columns(app, account["account_id"], access_token_expires_at=past)
    ticker = await service_headers(app, ["credentials:read"])
    response = await client.post(release_url(account["account_id"]), headers=ticker)
    assert response.status_code == 409
    assert response.json()["status"] == "expired"
    assert (await account_row(app, account["account_id"])).status == "expired"
    events = [event.event_type for event in await outbox_rows(app, account["account_id"])]
    assert events[-1] == "trading_account.expired"


async def test_on_behalf_of_must_own_or_trade(app, client, new_client, active):
    owner, account, _ = active
    account_id = account["account_id"]
    ticker = await service_headers(app, ["credentials:read"])
    async with new_client() as browser:
        trader = await verified_user(app, browser)
        viewer = await verified_user(app, browser)
        manager = await verified_user(app, browser)
        stranger = await verified_user(app, browser)
    for user, permissions in ((trader, ["trade"]), (viewer, ["view"]), (manager, ["manage"])):
        added = await client.post(
            f"/v1/trading-accounts/{account_id}/members",
            json={"email": user.email, "permissions": permissions},
            headers=owner.headers,
        )
        assert added.status_code == 201

    async def release_for(user_id):
        return await client.post(
            release_url(account_id), json={"on_behalf_of": user_id}, headers=ticker
        )

    for allowed in (owner, trader, manager):
        assert (await release_for(allowed.user_id)).status_code == 200
    for refused in (viewer.user_id, stranger.user_id, str(uuid.uuid4())):
        response = await release_for(refused)
        assert response.status_code == 403
        assert response.json()["code"] == "on_behalf_of_not_permitted"
    bad = await client.post(release_url(account_id), json={"on_behalf_of": "42"}, headers=ticker)
    assert bad.status_code == 422

    rows = await audit_rows(app, "credentials.released", account_id)
    # (trail, acted for): a delegate's release is in the owner's trail and the delegate's.
    assert [(str(row.user_id), row.details["on_behalf_of"]) for row in rows] == [
        (owner.user_id, owner.user_id),
        (owner.user_id, trader.user_id),
        (trader.user_id, trader.user_id),
        (owner.user_id, manager.user_id),
        (manager.user_id, manager.user_id),
    ]
