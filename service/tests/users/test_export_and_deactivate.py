import json

import pytest

from tests.fixtures.users import STRONG_PASSWORD, signed_in_user

pytestmark = pytest.mark.anyio


async def test_export_holds_the_users_data_and_no_secret(client, app):
    user = await signed_in_user(client)
    await client.put(
        "/v1/users/me/preferences", headers=user.headers, json={"preferences": {"theme": "dark"}}
    )
    response = await client.get("/v1/users/me/export", headers=user.headers)
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["profile"]["email"] == user.email
    assert body["preferences"]["theme"] == "dark"
    assert body["sessions"] and body["audit_events"]
    assert {"user.registered", "login.success"} <= {e["event_type"] for e in body["audit_events"]}
    text = json.dumps(body)
    refresh = client.cookies.get("refresh_token")
    for secret in (
        "$2b$",
        "password_hash",
        "secret_sealed",
        "token_hash",
        refresh,
        STRONG_PASSWORD,
    ):
        assert secret not in text


async def test_deactivation_needs_the_password_and_signs_everything_out(client):
    user = await signed_in_user(client)
    wrong = await client.post(
        "/v1/users/me/deactivate", headers=user.headers, json={"password": "nope"}
    )
    assert wrong.status_code == 400 and wrong.json()["code"] == "invalid_password"
    ok = await client.post(
        "/v1/users/me/deactivate", headers=user.headers, json={"password": STRONG_PASSWORD}
    )
    assert ok.status_code == 200 and ok.json() == {"status": "deactivated", "sessions_revoked": 1}
    assert (await client.get("/v1/users/me", headers=user.headers)).status_code == 401
    login = await client.post(
        "/v1/auth/login", json={"email": user.email, "password": STRONG_PASSWORD}
    )
    assert login.status_code == 403 and login.json()["code"] == "account_inactive"


async def test_the_last_admin_cannot_deactivate_themselves(client, app):
    import uuid

    from user_service.models import User
    from user_service.users import repository

    user = await signed_in_user(client)
    async with app.state.services.sessionmaker() as db:
        row = await db.get(User, uuid.UUID(user.user_id))
        # Demote every other admin of this shared test database, then make this user admin.
        from sqlalchemy import delete

        from user_service.models import UserRole

        admin_role = (await repository.roles_by_name(db, ["admin"]))["admin"]
        await db.execute(delete(UserRole).where(UserRole.role_id == admin_role.id))
        await repository.grant_role(db, row.id, admin_role, granted_by="test")
        await db.commit()
    response = await client.post(
        "/v1/users/me/deactivate", headers=user.headers, json={"password": STRONG_PASSWORD}
    )
    assert response.status_code == 409 and response.json()["code"] == "last_admin"
    assert (await client.get("/v1/users/me", headers=user.headers)).status_code == 200
