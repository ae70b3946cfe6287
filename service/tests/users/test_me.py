import pytest

from tests.fixtures.users import signed_in_user

pytestmark = pytest.mark.anyio


async def test_me_returns_the_profile(client):
    user = await signed_in_user(
        client, phone="+91 98765 43210", timezone="Europe/London", locale="en-GB"
    )
    body = (await client.get("/v1/users/me", headers=user.headers)).json()
    assert body["email"] == user.email
    assert body["phone"] == "+91 98765 43210"
    assert body["timezone"] == "Europe/London" and body["locale"] == "en-GB"
    assert body["roles"] == ["user"] and body["mfa_enabled"] is False
    assert body["email_verified"] is False and body["status"] == "active"
    assert "password_hash" not in body


async def test_patch_me_changes_only_the_given_fields(client):
    user = await signed_in_user(client)
    response = await client.patch("/v1/users/me", headers=user.headers, json={"name": "Asha Rao"})
    assert response.status_code == 200
    assert response.json()["name"] == "Asha Rao"
    assert response.json()["timezone"] == "Asia/Kolkata"


@pytest.mark.parametrize(
    "body",
    [
        {"email": "new@example.com"},
        {"timezone": "Nowhere/Town"},
        {"phone": "call me maybe"},
        {"name": ""},
        {"name": None},
        {"locale": "!!"},
    ],
)
async def test_patch_me_refuses_bad_or_forbidden_fields(client, body):
    user = await signed_in_user(client)
    response = await client.patch("/v1/users/me", headers=user.headers, json=body)
    assert response.status_code == 422


async def test_preferences_are_merged_over_defaults(client):
    user = await signed_in_user(client)
    defaults = (await client.get("/v1/users/me/preferences", headers=user.headers)).json()[
        "preferences"
    ]
    assert defaults["theme"] == "system"
    response = await client.put(
        "/v1/users/me/preferences",
        headers=user.headers,
        json={
            "preferences": {
                "theme": "dark",
                "notifications": {"email": False},
                "watchlist": ["NIFTY"],
            }
        },
    )
    merged = response.json()["preferences"]
    assert merged["theme"] == "dark" and merged["watchlist"] == ["NIFTY"]
    assert merged["notifications"] == {"email": False, "security_alerts": True}
    again = (await client.get("/v1/users/me/preferences", headers=user.headers)).json()[
        "preferences"
    ]
    assert again == merged


async def test_preferences_must_be_an_object_of_bounded_size(client):
    user = await signed_in_user(client)
    assert (
        await client.put(
            "/v1/users/me/preferences", headers=user.headers, json={"preferences": [1]}
        )
    ).status_code == 422
    big = {"preferences": {"blob": "x" * 20_000}}
    response = await client.put("/v1/users/me/preferences", headers=user.headers, json=big)
    assert response.status_code == 422 and response.json()["code"] == "preferences_too_large"


async def test_own_audit_is_paginated_newest_first_and_filterable(client):
    user = await signed_in_user(client)
    for _ in range(3):
        await client.post("/v1/auth/refresh")
    first = (await client.get("/v1/users/me/audit?limit=2", headers=user.headers)).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    ids = [item["event_id"] for item in first["items"]]
    assert ids == sorted(ids, reverse=True)
    second = (
        await client.get(
            f"/v1/users/me/audit?limit=2&cursor={first['next_cursor']}", headers=user.headers
        )
    ).json()
    assert all(item["event_id"] < ids[-1] for item in second["items"])
    only = (
        await client.get("/v1/users/me/audit?event_type=login.success", headers=user.headers)
    ).json()
    assert {item["event_type"] for item in only["items"]} == {"login.success"}
    future = (
        await client.get("/v1/users/me/audit?since=2999-01-01T00:00:00Z", headers=user.headers)
    ).json()
    assert future["items"] == [] and future["next_cursor"] is None


async def test_audit_never_shows_other_users_events(client, new_client):
    alice = await signed_in_user(client)
    async with new_client() as other:
        bob = await signed_in_user(other)
    items = (await client.get("/v1/users/me/audit?limit=100", headers=alice.headers)).json()[
        "items"
    ]
    assert all(bob.user_id not in str(item) for item in items)


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("cursor=%%%", 400, "invalid_cursor"),
        ("cursor=bm90LWpzb24", 400, "invalid_cursor"),
        ("limit=0", 422, "validation_error"),
        ("limit=1000", 422, "validation_error"),
        ("since=yesterday", 422, "validation_error"),
    ],
)
async def test_bad_audit_queries_are_4xx(client, query, status, code):
    user = await signed_in_user(client)
    response = await client.get(f"/v1/users/me/audit?{query}", headers=user.headers)
    assert (response.status_code, response.json()["code"]) == (status, code)


async def test_own_audit_filters_by_several_event_types(client):
    user = await signed_in_user(client)
    await client.post("/v1/auth/refresh")
    await client.patch("/v1/users/me", headers=user.headers, json={"name": "Several Types"})
    both = (
        await client.get(
            "/v1/users/me/audit?event_type=login.success&event_type=token.*",
            headers=user.headers,
        )
    ).json()
    kinds = {item["event_type"] for item in both["items"]}
    assert kinds == {"login.success", "token.refreshed"}
    one = (
        await client.get("/v1/users/me/audit?event_type=token.refreshed", headers=user.headers)
    ).json()
    assert {item["event_type"] for item in one["items"]} == {"token.refreshed"}


@pytest.mark.parametrize("query", ["event_type=", "event_type=" + "x" * 65])
async def test_bad_event_type_filters_are_4xx(client, query):
    user = await signed_in_user(client)
    response = await client.get(f"/v1/users/me/audit?{query}", headers=user.headers)
    assert response.status_code == 422


async def test_too_many_event_type_filters_are_4xx(client):
    user = await signed_in_user(client)
    query = "&".join(f"event_type=t{i}" for i in range(21))
    response = await client.get(f"/v1/users/me/audit?{query}", headers=user.headers)
    assert response.status_code == 422
