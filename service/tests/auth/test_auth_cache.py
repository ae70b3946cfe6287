"""The one-second cache of who is calling (auth/cache.py) never outlives a change: the instance
that makes it refuses at once, another instance within a second (at once through Redis)."""

import json
import time

import anyio
import pytest

from tests.conftest import client_for, running_app
from tests.fixtures.users import signed_in_user
from tests.oauth.support import service_with_token
from user_service.auth.cache import EVERYTHING, AuthCache, user_owner

pytestmark = pytest.mark.anyio


async def _me(client, user):
    return await client.get("/v1/users/me", headers=user.headers)


async def test_a_cached_session_is_refused_at_once_after_logout(client, app):
    user = await signed_in_user(client)
    cache = app.state.services.auth_cache
    assert (await _me(client, user)).status_code == 200
    hits = cache.stats["hits"]
    assert (await _me(client, user)).status_code == 200
    assert cache.stats["hits"] == hits + 1  # the second read came from the cache

    logout = await client.post("/v1/auth/logout", json={}, headers=user.headers)
    assert logout.status_code == 200
    refused = await _me(client, user)
    assert (refused.status_code, refused.json()["code"]) == (401, "session_revoked")


async def test_a_profile_change_shows_on_the_very_next_read(client, app):
    user = await signed_in_user(client)
    assert (await _me(client, user)).json()["name"] != "Renamed Trader"
    changed = await client.patch(
        "/v1/users/me", json={"name": "Renamed Trader"}, headers=user.headers
    )
    assert changed.status_code == 200
    assert (await _me(client, user)).json()["name"] == "Renamed Trader"


async def test_a_suspended_user_is_refused_at_once(client, app):
    from tests.admin.support import signed_in_admin

    admin = await signed_in_admin(client, app)
    user = await signed_in_user(client)
    assert (await _me(client, user)).status_code == 200
    response = await client.patch(
        f"/v1/admin/users/{user.user_id}/status",
        json={"status": "suspended"},
        headers=admin.headers,
    )
    assert response.status_code == 200
    refused = await _me(client, user)
    assert refused.status_code == 401


async def test_a_revoked_service_token_is_refused_at_once(client, app):
    backend = await service_with_token(client, app, "backend")
    question = {"permission": "profile:read"}
    for _ in range(2):
        ok = await client.post("/v1/authz/check", json=question, headers=backend.headers)
        assert ok.status_code == 200
    revoked = await client.post(
        "/v1/oauth/revoke",
        data={"token": backend.token},
        headers=backend.headers,
    )
    assert revoked.status_code == 200
    refused = await client.post("/v1/authz/check", json=question, headers=backend.headers)
    assert (refused.status_code, refused.json()["code"]) == (401, "token_revoked")


async def test_introspection_follows_a_logout_at_once(client, app):
    user = await signed_in_user(client)
    backend = await service_with_token(client, app, "backend")
    form = {"token": user.access_token}
    first = await client.post("/v1/oauth/introspect", data=form, headers=backend.headers)
    if not first.json().get("active"):
        pytest.skip("this client cannot introspect here")
    await client.post("/v1/auth/logout", json={}, headers=user.headers)
    after = await client.post("/v1/oauth/introspect", data=form, headers=backend.headers)
    assert after.json() == {"active": False}


def test_a_read_that_began_before_a_change_is_not_kept():
    cache = AuthCache()
    ticket = cache.ticket()
    cache.forget([user_owner("u1")])  # committed while the read was running
    cache.put(("session", 1), user_owner("u1"), "stale", ticket)
    assert cache.get(("session", 1)) is None
    cache.put(("session", 2), user_owner("u2"), "other user", ticket)
    assert cache.get(("session", 2)) == "other user"
    cache.forget([EVERYTHING])
    assert cache.get(("session", 2)) is None
    cache.put(("session", 2), user_owner("u2"), "older than everything", ticket)
    assert cache.get(("session", 2)) is None


async def test_concurrent_misses_wait_for_the_read_under_way_and_use_only_what_it_kept():
    cache = AuthCache()
    owner = user_owner("u1")

    async def leader(changed_meanwhile: bool) -> None:
        ticket = cache.ticket()
        with cache.reading(("session", 1)):
            await anyio.sleep(0.05)  # the database read
            if changed_meanwhile:
                cache.forget([owner])  # e.g. a logout committed while the read ran
            cache.put(("session", 1), owner, "live", ticket)

    seen = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(leader, False)
        await anyio.sleep(0.01)
        seen.append(await cache.get_after_read(("session", 1)))
    assert seen == ["live"]  # one read served both

    cache.forget([owner])
    seen.clear()
    async with anyio.create_task_group() as tg:
        tg.start_soon(leader, True)
        await anyio.sleep(0.01)
        seen.append(await cache.get_after_read(("session", 1)))
    assert seen == [None]  # the read began before the change: the waiter reads for itself
    assert await cache.get_after_read(("session", 2)) is None  # no read under way: no wait


def test_an_entry_lives_one_second_from_the_start_of_its_read():
    cache = AuthCache()
    ticket = cache.ticket()
    cache.put("key", "owner", "value", ticket)
    assert cache.get("key") == "value"
    old = type(ticket)(time.monotonic() - 1.01, ticket.sequence)
    cache.put("key", "owner", "value", old)
    assert cache.get("key") is None


async def test_a_session_revoked_on_one_instance_is_refused_by_another(backend, backend_settings):
    if backend.redis_url is None:
        pytest.skip("the embedded back-end is one instance per database")
    settings = backend_settings()
    async with (
        running_app(settings) as app_a,
        running_app(settings) as app_b,
        client_for(app_a) as a,
        client_for(app_b) as b,
    ):
        user = await signed_in_user(a)
        for _ in range(2):
            assert (await _me(b, user)).status_code == 200
        assert app_b.state.services.auth_cache.stats["hits"] >= 1

        assert (await a.post("/v1/auth/logout", json={}, headers=user.headers)).is_success
        started = time.monotonic()
        while (await _me(b, user)).status_code == 200:
            assert time.monotonic() - started < 1.0, "instance B still accepts the session"
            await anyio.sleep(0.01)
        # through Redis it is at once: B heard of it before the logout answered
        assert time.monotonic() - started < 0.2


def test_an_instance_ignores_the_echo_of_its_own_invalidation():
    """The commit already dropped the entries here; its echo, heard later, must not drop
    what was read since (that made the first cached read on PostgreSQL + Redis a miss)."""
    cache, other = AuthCache(), AuthCache()
    assert cache.instance != other.instance
    cache.put("key", user_owner("u1"), "value", cache.ticket())

    cache._heard(json.dumps({"from": cache.instance, "owners": [user_owner("u1")]}))
    assert cache.get("key") == "value"

    cache._heard(json.dumps({"from": other.instance, "owners": [user_owner("u1")]}))
    assert cache.get("key") is None

    cache.put("key", user_owner("u1"), "value", cache.ticket())
    cache._heard(b"not json")  # unreadable: everything goes
    assert cache.get("key") is None
