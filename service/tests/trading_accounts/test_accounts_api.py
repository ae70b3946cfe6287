"""Owner, member and stranger against /v1/trading-accounts (both back-ends)."""

import asyncio
import uuid

import pytest

from tests.fixtures.users import signed_in_user, unique_email
from tests.trading_accounts.helpers import (
    audit_rows,
    link,
    link_body,
    linked_active_account,
    mark_email_verified,
    outbox_rows,
    settings_overrides,  # noqa: F401 - the Kite stand-in for the app
    verified_user,
)

pytestmark = pytest.mark.anyio


async def test_link_returns_pending_account_with_masked_key_only(app, client, kite_app):
    owner = await verified_user(app, client)
    response = await client.post(
        "/v1/trading-accounts", json=link_body(kite_app), headers=owner.headers
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "pending_verification"
    assert body["role"] == "owner"
    assert body["permissions"] == ["view", "trade", "manage"]
    assert body["broker"] == "kite" and body["user_id_broker"] == kite_app.user_id
    assert body["api_key_masked"] == "••••" + kite_app.api_key[-4:]
    assert kite_app.api_key not in response.text and kite_app.api_secret not in response.text
    assert response.headers["cache-control"] == "no-store"

    [audited] = await audit_rows(app, "trading_account.linked", body["account_id"])
    assert audited.actor == f"user:{owner.user_id}"
    events = await outbox_rows(app, body["account_id"])
    assert [event.event_type for event in events] == ["trading_account.linked"]


async def test_unverified_email_cannot_link(client, kite_app):
    user = await signed_in_user(client)
    response = await client.post(
        "/v1/trading-accounts", json=link_body(kite_app), headers=user.headers
    )
    assert response.status_code == 403
    assert response.json()["code"] == "email_not_verified"


async def test_linking_a_confirmed_broker_account_again_is_409(app, client, new_client, kite_app):
    owner = await verified_user(app, client)
    await linked_active_account(client, owner, kite_app)  # Kite confirmed the broker user
    async with new_client() as other_browser:
        other = await verified_user(app, other_browser)
        response = await other_browser.post(
            "/v1/trading-accounts", json=link_body(kite_app), headers=other.headers
        )
    assert response.status_code == 409
    assert response.json()["code"] == "trading_account_already_linked"


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"broker": "upstox"}, "broker"),
        ({"api_key": ""}, "api_key"),
        ({"api_key": "   "}, "api_key"),
        ({"api_secret": "s" * 257}, "api_secret"),
        ({"access_token": "t" * 513}, "access_token"),
        ({"api_key": "has:colon"}, "api_key"),
        ({"api_secret": "white space"}, "api_secret"),
        ({"user_id_broker": ""}, "user_id_broker"),
        ({"extra": "field"}, "extra"),
    ],
)
async def test_bad_link_payloads_are_422_without_echoing_values(
    app, client, kite_app, override, field
):
    owner = await verified_user(app, client)
    response = await client.post(
        "/v1/trading-accounts", json=link_body(kite_app, **override), headers=owner.headers
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "validation_error"
    assert field in {error["field"] for error in body["errors"]}
    assert kite_app.api_secret not in response.text


async def test_link_needs_a_signed_in_user(client, kite_app):
    response = await client.post("/v1/trading-accounts", json=link_body(kite_app))
    assert response.status_code == 401


async def test_strangers_get_the_same_404_as_for_a_missing_account(
    app, client, new_client, kite_app
):
    owner = await verified_user(app, client)
    account = await link(client, owner, kite_app)
    async with new_client() as stranger_browser:
        stranger = await verified_user(app, stranger_browser)
        for account_id in (account["account_id"], str(uuid.uuid4())):
            base = f"/v1/trading-accounts/{account_id}"
            calls = [
                ("GET", base, None),
                ("GET", f"{base}/kite/login-url", None),
                ("POST", f"{base}/kite/session", {"request_token": "abc"}),
                ("POST", f"{base}/verify", None),
                ("PUT", f"{base}/credentials", {"api_key": "k1234567", "api_secret": "s"}),
                ("DELETE", base, None),
                ("GET", f"{base}/members", None),
                ("POST", f"{base}/members", {"email": owner.email, "permissions": ["view"]}),
                ("DELETE", f"{base}/members/{stranger.user_id}", None),
            ]
            for method, path, body in calls:
                response = await stranger_browser.request(
                    method, path, json=body, headers=stranger.headers
                )
                assert response.status_code == 404, (method, path, response.text)
                assert response.json() == {
                    "detail": "No such trading account.",
                    "code": "trading_account_not_found",
                }
        listed = await stranger_browser.get("/v1/trading-accounts", headers=stranger.headers)
        assert listed.json() == {"items": [], "next_cursor": None}
    still_there = await client.get(
        f"/v1/trading-accounts/{account['account_id']}", headers=owner.headers
    )
    assert still_there.status_code == 200


async def test_members_see_shared_accounts_with_role_and_permissions(
    app, client, new_client, kite_state
):
    owner = await verified_user(app, client)
    first = await link(client, owner, kite_state.register_app())
    second = await link(client, owner, kite_state.register_app())
    async with new_client() as member_browser:
        member = await verified_user(app, member_browser)
        own = await link(member_browser, member, kite_state.register_app())
        shared = await client.post(
            f"/v1/trading-accounts/{second['account_id']}/members",
            json={"email": member.email, "permissions": ["trade"]},
            headers=owner.headers,
        )
        assert shared.status_code == 201, shared.text
        assert shared.json()["permissions"] == ["view", "trade"]

        listed = await member_browser.get("/v1/trading-accounts", headers=member.headers)
        items = {item["account_id"]: item for item in listed.json()["items"]}
        assert set(items) == {second["account_id"], own["account_id"]}
        assert items[second["account_id"]]["role"] == "member"
        assert items[second["account_id"]]["permissions"] == ["view", "trade"]
        assert items[own["account_id"]]["role"] == "owner"
        assert first["account_id"] not in items
        # A member is told who owns what they see; an owner is told nothing new.
        assert items[second["account_id"]]["owner"] == {
            "name": "Test Trader",
            "email": owner.email,
        }
        assert items[own["account_id"]]["owner"] is None

        one = await member_browser.get(
            f"/v1/trading-accounts/{second['account_id']}", headers=member.headers
        )
        assert one.status_code == 200 and one.json()["role"] == "member"

    page_one = await client.get("/v1/trading-accounts?limit=1", headers=owner.headers)
    assert len(page_one.json()["items"]) == 1 and page_one.json()["next_cursor"]
    page_two = await client.get(
        f"/v1/trading-accounts?limit=1&cursor={page_one.json()['next_cursor']}",
        headers=owner.headers,
    )
    assert [item["account_id"] for item in page_one.json()["items"] + page_two.json()["items"]] == [
        first["account_id"],
        second["account_id"],
    ]
    assert page_two.json()["next_cursor"] is None
    bad = await client.get("/v1/trading-accounts?cursor=garbage", headers=owner.headers)
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_cursor"


async def test_view_member_can_look_but_not_manage(app, client, new_client, kite_app):
    owner = await verified_user(app, client)
    account = await link(client, owner, kite_app)
    base = f"/v1/trading-accounts/{account['account_id']}"
    async with new_client() as member_browser:
        member = await verified_user(app, member_browser)
        added = await client.post(
            f"{base}/members",
            json={"email": member.email, "permissions": ["view"]},
            headers=owner.headers,
        )
        assert added.status_code == 201
        assert (await member_browser.get(base, headers=member.headers)).status_code == 200
        for method, path, body in [
            ("GET", f"{base}/kite/login-url", None),
            ("POST", f"{base}/kite/session", {"request_token": "abc"}),
            ("POST", f"{base}/verify", None),
            ("PUT", f"{base}/credentials", {"api_key": "k1234567", "api_secret": "s"}),
            ("DELETE", base, None),
            ("GET", f"{base}/members", None),
            ("POST", f"{base}/members", {"email": owner.email, "permissions": ["view"]}),
            ("DELETE", f"{base}/members/{owner.user_id}", None),
        ]:
            response = await member_browser.request(method, path, json=body, headers=member.headers)
            assert response.status_code == 403, (method, path, response.text)
            assert response.json()["code"] == "account_permission_required"


async def test_sharing_rules(app, client, new_client, kite_app):
    owner = await verified_user(app, client)
    account = await link(client, owner, kite_app)
    members_url = f"/v1/trading-accounts/{account['account_id']}/members"

    unknown = await client.post(
        members_url, json={"email": unique_email(), "permissions": ["view"]}, headers=owner.headers
    )
    assert unknown.status_code == 404 and unknown.json()["code"] == "user_not_found"

    async with new_client() as unverified_browser:
        unverified = await signed_in_user(unverified_browser)
    not_verified = await client.post(
        members_url,
        json={"email": unverified.email, "permissions": ["view"]},
        headers=owner.headers,
    )
    assert not_verified.status_code == 404
    assert not_verified.json() == unknown.json()  # unverified looks exactly like unknown

    to_self = await client.post(
        members_url, json={"email": owner.email, "permissions": ["view"]}, headers=owner.headers
    )
    assert to_self.status_code == 409 and to_self.json()["code"] == "member_is_owner"

    bad = await client.post(
        members_url, json={"email": owner.email, "permissions": ["admin"]}, headers=owner.headers
    )
    assert bad.status_code == 422
    empty = await client.post(
        members_url, json={"email": owner.email, "permissions": []}, headers=owner.headers
    )
    assert empty.status_code == 422


async def test_manage_member_shares_and_permission_changes_are_audited(
    app, client, new_client, kite_app
):
    owner = await verified_user(app, client)
    account = await link(client, owner, kite_app)
    account_id = account["account_id"]
    members_url = f"/v1/trading-accounts/{account_id}/members"
    async with new_client() as manager_browser, new_client() as third_browser:
        manager = await verified_user(app, manager_browser)
        third = await verified_user(app, third_browser)
        added = await client.post(
            members_url,
            json={"email": manager.email.upper(), "permissions": ["manage"]},
            headers=owner.headers,
        )
        assert added.status_code == 201
        assert added.json()["permissions"] == ["view", "trade", "manage"]

        by_manager = await manager_browser.post(
            members_url,
            json={"email": third.email, "permissions": ["view"]},
            headers=manager.headers,
        )
        assert by_manager.status_code == 201
        assert by_manager.json()["added_by"] == manager.user_id

        same_again = await manager_browser.post(
            members_url,
            json={"email": third.email, "permissions": ["view"]},
            headers=manager.headers,
        )
        assert same_again.status_code == 200

        upgraded = await client.post(
            members_url,
            json={"email": third.email, "permissions": ["trade"]},
            headers=owner.headers,
        )
        assert upgraded.status_code == 200
        assert upgraded.json()["permissions"] == ["view", "trade"]

        listed = await manager_browser.get(members_url, headers=manager.headers)
        assert {m["user_id"]: m["permissions"] for m in listed.json()["items"]} == {
            manager.user_id: ["view", "trade", "manage"],
            third.user_id: ["view", "trade"],
        }

        third_view = await third_browser.get("/v1/trading-accounts", headers=third.headers)
        assert third_view.json()["items"][0]["permissions"] == ["view", "trade"]

    added_rows = await audit_rows(app, "trading_account.member_added", account_id)
    assert [row.details["member_user_id"] for row in added_rows] == [manager.user_id, third.user_id]
    assert added_rows[1].actor == f"user:{manager.user_id}"
    [updated] = await audit_rows(app, "trading_account.member_updated", account_id)
    assert updated.details["previous_permissions"] == ["view"]
    assert updated.details["permissions"] == ["view", "trade"]
    types = [event.event_type for event in await outbox_rows(app, account_id)]
    assert types == [
        "trading_account.linked",
        "trading_account.member_added",
        "trading_account.member_added",
        "trading_account.member_updated",
    ]


async def test_removing_members_and_leaving(app, client, new_client, kite_app):
    owner = await verified_user(app, client)
    account = await link(client, owner, kite_app)
    account_id = account["account_id"]
    members_url = f"/v1/trading-accounts/{account_id}/members"
    async with new_client() as a_browser, new_client() as b_browser:
        a = await verified_user(app, a_browser)
        b = await verified_user(app, b_browser)
        for user in (a, b):
            added = await client.post(
                members_url,
                json={"email": user.email, "permissions": ["trade"]},
                headers=owner.headers,
            )
            assert added.status_code == 201

        not_allowed = await a_browser.delete(f"{members_url}/{b.user_id}", headers=a.headers)
        assert not_allowed.status_code == 403

        left = await a_browser.delete(f"{members_url}/{a.user_id}", headers=a.headers)
        assert left.status_code == 204
        gone = await a_browser.get(f"/v1/trading-accounts/{account_id}", headers=a.headers)
        assert gone.status_code == 404

        removed = await client.delete(f"{members_url}/{b.user_id}", headers=owner.headers)
        assert removed.status_code == 204
        listed = await b_browser.get("/v1/trading-accounts", headers=b.headers)
        assert listed.json()["items"] == []

        again = await client.delete(f"{members_url}/{b.user_id}", headers=owner.headers)
        assert again.status_code == 404 and again.json()["code"] == "member_not_found"
        owner_row = await client.delete(f"{members_url}/{owner.user_id}", headers=owner.headers)
        assert owner_row.status_code == 409 and owner_row.json()["code"] == "owner_not_removable"

    removed_rows = await audit_rows(app, "trading_account.member_removed", account_id)
    assert [(row.details["member_user_id"], row.details["left"]) for row in removed_rows] == [
        (a.user_id, True),
        (b.user_id, False),
    ]


async def test_access_token_lists_owned_and_shared_accounts(app, client, new_client, kite_state):
    owner = await verified_user(app, client)
    account = await linked_active_account(client, owner, kite_state.register_app())
    async with new_client() as member_browser:
        member = await verified_user(app, member_browser)
        await client.post(
            f"/v1/trading-accounts/{account['account_id']}/members",
            json={"email": member.email, "permissions": ["view"]},
            headers=owner.headers,
        )
        from tests.fixtures.users import login

        await login(member_browser, member)
        claims = await app.state.services.tokens.decode(member.access_token)
        assert claims["trading_accounts"] == [account["account_id"]]


async def test_member_add_lookups_are_rate_limited(backend_settings, kite_url, kite_state):
    from tests.conftest import client_for, running_app

    settings = backend_settings(
        kite_api_base_url=kite_url,
        kite_login_url=f"{kite_url}/connect/login",
        rate_limit_account_member_add="3 per hour",
    )
    async with running_app(settings) as app, client_for(app) as client:
        owner = await signed_in_user(client)
        await mark_email_verified(app, owner)
        account = await link(client, owner, kite_state.register_app())
        statuses = []
        for _ in range(4):
            response = await client.post(
                f"/v1/trading-accounts/{account['account_id']}/members",
                json={"email": unique_email(), "permissions": ["view"]},
                headers=owner.headers,
            )
            statuses.append(response.status_code)
        assert statuses == [404, 404, 404, 429]
        assert "retry-after" in response.headers


async def test_concurrent_links_of_one_broker_account_by_one_user_give_one_201(
    app, client, new_client, kite_app
):
    user = await verified_user(app, client)
    users = [user, user, user]

    async def attempt(user):
        async with new_client() as browser:
            return await browser.post(
                "/v1/trading-accounts", json=link_body(kite_app), headers=user.headers
            )

    responses = await asyncio.gather(*(attempt(user) for user in users))
    assert sorted(response.status_code for response in responses) == [201, 409, 409]
    assert {
        response.json().get("code") for response in responses if response.status_code == 409
    } == {"trading_account_already_linked"}


async def test_the_trail_names_the_account_by_its_broker_id(app, client, kite_state):
    """The console writes "Kite ZX1234", never a UUID, also after the account is gone."""
    owner = await verified_user(app, client)
    kite_app = kite_state.register_app()
    account = await link(client, owner, kite_app)
    unlinked = await client.delete(
        f"/v1/trading-accounts/{account['account_id']}", headers=owner.headers
    )
    assert unlinked.status_code in (200, 204), unlinked.text
    trail = await client.get(
        "/v1/users/me/audit?event_type=trading_account.*", headers=owner.headers
    )
    rows = {item["event_type"]: item["details"] for item in trail.json()["items"]}
    assert rows["trading_account.linked"]["user_id_broker"] == kite_app.user_id
    assert rows["trading_account.unlinked"]["user_id_broker"] == kite_app.user_id
