"""Bounded sharing: grants that end, owner-only ``manage``, no re-sharing beyond one's own
grant, leaving an account (issue 13 part 2; docs/trading-accounts.md "Bounded sharing")."""

import datetime as dt
import uuid

import pytest
from sqlalchemy import update

from tests.admin.support import db_session
from tests.authz.support import ask
from tests.fixtures.users import login
from tests.mfa.helpers import jwt_claims
from tests.trading_accounts.helpers import (
    linked_active_account,
    outbox_rows,
    service_headers,
    settings_overrides,  # noqa: F401 - the Kite stand-in for the app
    verified_user,
)
from user_service.models import TradingAccountMembership

pytestmark = pytest.mark.anyio


def iso(delta: dt.timedelta) -> str:
    return (dt.datetime.now(dt.UTC) + delta).isoformat()


@pytest.fixture
async def owned(app, client, kite_state):
    owner = await verified_user(app, client)
    account = await linked_active_account(client, owner, kite_state.register_app())
    return owner, account["account_id"]


async def share(client, owner, account_id, email, permissions, expires_at=None):
    body = {"email": email, "permissions": permissions}
    if expires_at is not None:
        body["expires_at"] = expires_at
    return await client.post(
        f"/v1/trading-accounts/{account_id}/members", json=body, headers=owner.headers
    )


async def end_grant(app, account_id: str, user_id: str) -> None:
    """Move a grant's end into the past, as the clock would."""
    async with db_session(app) as db:
        await db.execute(
            update(TradingAccountMembership)
            .where(
                TradingAccountMembership.account_id == uuid.UUID(account_id),
                TradingAccountMembership.user_id == uuid.UUID(user_id),
            )
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )


async def test_an_expired_grant_is_gone_everywhere_without_anyone_acting(app, client, owned):
    owner, account_id = owned
    member = await verified_user(app, client)
    until = iso(dt.timedelta(days=7))
    added = await share(client, owner, account_id, member.email, ["trade"], until)
    assert added.status_code == 201, added.text
    assert added.json()["expires_at"] is not None
    listed = (await client.get("/v1/trading-accounts", headers=member.headers)).json()["items"]
    assert [a["expires_at"] is not None for a in listed] == [True]
    [event] = [e for e in await outbox_rows(app, account_id) if e.event_type.endswith("added")]
    assert event.payload["expires_at"] == dt.datetime.fromisoformat(until).isoformat()

    await end_grant(app, account_id, member.user_id)

    members = await client.get(f"/v1/trading-accounts/{account_id}/members", headers=owner.headers)
    assert members.json()["items"] == []
    assert (await client.get("/v1/trading-accounts", headers=member.headers)).json()["items"] == []
    gone = await client.get(f"/v1/trading-accounts/{account_id}", headers=member.headers)
    assert gone.status_code == 404
    decision = await ask(
        client, member.headers, "trading_account:view", resource=f"trading_account:{account_id}"
    )
    assert decision["allowed"] is False
    ticker = await service_headers(app, ["credentials:read"])
    release = await client.post(
        f"/v1/internal/trading-accounts/{account_id}/credentials",
        json={"on_behalf_of": member.user_id},
        headers=ticker,
    )
    assert release.status_code == 403 and release.json()["code"] == "on_behalf_of_not_permitted"
    await login(client, member)
    assert jwt_claims(member.access_token)["trading_accounts"] == []
    # Sharing again starts a new grant.
    again = await share(client, owner, account_id, member.email, ["view"])
    assert again.status_code == 201 and again.json()["expires_at"] is None


async def test_the_end_of_a_grant_must_be_in_the_future_and_within_a_year(app, client, owned):
    owner, account_id = owned
    member = await verified_user(app, client)
    for when in (iso(-dt.timedelta(hours=1)), iso(dt.timedelta(days=366))):
        refused = await share(client, owner, account_id, member.email, ["view"], when)
        assert refused.status_code == 422 and refused.json()["code"] == "invalid_expiry"
        assert refused.json()["errors"][0]["field"] == "expires_at"
    malformed = await share(client, owner, account_id, member.email, ["view"], "next tuesday")
    assert malformed.status_code == 422 and malformed.json()["code"] == "validation_error"
    # Changing only the end is an update, announced with the previous end.
    first = await share(
        client, owner, account_id, member.email, ["view"], iso(dt.timedelta(days=2))
    )
    assert first.status_code == 201
    longer = await share(
        client, owner, account_id, member.email, ["view"], iso(dt.timedelta(days=9))
    )
    assert longer.status_code == 200
    updated = [e for e in await outbox_rows(app, account_id) if e.event_type.endswith("updated")]
    assert updated[-1].payload["previous_expires_at"] is not None


async def test_a_manager_shares_below_their_level_and_never_beyond_their_own_end(
    app, client, owned
):
    owner, account_id = owned
    manager, viewer, other_manager = [await verified_user(app, client) for _ in range(3)]
    manager_until = dt.datetime.now(dt.UTC) + dt.timedelta(days=10)
    assert (
        await share(client, owner, account_id, manager.email, ["manage"], manager_until.isoformat())
    ).status_code == 201
    assert (
        await share(client, owner, account_id, other_manager.email, ["manage"])
    ).status_code == 201

    cases = [
        (["manage"], iso(dt.timedelta(days=1)), "owner_only_permission"),
        (["view"], None, "grant_outlives_yours"),
        (["trade"], iso(dt.timedelta(days=11)), "grant_outlives_yours"),
    ]
    for permissions, until, code in cases:
        refused = await share(client, manager, account_id, viewer.email, permissions, until)
        assert refused.status_code == 403 and refused.json()["code"] == code, refused.text
    within = await share(
        client, manager, account_id, viewer.email, ["trade"], iso(dt.timedelta(days=9))
    )
    assert within.status_code == 201, within.text
    assert within.json()["added_by"] == manager.user_id

    touch_manager = await client.delete(
        f"/v1/trading-accounts/{account_id}/members/{other_manager.user_id}",
        headers=manager.headers,
    )
    assert touch_manager.status_code == 403
    assert touch_manager.json()["code"] == "owner_only_permission"
    removed = await client.delete(
        f"/v1/trading-accounts/{account_id}/members/{viewer.user_id}", headers=manager.headers
    )
    assert removed.status_code == 204


async def test_a_member_leaves_and_the_event_says_so(app, client, owned):
    owner, account_id = owned
    member = await verified_user(app, client)
    await share(client, owner, account_id, member.email, ["trade"], iso(dt.timedelta(days=3)))
    left = await client.delete(
        f"/v1/trading-accounts/{account_id}/members/me", headers=member.headers
    )
    assert left.status_code == 204
    again = await client.delete(
        f"/v1/trading-accounts/{account_id}/members/me", headers=member.headers
    )
    assert again.status_code == 404
    owner_leaves = await client.delete(
        f"/v1/trading-accounts/{account_id}/members/me", headers=owner.headers
    )
    assert owner_leaves.status_code == 409 and owner_leaves.json()["code"] == "owner_not_removable"
    [event] = [e for e in await outbox_rows(app, account_id) if e.event_type.endswith("removed")]
    assert event.payload["member_user_id"] == member.user_id
    assert event.payload["left"] is True and event.payload["expires_at"] is not None
    assert event.payload["permissions"] == ["view", "trade"]
