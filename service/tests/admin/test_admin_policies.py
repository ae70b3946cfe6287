"""/v1/admin/policies: validated whole, system policies read-only; /v1/admin/audit."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.admin.support import signed_in_admin, signed_in_with_roles
from tests.fixtures.users import signed_in_user
from user_service.authz.catalog import SEEDED_POLICIES

pytestmark = pytest.mark.anyio


def a_policy(**overrides):
    """A valid policy that concerns nobody (the database is shared by the whole session)."""
    return {
        "name": f"test-{uuid.uuid4().hex[:10]}",
        "description": "a user who does not exist may read profiles",
        "effect": "allow",
        "subjects": [f"user:{uuid.uuid4()}"],
        "actions": ["profile:read"],
        "resources": ["profile", "profile:*"],
        "conditions": [],
        **overrides,
    }


async def _all_policies(client, admin):
    response = await client.get("/v1/admin/policies", headers=admin.headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_seeded_policies_are_listed_as_system_policies(client, app):
    admin = await signed_in_admin(client, app)
    by_name = {p["name"]: p for p in await _all_policies(client, admin)}
    for seeded in SEEDED_POLICIES:
        stored = by_name[seeded["name"]]
        assert stored["is_system"] is True
        assert {key: stored[key] for key in seeded} == dict(seeded)


async def test_policy_lifecycle(client, app):
    admin = await signed_in_admin(client, app)
    started = datetime.now(UTC) - timedelta(seconds=1)
    document = a_policy(conditions=[{"type": "user_status", "in": ["active"]}])
    created = await client.post("/v1/admin/policies", json=document, headers=admin.headers)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["is_system"] is False
    assert body["conditions"] == [{"type": "user_status", "in": ["active"]}]
    policy_id = body["id"]
    fetched = await client.get(f"/v1/admin/policies/{policy_id}", headers=admin.headers)
    assert fetched.json() == body

    replaced = await client.put(
        f"/v1/admin/policies/{policy_id}",
        json={**document, "enabled": False},
        headers=admin.headers,
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["enabled"] is False

    deleted = await client.delete(f"/v1/admin/policies/{policy_id}", headers=admin.headers)
    assert deleted.status_code == 204
    gone = await client.get(f"/v1/admin/policies/{policy_id}", headers=admin.headers)
    assert gone.status_code == 404 and gone.json()["code"] == "policy_not_found"

    # Bounded to this test's own minute, so other tests' policy changes cannot page it out.
    audit = await client.get(
        "/v1/admin/audit",
        params={"event_type": "permission.changed", "since": started.isoformat(), "limit": 100},
        headers=admin.headers,
    )
    changes = [
        event["details"]["change"]
        for event in audit.json()["items"]
        if event["details"].get("policy_id") == policy_id
    ]
    assert changes == ["policy_deleted", "policy_updated", "policy_created"]


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"effect": "maybe"}, "invalid_policy"),
        ({"actions": ["alertz:read"]}, "unknown_permission"),
        ({"actions": ["alerts:**"]}, "invalid_policy"),
        ({"subjects": ["group:traders"]}, "invalid_policy"),
        ({"subjects": ["role:*"], "actions": ["users:manage"]}, "invalid_policy"),
        ({"conditions": [{"type": "mfa_within", "seconds": "300"}]}, "invalid_policy"),
        ({"priority": 5000}, "invalid_policy"),
        ({"owner": "me"}, "invalid_policy"),
    ],
)
async def test_malformed_policies_are_refused_whole(client, app, overrides, code):
    admin = await signed_in_admin(client, app)
    before = await _all_policies(client, admin)
    response = await client.post(
        "/v1/admin/policies", json=a_policy(**overrides), headers=admin.headers
    )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == code
    assert response.json()["errors"]
    assert await _all_policies(client, admin) == before


async def test_duplicate_names_conflict(client, app):
    admin = await signed_in_admin(client, app)
    document = a_policy()
    assert (
        await client.post("/v1/admin/policies", json=document, headers=admin.headers)
    ).status_code == 201
    again = await client.post("/v1/admin/policies", json=document, headers=admin.headers)
    assert again.status_code == 409 and again.json()["code"] == "policy_name_taken"
    seeded = await client.post(
        "/v1/admin/policies", json=a_policy(name="admin-everything"), headers=admin.headers
    )
    assert seeded.status_code == 409


async def test_system_policies_are_read_only(client, app):
    admin = await signed_in_admin(client, app)
    system = next(p for p in await _all_policies(client, admin) if p["name"] == "admin-everything")
    document = {key: system[key] for key in SEEDED_POLICIES[0]}
    put = await client.put(
        f"/v1/admin/policies/{system['id']}",
        json={**document, "enabled": False},
        headers=admin.headers,
    )
    assert put.status_code == 409 and put.json()["code"] == "system_policy_read_only"
    delete = await client.delete(f"/v1/admin/policies/{system['id']}", headers=admin.headers)
    assert delete.status_code == 409


async def test_audit_across_users_for_admin_and_compliance_only(client, app):
    admin = await signed_in_admin(client, app)
    officer = await signed_in_with_roles(client, app, ["compliance"])
    trader = await signed_in_user(client)
    for reader in (admin, officer):
        response = await client.get(
            "/v1/admin/audit", params={"user_id": trader.user_id}, headers=reader.headers
        )
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        assert {item["event_type"] for item in items} >= {"user.registered", "login.success"}
        assert all(item["user_id"] == trader.user_id for item in items)
    paged = await client.get("/v1/admin/audit", params={"limit": 1}, headers=officer.headers)
    assert len(paged.json()["items"]) == 1 and paged.json()["next_cursor"]
    following = await client.get(
        "/v1/admin/audit",
        params={"limit": 1, "cursor": paged.json()["next_cursor"]},
        headers=officer.headers,
    )
    assert following.json()["items"][0]["event_id"] < paged.json()["items"][0]["event_id"]
    assert (await client.get("/v1/admin/users", headers=officer.headers)).status_code == 403
    assert (await client.get("/v1/admin/audit", headers=trader.headers)).status_code == 403
