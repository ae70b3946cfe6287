"""The backend during the migration from API keys: either credential works, the JWT wins,
and the answer says which one was used."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pyotp
import pytest
from websockets.asyncio.client import connect

from tests.platform.conftest import LEGACY_KEY, LEGACY_USER_ID
from tests.platform.support import receive_json, sign_up, ws_url

pytestmark = pytest.mark.anyio


@pytest.fixture
async def backend_http(platform) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=platform.config.url("backend"), timeout=10) as client:
        yield client


def assert_positions(body):
    assert body["positions"], body
    for row in body["positions"]:
        assert set(row) == {"symbol", "quantity", "average_price", "last_price", "pnl"}


async def test_legacy_api_key_is_accepted_and_reported(backend_http):
    response = await backend_http.get("/api/positions", headers={"X-API-Key": LEGACY_KEY})
    assert response.status_code == 200, response.text
    assert response.json()["auth_method"] == "api_key"
    assert response.json()["user_id"] == LEGACY_USER_ID
    assert_positions(response.json())


async def test_jwt_is_accepted_and_reported(platform, http, backend_http):
    trader = await sign_up(http, platform.mail_dir)
    response = await backend_http.get("/api/positions", headers=trader.headers)
    assert response.status_code == 200, response.text
    assert response.json()["auth_method"] == "jwt"
    assert response.json()["user_id"] == trader.user_id
    assert_positions(response.json())


async def test_jwt_is_preferred_when_both_come(platform, http, backend_http):
    trader = await sign_up(http, platform.mail_dir)
    response = await backend_http.get(
        "/api/positions", headers={**trader.headers, "X-API-Key": LEGACY_KEY}
    )
    assert response.status_code == 200, response.text
    assert (response.json()["auth_method"], response.json()["user_id"]) == ("jwt", trader.user_id)


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-API-Key": "not-a-key"}, {"Authorization": "Bearer not-a-jwt"}],
    ids=["nothing", "unknown key", "bad jwt"],
)
async def test_no_valid_credential_is_401(backend_http, headers):
    response = await backend_http.get("/api/positions", headers=headers)
    assert response.status_code == 401, response.text
    assert set(response.json()) >= {"detail", "code"}


async def test_a_bad_jwt_does_not_fall_back_to_the_api_key(backend_http):
    response = await backend_http.get(
        "/api/positions", headers={"Authorization": "Bearer not-a-jwt", "X-API-Key": LEGACY_KEY}
    )
    assert response.status_code == 401, response.text


async def test_cors_allows_the_frontend_origin_only(platform, backend_http):
    origin = platform.config.url("service")
    preflight = {
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
    }
    allowed = await backend_http.options("/api/positions", headers={"Origin": origin, **preflight})
    assert allowed.headers.get("access-control-allow-origin") == origin
    other = await backend_http.options(
        "/api/positions", headers={"Origin": "https://evil.example", **preflight}
    )
    assert "access-control-allow-origin" not in other.headers


async def test_indicator_socket_streams_for_a_signed_in_trader(platform, http):
    trader = await sign_up(http, platform.mail_dir)
    url = ws_url(platform.config.url("backend"), "/ws/indicators", trader.access_token)
    async with connect(url) as socket:
        first, second = await receive_json(socket), await receive_json(socket)
    assert first["type"] == second["type"] == "indicator"
    assert 0 <= first["rsi_14"] <= 100


async def test_an_order_needs_a_fresh_second_factor_and_an_unfrozen_account(
    platform, http, backend_http, trader
):
    """A trading action through the PDP: step_up_required until a TOTP was proven in the last
    5 minutes, then accepted; account_frozen once the owner froze the account."""
    order = {"symbol": "NSE:INFY", "side": "BUY", "quantity": 10}
    url = f"/api/trading-accounts/{trader.account_id}/orders"
    first = await backend_http.post(url, json=order, headers=trader.headers)
    assert first.status_code == 403 and first.json()["code"] == "step_up_required", first.text

    setup = await http.post("/v1/mfa/totp/setup", headers=trader.headers)
    secret = setup.json()["secret"]
    enabled = await http.post(
        "/v1/mfa/totp/enable", json={"code": pyotp.TOTP(secret).now()}, headers=trader.headers
    )
    assert enabled.status_code == 200, enabled.text
    backup_code = enabled.json()["backup_codes"][0]
    stepped = await http.post(
        "/v1/auth/step-up", json={"code": backup_code}, headers=trader.headers
    )
    assert stepped.status_code == 200, stepped.text
    trader.access_token = stepped.json()["access_token"]
    placed = await backend_http.post(url, json=order, headers=trader.headers)
    assert placed.status_code == 201, placed.text
    assert placed.json()["status"] == "accepted" and placed.json()["placed_by"] == trader.user_id

    frozen = await http.post(
        "/v1/users/me/freeze",
        json={"code": enabled.json()["backup_codes"][1]},
        headers=trader.headers,
    )
    assert frozen.status_code == 200, frozen.text
    # Signed in again with a fresh second factor: the freeze still stops the order.
    login = await http.post(
        "/v1/auth/login", json={"email": trader.email, "password": trader.password}
    )
    verified = await http.post(
        "/v1/auth/mfa/verify",
        json={
            "session_token": login.json()["session_token"],
            "code": enabled.json()["backup_codes"][2],
        },
    )
    assert verified.status_code == 200, verified.text
    trader.access_token = verified.json()["access_token"]
    # Two refusals, in a fixed order: the PDP's 403 account_frozen at once, then the SDK's
    # 401 token_revoked once the backend has read user.frozen from the feed (within 2 s).
    answers: list[tuple[int, str]] = []
    deadline = asyncio.get_running_loop().time() + 2.0
    while not answers or answers[-1][1] != "token_revoked":
        refused = await backend_http.post(url, json=order, headers=trader.headers)
        answers.append((refused.status_code, refused.json()["code"]))
        if asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.05)
    assert answers[-1] == (401, "token_revoked"), answers
    assert set(answers[:-1]) <= {(403, "account_frozen")}, answers
