"""Review item 2 (logout needs a live credential) and the grace window's audit trail."""

import pytest

from tests.fixtures.users import STRONG_PASSWORD, login, register

pytestmark = pytest.mark.anyio


def refresh_cookie(client):
    return client.cookies.get("refresh_token", path="/v1/auth") or client.cookies.get(
        "refresh_token"
    )


async def _second_device(new_client, user):
    async with new_client() as other:
        response = await other.post(
            "/v1/auth/login", json={"email": user.email, "password": STRONG_PASSWORD}
        )
        assert response.status_code == 200
        return response.json()["access_token"]


async def _alive(client, token: str) -> bool:
    response = await client.get("/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    return response.status_code == 200


@pytest.mark.parametrize("settings_overrides", [{"refresh_reuse_grace_seconds": 0}])
async def test_a_rotated_refresh_token_cannot_sign_the_user_out_everywhere(
    client, new_client, settings_overrides
):
    user = await register(client)
    await login(client, user)
    stolen = refresh_cookie(client)
    assert (await client.post("/v1/auth/refresh")).status_code == 200  # the owner rotates it
    other_device = await _second_device(new_client, user)
    client.cookies.clear()
    client.cookies.set("refresh_token", stolen, path="/v1/auth")
    response = await client.post("/v1/auth/logout", json={"all_devices": True})
    assert response.status_code == 401
    assert response.json()["code"] == "token_reused"
    # Reuse signs out the session the token belonged to, never the user's other devices.
    assert await _alive(client, other_device)
    assert not await _alive(client, user.access_token)


async def test_the_access_token_of_a_revoked_session_signs_nobody_out(client, new_client):
    user = await register(client)
    await login(client, user)
    dead = user.access_token
    assert (await client.post("/v1/auth/logout", json={"all_devices": False})).status_code == 200
    other_device = await _second_device(new_client, user)
    client.cookies.clear()
    response = await client.post(
        "/v1/auth/logout", json={"all_devices": True}, headers={"Authorization": f"Bearer {dead}"}
    )
    assert response.status_code == 200
    assert response.json() == {"sessions_revoked": 0}
    assert await _alive(client, other_device)
    audit = await client.get(
        "/v1/users/me/audit",
        params={"event_type": "logout"},
        headers={"Authorization": f"Bearer {other_device}"},
    )
    assert len(audit.json()["items"]) == 1  # only the real logout, none credited to the victim


async def test_a_current_refresh_token_still_signs_out_everywhere(client, new_client):
    user = await register(client)
    await login(client, user)
    other_device = await _second_device(new_client, user)
    response = await client.post("/v1/auth/logout", json={"all_devices": True})
    assert response.json() == {"sessions_revoked": 2}
    assert not await _alive(client, other_device)


async def test_a_retry_inside_the_grace_window_is_audited_as_a_grace_refresh(client):
    user = await register(client)
    await login(client, user)
    token = refresh_cookie(client)
    client.cookies.clear()
    first = await client.post("/v1/auth/refresh", json={"refresh_token": token})
    retry = await client.post("/v1/auth/refresh", json={"refresh_token": token})
    assert retry.json()["refresh_token"] == first.json()["refresh_token"]
    audit = await client.get(
        "/v1/users/me/audit",
        params={"event_type": "token.refreshed"},
        headers={"Authorization": f"Bearer {retry.json()['access_token']}"},
    )
    graces = [item["details"].get("grace") for item in audit.json()["items"]]
    assert sorted(graces, key=bool) == [None, True]


async def test_a_retry_from_another_client_inside_the_window_is_reuse(client):
    user = await register(client)
    await login(client, user)
    token = refresh_cookie(client)
    client.cookies.clear()
    assert (await client.post("/v1/auth/refresh", json={"refresh_token": token})).status_code == 200
    thief = await client.post(
        "/v1/auth/refresh", json={"refresh_token": token}, headers={"User-Agent": "curl/8.0"}
    )
    assert thief.status_code == 401
    assert thief.json()["code"] == "token_reused"
