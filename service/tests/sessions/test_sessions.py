import pytest

from tests.fixtures.users import login, register

pytestmark = pytest.mark.anyio


async def test_sessions_list_masks_ips_and_marks_the_current_one(client, new_client):
    user = await register(client)
    await login(client, user)
    async with new_client(
        headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0"}
    ) as phone:
        await login(phone, user)
    body = (await client.get("/v1/auth/sessions", headers=user.headers)).json()["sessions"]
    assert len(body) == 2
    assert sum(session["current"] for session in body) == 1
    assert all(session["ip"] == "203.0.113.x" for session in body)
    assert any(session["device"] and "Chrome" in session["device"] for session in body)


async def test_revoking_a_session_signs_that_device_out(client, new_client):
    user = await register(client)
    await login(client, user)
    async with new_client() as laptop:
        laptop_user = await register(laptop, email=None)
        del laptop_user
        other = type(user)(user.user_id, user.email, user.password)
        await login(laptop, other)
        sessions = (await client.get("/v1/auth/sessions", headers=user.headers)).json()["sessions"]
        target = next(s for s in sessions if not s["current"])
        response = await client.delete(
            f"/v1/auth/sessions/{target['session_id']}", headers=user.headers
        )
        assert response.status_code == 204
        assert (await laptop.get("/v1/users/me", headers=other.headers)).status_code == 401
        assert (await laptop.post("/v1/auth/refresh")).status_code == 401
    assert (await client.get("/v1/users/me", headers=user.headers)).status_code == 200


async def test_cannot_revoke_someone_elses_session(client, new_client):
    alice = await register(client)
    await login(client, alice)
    async with new_client() as other:
        bob = await register(other)
        await login(other, bob)
        bob_session = (await other.get("/v1/auth/sessions", headers=bob.headers)).json()[
            "sessions"
        ][0]
    response = await client.delete(
        f"/v1/auth/sessions/{bob_session['session_id']}", headers=alice.headers
    )
    assert response.status_code == 404
    bad = await client.delete("/v1/auth/sessions/not-a-uuid", headers=alice.headers)
    assert bad.status_code == 422


async def test_logout_revokes_this_session_and_clears_the_cookie(client):
    user = await register(client)
    await login(client, user)
    response = await client.post(
        "/v1/auth/logout", headers=user.headers, json={"all_devices": False}
    )
    assert response.status_code == 200 and response.json() == {"sessions_revoked": 1}
    assert (
        "refresh_token=" in response.headers["set-cookie"]
        and "Max-Age=0" in response.headers["set-cookie"]
    )
    assert (await client.get("/v1/users/me", headers=user.headers)).status_code == 401


async def test_logout_all_devices_revokes_every_session(client, new_client):
    user = await register(client)
    await login(client, user)
    async with new_client() as second:
        copy = type(user)(user.user_id, user.email, user.password)
        await login(second, copy)
        response = await client.post(
            "/v1/auth/logout", headers=user.headers, json={"all_devices": True}
        )
        assert response.json() == {"sessions_revoked": 2}
        assert (await second.get("/v1/users/me", headers=copy.headers)).status_code == 401


async def test_logout_with_only_the_cookie_works(client):
    user = await register(client)
    await login(client, user)
    response = await client.post("/v1/auth/logout")
    assert response.json() == {"sessions_revoked": 1}
