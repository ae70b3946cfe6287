"""The alert service keeps each trader's alerts to themselves."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.platform.support import sign_up

pytestmark = pytest.mark.anyio

ALERT = {"symbol": "NSE:INFY", "condition": "above", "price": 1500.5, "note": "breakout"}


@pytest.fixture
async def alerts(platform) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=platform.config.url("alerts"), timeout=10) as client:
        yield client


async def test_two_traders_alerts_are_fully_isolated(platform, http, alerts):
    alice = await sign_up(http, platform.mail_dir)
    bob = await sign_up(http, platform.mail_dir)
    created = await alerts.post("/alerts", json=ALERT, headers=alice.headers)
    assert created.status_code == 201, created.text
    alert = created.json()
    assert alert["user_id"] == alice.user_id and alert["symbol"] == "NSE:INFY"
    path = f"/alerts/{alert['alert_id']}"

    assert (await alerts.get("/alerts", headers=bob.headers)).json() == {
        "items": [],
        "next_cursor": None,
    }
    for method, body in (("GET", None), ("PATCH", {"price": 1.0}), ("DELETE", None)):
        response = await alerts.request(method, path, json=body, headers=bob.headers)
        assert response.status_code == 404, (method, response.text)
        assert response.json()["code"] == "alert_not_found"
    missing = await alerts.get("/alerts/00000000-0000-0000-0000-000000000000", headers=bob.headers)
    assert missing.json() == response.json()  # someone else's alert looks like no alert

    listed = (await alerts.get("/alerts", headers=alice.headers)).json()
    assert listed["items"] == [alert]


async def test_user_id_comes_from_the_token_never_the_body(platform, http, alerts):
    alice = await sign_up(http, platform.mail_dir)
    response = await alerts.post(
        "/alerts", json={**ALERT, "user_id": "someone-else"}, headers=alice.headers
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


async def test_create_read_update_delete_and_pages(platform, http, alerts):
    trader = await sign_up(http, platform.mail_dir)
    ids = []
    for price in (100, 200, 300):
        response = await alerts.post(
            "/alerts", json={**ALERT, "price": price}, headers=trader.headers
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["alert_id"])

    first = (await alerts.get("/alerts", params={"limit": 2}, headers=trader.headers)).json()
    assert [a["alert_id"] for a in first["items"]] == ids[:2] and first["next_cursor"]
    rest = (
        await alerts.get(
            "/alerts", params={"limit": 2, "cursor": first["next_cursor"]}, headers=trader.headers
        )
    ).json()
    assert [a["alert_id"] for a in rest["items"]] == ids[2:] and rest["next_cursor"] is None

    patched = await alerts.patch(
        f"/alerts/{ids[0]}", json={"price": 150, "condition": "below"}, headers=trader.headers
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["price"] == 150 and patched.json()["condition"] == "below"
    paused = await alerts.patch(f"/alerts/{ids[0]}", json={"active": False}, headers=trader.headers)
    assert paused.json()["active"] is False and paused.json()["price"] == 150
    nulled = await alerts.patch(f"/alerts/{ids[0]}", json={"price": None}, headers=trader.headers)
    assert nulled.status_code == 422 and nulled.json()["code"] == "validation_error"
    assert (await alerts.delete(f"/alerts/{ids[1]}", headers=trader.headers)).status_code == 204
    assert (await alerts.get(f"/alerts/{ids[1]}", headers=trader.headers)).status_code == 404
    remaining = (await alerts.get("/alerts", headers=trader.headers)).json()["items"]
    assert [a["alert_id"] for a in remaining] == [ids[0], ids[2]]


@pytest.mark.parametrize(
    "body",
    [
        {**ALERT, "price": -1},
        {**ALERT, "condition": "sideways"},
        {**ALERT, "symbol": "nse infy; drop"},
        {"symbol": "NSE:INFY"},
    ],
)
async def test_bad_input_is_422_with_detail_and_code(platform, http, alerts, body):
    trader = await sign_up(http, platform.mail_dir)
    response = await alerts.post("/alerts", json=body, headers=trader.headers)
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error" and response.json()["detail"]


async def test_without_a_token_nothing_is_served(alerts):
    response = await alerts.get("/alerts")
    assert response.status_code == 401
    assert set(response.json()) >= {"detail", "code"}
