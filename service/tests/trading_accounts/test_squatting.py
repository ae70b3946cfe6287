"""Review item 4: an unconfirmed link cannot squat a trader's broker account (both back-ends)."""

import asyncio
import datetime as dt

import pytest

from tests.trading_accounts.helpers import (
    audit_rows,
    complete_kite_login,
    kite_browser_login,
    link,
    link_body,
    set_account_columns,
    settings_overrides,  # noqa: F401 - the Kite stand-in for the app
    verified_user,
)
from user_service.db import utcnow

pytestmark = pytest.mark.anyio


async def _my_events(client, user, event_type):
    response = await client.get(
        "/v1/users/me/audit", params={"event_type": event_type}, headers=user.headers
    )
    return response.json()["items"]


async def test_a_squatter_cannot_lock_the_real_owner_out(app, client, new_client, kite_app):
    async with new_client() as squatter_browser:
        squatter = await verified_user(app, squatter_browser)
        squat = await link(
            squatter_browser, squatter, kite_app, api_key="junkkey000", api_secret="junk-secret"
        )
        owner = await verified_user(app, client)
        # The real owner links the same Kite user id: no 409, whoever proves it keeps it.
        mine = await link(client, owner, kite_app)
        confirmed = await complete_kite_login(client, owner, mine["account_id"])
        assert confirmed.status_code == 200 and confirmed.json()["status"] == "active"
        # The squat is gone for its creator, and says why in their own audit trail.
        listed = await squatter_browser.get("/v1/trading-accounts", headers=squatter.headers)
        assert listed.json()["items"] == []
        gone = await squatter_browser.get(
            f"/v1/trading-accounts/{squat['account_id']}", headers=squatter.headers
        )
        assert gone.status_code == 404
        (event,) = await _my_events(squatter_browser, squatter, "trading_account.link_taken_over")
        assert event["details"]["by_account"] == mine["account_id"]
    # Once confirmed, the broker account cannot be linked by anyone else.
    async with new_client() as late_browser:
        late = await verified_user(app, late_browser)
        again = await late_browser.post(
            "/v1/trading-accounts", json=link_body(kite_app), headers=late.headers
        )
        assert again.status_code == 409
        assert again.json()["code"] == "trading_account_already_linked"


async def test_an_unconfirmed_link_lapses_after_24_hours(app, client, new_client, kite_app):
    async with new_client() as squatter_browser:
        squatter = await verified_user(app, squatter_browser)
        squat = await link(squatter_browser, squatter, kite_app, api_key="junkkey000")
        await set_account_columns(
            app, squat["account_id"], created_at=utcnow() - dt.timedelta(hours=25)
        )
        # Nobody acted: it is already gone from its owner's list and look-ups.
        listed = await squatter_browser.get("/v1/trading-accounts", headers=squatter.headers)
        assert listed.json()["items"] == []
        owner = await verified_user(app, client)
        await link(client, owner, kite_app)  # the next link deletes it, audited
    assert [
        row.event_type
        for row in await audit_rows(app, "trading_account.link_expired", squat["account_id"])
    ] == ["trading_account.link_expired"]


async def test_two_racing_confirmations_of_one_broker_account_leave_one_owner(
    app, client, new_client, kite_app
):
    async def ready_to_confirm(browser):
        user = await verified_user(app, browser)
        account = await link(browser, user, kite_app)
        url = await browser.get(
            f"/v1/trading-accounts/{account['account_id']}/kite/login-url", headers=user.headers
        )
        redirect = await kite_browser_login(url.json()["login_url"])
        return browser, user, account["account_id"], redirect["request_token"]

    async with new_client() as first_browser, new_client() as second_browser:
        contenders = [await ready_to_confirm(first_browser), await ready_to_confirm(second_browser)]

        async def confirm(browser, user, account_id, request_token):
            return await browser.post(
                f"/v1/trading-accounts/{account_id}/kite/session",
                json={"request_token": request_token},
                headers=user.headers,
            )

        results = await asyncio.gather(*(confirm(*contender) for contender in contenders))
        statuses = sorted(result.status_code for result in results)
        # Both hold the real keys: one keeps the broker account, the other is refused or
        # finds its unconfirmed link taken over — never two confirmed owners.
        assert statuses[0] == 200 and statuses[1] in (404, 409), [r.text for r in results]
        owned = [
            (await browser.get("/v1/trading-accounts", headers=user.headers)).json()["items"]
            for browser, user, _, _ in contenders
        ]
        assert sorted(len(items) for items in owned) == [0, 1]
