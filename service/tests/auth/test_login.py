import time

import anyio
import jwt
import pytest

from tests.fixtures.users import STRONG_PASSWORD, login, register, unique_email

pytestmark = pytest.mark.anyio


async def test_login_returns_a_token_the_user_and_a_strict_http_only_cookie(client):
    user = await register(client)
    response = await client.post(
        "/v1/auth/login", json={"email": user.email, "password": STRONG_PASSWORD}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert body["user"]["email"] == user.email
    assert "refresh_token" not in body
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("refresh_token=qrt_")
    for attribute in ("HttpOnly", "Path=/v1/auth", "SameSite=strict"):
        assert attribute.lower() in cookie.lower()
    assert response.headers["cache-control"] == "no-store"


async def test_access_token_has_the_claims_and_headers_of_the_spec(client):
    user = await register(client)
    body = await login(client, user)
    token = body["access_token"]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256" and header["typ"] == "at+jwt" and header["kid"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == "user_service" and claims["aud"] == "trading_platform"
    assert claims["sub"] == user.user_id
    assert claims["exp"] - claims["iat"] == 900
    assert claims["roles"] == ["user"] and claims["trading_accounts"] == []
    assert claims["mfa"] is False and claims["mfa_at"] is None
    for name in ("sid", "jti", "email", "auth_time"):
        assert claims[name]


async def test_wrong_password_and_unknown_email_get_the_same_answer(client):
    user = await register(client)
    wrong = await client.post(
        "/v1/auth/login", json={"email": user.email, "password": "Wrong-Password-123"}
    )
    unknown = await client.post(
        "/v1/auth/login", json={"email": unique_email(), "password": "Wrong-Password-123"}
    )
    malformed = await client.post("/v1/auth/login", json={"email": "nobody", "password": "x"})
    assert wrong.status_code == unknown.status_code == malformed.status_code == 401
    assert wrong.json() == unknown.json() == malformed.json()
    assert wrong.json()["code"] == "invalid_credentials"


async def test_unknown_email_costs_a_hash_too(client, app):
    """Timing: the unknown-email path runs one bcrypt verify, like the known one."""
    hasher = app.state.services.hasher
    calls = []
    original = hasher.verify

    async def counting_verify(password, password_hash):
        calls.append(password_hash)
        return await original(password, password_hash)

    hasher.verify = counting_verify
    await client.post("/v1/auth/login", json={"email": unique_email(), "password": "Whatever-123!"})
    assert len(calls) == 1


async def test_no_database_connection_is_held_while_bcrypt_runs(client, app):
    """A sign-in storm queues on bcrypt's threads: a login waiting there must not hold a
    pooled connection (on SQLite, the write lock), or the pool runs dry for everyone."""
    services = app.state.services
    user = await register(client)
    held: list[int] = []
    verify_and_update, burn_time = services.hasher.verify_and_update, services.hasher.burn_time

    async def verify_watched(password, password_hash):
        held.append(services.engine.sync_engine.pool.checkedout())
        return await verify_and_update(password, password_hash)

    async def burn_watched(password):
        held.append(services.engine.sync_engine.pool.checkedout())
        return await burn_time(password)

    services.hasher.verify_and_update, services.hasher.burn_time = verify_watched, burn_watched
    idle = services.engine.sync_engine.pool.checkedout()  # a listener's own connection, if any
    await login(client, user)
    wrong = await client.post(
        "/v1/auth/login", json={"email": user.email, "password": "Wrong-Password-123"}
    )
    unknown = await client.post(
        "/v1/auth/login", json={"email": unique_email(), "password": "Whatever-123!"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert held == [idle, idle, idle]


async def test_failed_logins_are_audited_and_success_is_too(client):
    user = await register(client)
    await client.post(
        "/v1/auth/login", json={"email": user.email, "password": "Wrong-Password-123"}
    )
    await login(client, user)
    events = await client.get("/v1/users/me/audit", headers=user.headers)
    types = [item["event_type"] for item in events.json()["items"]]
    assert types[:3] == ["login.success", "login.failed", "user.registered"]


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_login_account": "5 per 15 minutes"}])
async def test_five_failures_lock_the_account_for_a_while_with_retry_after(
    client, settings_overrides
):
    user = await register(client)
    for _ in range(5):
        response = await client.post(
            "/v1/auth/login", json={"email": user.email, "password": "Wrong-Password-123"}
        )
        assert response.status_code == 401
    # Even the right password is refused while the window is full.
    response = await client.post(
        "/v1/auth/login", json={"email": user.email, "password": STRONG_PASSWORD}
    )
    assert response.status_code == 429
    assert response.json()["code"] == "rate_limited"
    assert 0 < int(response.headers["retry-after"]) <= 900


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_login_ip": "3 per 15 minutes"}])
async def test_failures_are_limited_per_ip_across_accounts(client, settings_overrides):
    for _ in range(3):
        await client.post(
            "/v1/auth/login", json={"email": unique_email(), "password": "Nope-Nope-123"}
        )
    response = await client.post(
        "/v1/auth/login", json={"email": unique_email(), "password": "Nope-Nope-123"}
    )
    assert response.status_code == 429


@pytest.mark.parametrize(
    "settings_overrides",
    [{"rate_limit_login_ip": "2 per 15 minutes", "trusted_proxies": ["203.0.113.0/24"]}],
)
async def test_forwarded_for_is_believed_only_from_trusted_proxies(client, settings_overrides):
    # The test client's peer (203.0.113.7) is a trusted proxy here: each forwarded client
    # gets its own bucket.
    for index in range(4):
        response = await client.post(
            "/v1/auth/login",
            json={"email": unique_email(), "password": "Nope-Nope-123"},
            headers={"X-Forwarded-For": f"198.51.100.{index}"},
        )
        assert response.status_code == 401


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_login_ip": "2 per 15 minutes"}])
async def test_forwarded_for_from_an_untrusted_peer_is_ignored(client, settings_overrides):
    statuses = []
    for index in range(3):
        response = await client.post(
            "/v1/auth/login",
            json={"email": unique_email(), "password": "Nope-Nope-123"},
            headers={"X-Forwarded-For": f"198.51.100.{index}"},
        )
        statuses.append(response.status_code)
    assert statuses == [401, 401, 429]


async def test_rehash_on_login_when_the_cost_changes(backend_settings, client):
    from tests.conftest import client_for, running_app

    user = await register(client)  # hashed at cost 4
    async with (
        running_app(backend_settings(bcrypt_rounds=5)) as stronger,
        client_for(stronger) as other,
    ):
        await login(other, user)
        async with stronger.state.services.sessionmaker() as db:
            from user_service.users.repository import get_by_email

            row = await get_by_email(db, user.email)
            assert row is not None and row.password_hash.startswith("$2b$05$")
        await login(other, user)  # still verifies after the upgrade


async def test_suspended_users_cannot_log_in(app, client):
    from user_service.models import User

    user = await register(client)
    async with app.state.services.sessionmaker() as db:
        row = await db.get(User, __import__("uuid").UUID(user.user_id))
        row.status = "suspended"
        await db.commit()
    response = await client.post(
        "/v1/auth/login", json={"email": user.email, "password": STRONG_PASSWORD}
    )
    assert response.status_code == 403
    assert response.json()["code"] == "account_inactive"


async def test_event_loop_stays_responsive_while_bcrypt_runs(backend_settings):
    """Health answers quickly while logins hash at a real cost (bcrypt runs in threads)."""
    from tests.conftest import client_for, running_app

    async with (
        running_app(backend_settings(bcrypt_rounds=12)) as slow_app,
        client_for(slow_app) as http,
    ):
        email = unique_email()
        await http.post(
            "/v1/auth/register",
            json={"email": email, "password": STRONG_PASSWORD, "name": "Slow"},
        )
        health_latencies: list[float] = []

        async def login_once() -> None:
            await http.post("/v1/auth/login", json={"email": email, "password": STRONG_PASSWORD})

        async def probe_health() -> None:
            await anyio.sleep(0.05)
            for _ in range(5):
                start = time.perf_counter()
                response = await http.get("/health/live")
                health_latencies.append(time.perf_counter() - start)
                assert response.status_code == 200
                await anyio.sleep(0.02)

        started = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for _ in range(4):
                tg.start_soon(login_once)
            tg.start_soon(probe_health)
        logins_took = time.perf_counter() - started
        # Four cost-12 hashes take ~1 s of CPU; each health request must not wait for them.
        assert max(health_latencies) < logins_took / 2
