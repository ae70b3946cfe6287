"""/v1/admin/users: search, read, status (sessions revoked), roles; role gates; last admin."""

import uuid

import pytest
from sqlalchemy import select, update

from tests.admin.support import db_session, signed_in_admin, signed_in_with_roles
from tests.fixtures.users import login, register, signed_in_user, unique_email
from user_service.models import OutboxEvent, User
from user_service.users import repository as users_repository

pytestmark = pytest.mark.anyio


async def test_every_admin_endpoint_needs_the_admin_role(client, app):
    user = await signed_in_user(client)
    some_id = uuid.uuid4()
    calls = [
        ("GET", "/v1/admin/users", None),
        ("GET", f"/v1/admin/users/{some_id}", None),
        ("PATCH", f"/v1/admin/users/{some_id}/status", {"status": "suspended"}),
        ("PUT", f"/v1/admin/users/{some_id}/roles", {"roles": ["admin"]}),
        ("GET", "/v1/admin/policies", None),
        ("POST", "/v1/admin/policies", {}),
        ("GET", f"/v1/admin/policies/{some_id}", None),
        ("PUT", f"/v1/admin/policies/{some_id}", {}),
        ("DELETE", f"/v1/admin/policies/{some_id}", None),
        ("GET", "/v1/admin/audit", None),
    ]
    for method, path, body in calls:
        anonymous = await client.request(method, path, json=body)
        assert anonymous.status_code == 401, (method, path)
        refused = await client.request(method, path, json=body, headers=user.headers)
        assert refused.status_code == 403, (method, path, refused.text)
        assert refused.json()["code"] == "role_required"


async def test_search_users_by_part_of_email_and_status_with_paging(client, app):
    admin = await signed_in_admin(client, app)
    tag = uuid.uuid4().hex[:8]
    created = [await register(client, email=unique_email(f"pager-{tag}")) for _ in range(3)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"q": f"PAGER-{tag}", "limit": 2, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/v1/admin/users", params=params, headers=admin.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["items"]) <= 2
        seen += [item["user_id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [user.user_id for user in reversed(created)]  # newest first
    item = body["items"][-1]
    assert item["roles"] == ["user"] and item["status"] == "active"
    assert "password_hash" not in item

    none = await client.get(
        "/v1/admin/users",
        params={"q": f"pager-{tag}", "status": "suspended"},
        headers=admin.headers,
    )
    assert none.json() == {"items": [], "next_cursor": None}
    wildcard = await client.get("/v1/admin/users", params={"q": "%"}, headers=admin.headers)
    assert wildcard.status_code == 200 and wildcard.json()["items"] == []
    bad = await client.get("/v1/admin/users", params={"cursor": "nope"}, headers=admin.headers)
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_cursor"


async def test_read_one_user(client, app):
    admin = await signed_in_admin(client, app)
    user = await signed_in_user(client)
    response = await client.get(f"/v1/admin/users/{user.user_id}", headers=admin.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["email"] == user.email
    assert body["active_sessions"] == 1
    assert body["mfa_enabled"] is False
    missing = await client.get(f"/v1/admin/users/{uuid.uuid4()}", headers=admin.headers)
    assert missing.status_code == 404 and missing.json()["code"] == "user_not_found"


async def test_suspending_revokes_sessions_and_is_audited_and_emitted(client, app):
    admin = await signed_in_admin(client, app)
    user = await signed_in_user(client)
    response = await client.patch(
        f"/v1/admin/users/{user.user_id}/status",
        json={"status": "suspended", "reason": "chargeback"},
        headers=admin.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "suspended"
    assert response.json()["active_sessions"] == 0
    assert (await client.get("/v1/users/me", headers=user.headers)).status_code == 401
    denied = await client.post(
        "/v1/auth/login", json={"email": user.email, "password": user.password}
    )
    assert denied.status_code == 403 and denied.json()["code"] == "account_inactive"

    audit = await client.get(
        "/v1/admin/audit",
        params={"user_id": user.user_id, "event_type": "permission.changed"},
        headers=admin.headers,
    )
    [event] = audit.json()["items"]
    assert event["actor"] == f"user:{admin.user_id}"
    assert event["details"]["change"] == "status"
    assert event["details"]["status"] == "suspended"
    async with db_session(app) as db:
        events = (
            (
                await db.execute(
                    select(OutboxEvent.event_type).where(OutboxEvent.aggregate_id == user.user_id)
                )
            )
            .scalars()
            .all()
        )
    assert "user.status_changed" in events and "session.revoked" in events

    back = await client.patch(
        f"/v1/admin/users/{user.user_id}/status", json={"status": "active"}, headers=admin.headers
    )
    assert back.json()["status"] == "active"
    await login(client, user)


async def test_status_body_is_validated(client, app):
    admin = await signed_in_admin(client, app)
    user = await register(client)
    response = await client.patch(
        f"/v1/admin/users/{user.user_id}/status", json={"status": "banned"}, headers=admin.headers
    )
    assert response.status_code == 422


async def test_admins_cannot_change_their_own_status(client, app):
    admin = await signed_in_admin(client, app)
    response = await client.patch(
        f"/v1/admin/users/{admin.user_id}/status",
        json={"status": "suspended"},
        headers=admin.headers,
    )
    assert response.status_code == 409
    assert response.json()["code"] == "cannot_change_own_status"


async def test_roles_are_replaced_validated_audited_and_emitted(client, app):
    admin = await signed_in_admin(client, app)
    user = await register(client)
    response = await client.put(
        f"/v1/admin/users/{user.user_id}/roles",
        json={"roles": ["user", "compliance"]},
        headers=admin.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["roles"] == ["compliance", "user"]
    unknown = await client.put(
        f"/v1/admin/users/{user.user_id}/roles", json={"roles": ["root"]}, headers=admin.headers
    )
    assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_role"
    audit = await client.get(
        "/v1/admin/audit",
        params={"user_id": user.user_id, "event_type": "permission.changed"},
        headers=admin.headers,
    )
    [event] = audit.json()["items"]
    assert event["details"] == {
        "change": "roles",
        "previous_roles": ["user"],
        "roles": ["compliance", "user"],
    }
    async with db_session(app) as db:
        payloads = (
            (
                await db.execute(
                    select(OutboxEvent.payload).where(
                        OutboxEvent.aggregate_id == user.user_id,
                        OutboxEvent.event_type == "permission.changed",
                    )
                )
            )
            .scalars()
            .all()
        )
    assert payloads and payloads[-1]["roles"] == ["compliance", "user"]


async def test_a_demoted_admin_loses_the_admin_api_at_once(client, app):
    first = await signed_in_admin(client, app)
    second = await signed_in_admin(client, app)
    response = await client.put(
        f"/v1/admin/users/{second.user_id}/roles", json={"roles": ["user"]}, headers=first.headers
    )
    assert response.status_code == 200
    refused = await client.get("/v1/admin/users", headers=second.headers)  # same token
    assert refused.status_code == 403


async def test_the_last_active_admin_cannot_be_removed(client, app):
    admin = await signed_in_admin(client, app)
    async with db_session(app) as db:  # admins left by other tests must not count here
        others = await users_repository.active_admin_ids(db) - {uuid.UUID(admin.user_id)}
        if others:
            await db.execute(update(User).where(User.id.in_(others)).values(status="deactivated"))
    demote = await client.put(
        f"/v1/admin/users/{admin.user_id}/roles", json={"roles": ["user"]}, headers=admin.headers
    )
    assert demote.status_code == 409
    assert demote.json()["code"] == "last_admin"
    helper = await signed_in_with_roles(client, app, ["user", "admin"])
    allowed = await client.put(
        f"/v1/admin/users/{admin.user_id}/roles", json={"roles": ["user"]}, headers=helper.headers
    )
    assert allowed.status_code == 200
    suspend_last = await client.put(
        f"/v1/admin/users/{helper.user_id}/roles", json={"roles": []}, headers=helper.headers
    )
    assert suspend_last.status_code == 409 and suspend_last.json()["code"] == "last_admin"
