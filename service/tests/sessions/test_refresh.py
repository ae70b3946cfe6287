import time

import anyio
import pytest
import time_machine

from tests.fixtures.users import login, register

pytestmark = pytest.mark.anyio


def refresh_cookie(client):
    return client.cookies.get("refresh_token", path="/v1/auth") or client.cookies.get(
        "refresh_token"
    )


async def test_refresh_rotates_the_cookie_and_issues_a_new_access_token(client):
    user = await register(client)
    await login(client, user)
    first_cookie = refresh_cookie(client)
    response = await client.post("/v1/auth/refresh")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["access_token"] and body["expires_in"] == 900
    assert "refresh_token" not in body  # never in a browser's JSON
    assert refresh_cookie(client) != first_cookie


async def test_non_browser_clients_send_the_token_in_the_body(client):
    user = await register(client)
    await login(client, user)
    token = refresh_cookie(client)
    client.cookies.clear()
    response = await client.post("/v1/auth/refresh", json={"refresh_token": token})
    assert response.status_code == 200
    successor = response.json()["refresh_token"]
    assert successor.startswith("qrt_") and successor != token
    assert "set-cookie" not in response.headers


async def test_reused_refresh_token_revokes_session(client):
    user = await register(client)
    await login(client, user)
    stolen = refresh_cookie(client)
    client.cookies.clear()
    first = await client.post("/v1/auth/refresh", json={"refresh_token": stolen})
    successor = first.json()["refresh_token"]
    second = await client.post("/v1/auth/refresh", json={"refresh_token": successor})
    assert second.status_code == 200
    # The original token again, after its successor moved on: reuse.
    reused = await client.post("/v1/auth/refresh", json={"refresh_token": stolen})
    assert reused.status_code == 401
    assert reused.json()["code"] == "token_reused"
    # The whole session is gone: the legitimate holder's token and access token stop working.
    current = await client.post(
        "/v1/auth/refresh", json={"refresh_token": second.json()["refresh_token"]}
    )
    assert current.status_code == 401
    me = await client.get("/v1/users/me", headers=user.headers)
    assert me.status_code == 401 and me.json()["code"] == "session_revoked"


async def test_reuse_is_audited_and_announced(client, app):
    from sqlalchemy import select

    from user_service.models import AuthEvent, OutboxEvent

    user = await register(client)
    await login(client, user)
    token = refresh_cookie(client)
    client.cookies.clear()
    successor = (await client.post("/v1/auth/refresh", json={"refresh_token": token})).json()[
        "refresh_token"
    ]
    await client.post("/v1/auth/refresh", json={"refresh_token": successor})
    await client.post("/v1/auth/refresh", json={"refresh_token": token})
    async with app.state.services.sessionmaker() as db:
        audit_types = set(
            (
                await db.execute(
                    select(AuthEvent.event_type).where(
                        AuthEvent.user_id == __import__("uuid").UUID(user.user_id)
                    )
                )
            ).scalars()
        )
        outbox = list(
            (
                await db.execute(
                    select(OutboxEvent).where(OutboxEvent.aggregate_id == user.user_id)
                )
            ).scalars()
        )
    assert "refresh.reuse_detected" in audit_types
    revoked = [event for event in outbox if event.event_type == "session.revoked"]
    assert revoked and revoked[0].payload["reason"] == "refresh_token_reuse"


async def test_retry_inside_the_grace_window_returns_the_same_successor(client):
    user = await register(client)
    await login(client, user)
    token = refresh_cookie(client)
    client.cookies.clear()
    first = await client.post("/v1/auth/refresh", json={"refresh_token": token})
    retry = await client.post("/v1/auth/refresh", json={"refresh_token": token})
    assert first.status_code == retry.status_code == 200
    assert first.json()["refresh_token"] == retry.json()["refresh_token"]


@pytest.mark.parametrize("settings_overrides", [{"refresh_reuse_grace_seconds": 1}])
async def test_retry_after_the_grace_window_is_reuse(client, settings_overrides):
    user = await register(client)
    await login(client, user)
    token = refresh_cookie(client)
    client.cookies.clear()
    assert (await client.post("/v1/auth/refresh", json={"refresh_token": token})).status_code == 200
    with time_machine.travel(time.time() + 3, tick=True):
        late = await client.post("/v1/auth/refresh", json={"refresh_token": token})
    assert late.status_code == 401 and late.json()["code"] == "token_reused"


async def test_twenty_concurrent_refreshes_never_fork_the_session(client):
    user = await register(client)
    await login(client, user)
    token = refresh_cookie(client)
    client.cookies.clear()
    results: list[tuple[int, str | None]] = []

    async def attempt() -> None:
        response = await client.post("/v1/auth/refresh", json={"refresh_token": token})
        results.append((response.status_code, response.json().get("refresh_token")))

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(attempt)
    assert all(status < 500 for status, _ in results), results
    successors = {token for status, token in results if status == 200}
    assert len(successors) == 1, results
    # The one successor is live.
    (successor,) = successors
    follow = await client.post("/v1/auth/refresh", json={"refresh_token": successor})
    assert follow.status_code == 200


@pytest.mark.parametrize(
    ("token", "status", "code"),
    [
        # Malformed bodies (empty, longer than any token can be) fail validation ...
        ("", 422, "validation_error"),
        ("qrt_" + "a" * 300, 422, "validation_error"),
        # ... well-formed strings that are no live token are one 401.
        ("qrt_", 401, "invalid_refresh_token"),
        ("qrt_" + "x" * 43, 401, "invalid_refresh_token"),
        ("not-a-token", 401, "invalid_refresh_token"),
        ("' OR 1=1 --", 401, "invalid_refresh_token"),
    ],
)
async def test_garbage_refresh_tokens_are_refused(client, token, status, code):
    response = await client.post("/v1/auth/refresh", json={"refresh_token": token})
    assert (response.status_code, response.json()["code"]) == (status, code)


async def test_refresh_without_any_token_is_401(client):
    response = await client.post("/v1/auth/refresh")
    assert response.status_code == 401
    assert response.json()["code"] == "missing_refresh_token"


async def test_cross_site_refresh_and_logout_are_refused(client):
    user = await register(client)
    await login(client, user)
    evil = {"Origin": "https://evil.example"}
    assert (await client.post("/v1/auth/refresh", headers=evil)).json()[
        "code"
    ] == "cross_site_request"
    assert (await client.post("/v1/auth/logout", headers=evil)).status_code == 403
    same = await client.post("/v1/auth/refresh", headers={"Origin": "http://testserver"})
    assert same.status_code == 200


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_refresh_session": "3 per minute"}])
async def test_refresh_is_rate_limited_per_session(client, settings_overrides):
    user = await register(client)
    await login(client, user)
    statuses = [(await client.post("/v1/auth/refresh")).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


async def test_refresh_of_an_expired_session_is_refused(client):
    user = await register(client)
    await login(client, user)
    with time_machine.travel(time.time() + 15 * 86400, tick=True):
        response = await client.post("/v1/auth/refresh")
    assert response.status_code == 401
    assert response.json()["code"] == "refresh_token_expired"
