"""Revocation awareness: the rules, the HTTP long-poll feed (a local fake) and real Redis."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import time
import uuid
from typing import Any

import httpx
import pytest
from support import BASE, FakeClock, FakeUserService, add_token_endpoint, mint, user_claims

from quantagro_auth import AuthClient, Event, EventHub, RevocationList, TokenRevoked

pytestmark = pytest.mark.anyio

_next_id = iter(range(1, 10**9))


def event(event_type: str, aggregate_type: str = "user", **payload: Any) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC).isoformat()
    aggregate_id = payload.get("user_id") or payload.get("account_id") or str(uuid.uuid4())
    return {
        "event_id": next(_next_id),
        "type": event_type,
        "aggregate_type": aggregate_type,
        "aggregate_id": aggregate_id,
        "occurred_at": now,
        "payload": {"type": event_type, "occurred_at": now, **payload},
    }


def principal_for(key, claims):
    from quantagro_auth import UserPrincipal

    return UserPrincipal.from_claims(claims, mint(key, claims))


# -- the rules --------------------------------------------------------------------------------


async def test_events_revoke_sessions_and_disable_users_until_the_retention_passes(key):
    clock = FakeClock(time.time())
    revocations = RevocationList(retention_seconds=3600, clock=clock)
    hub = EventHub()
    revocations.follow(hub)
    alice, bob, carol = user_claims(), user_claims(), user_claims()
    await hub.publish(
        event("session.revoked", user_id=alice["sub"], session_id=alice["sid"], reason="logout")
    )
    await hub.publish(event("user.status_changed", user_id=bob["sub"], status="suspended"))
    await hub.publish(event("user.frozen", user_id=carol["sub"]))
    assert revocations.revoked_reason(principal_for(key, alice)) == "session_revoked"
    assert revocations.revoked_reason(principal_for(key, bob)) == "user_disabled"
    assert revocations.revoked_reason(principal_for(key, carol)) == "user_disabled"
    clock.advance(3601)
    assert revocations.revoked_reason(principal_for(key, alice)) is None
    assert revocations.revoked_reason(principal_for(key, bob)) is None


async def test_a_freeze_lasts_until_unfrozen_not_a_token_lifetime(key):
    clock = FakeClock(time.time())
    revocations = RevocationList(retention_seconds=3600, clock=clock)
    hub = EventHub()
    revocations.follow(hub)
    carol = user_claims()
    disabled: list[str] = []
    revocations.on_user_disabled(disabled.append)
    watch = revocations.watch(principal_for(key, carol))
    await hub.publish(event("user.frozen", user_id=carol["sub"], account_ids=[]))
    assert watch.fired.is_set() and disabled == [carol["sub"]]
    clock.advance(7200)  # a frozen user may sign in again: new tokens stay refused
    assert revocations.is_user_frozen(carol["sub"])
    assert revocations.revoked_reason(principal_for(key, carol)) == "user_disabled"
    await hub.publish(event("user.unfrozen", user_id=carol["sub"], account_ids=[]))
    assert not revocations.is_user_frozen(carol["sub"])
    assert revocations.revoked_reason(principal_for(key, carol)) is None


async def test_reactivation_wins_only_when_it_is_newer(key):
    revocations = RevocationList()
    hub = EventHub()
    revocations.follow(hub)
    user = user_claims()
    suspended = event("user.status_changed", user_id=user["sub"], status="suspended")
    active = event("user.status_changed", user_id=user["sub"], status="active")
    deactivated = event("user.deactivated", user_id=user["sub"])
    await hub.publish(suspended)
    await hub.publish(active)
    assert not revocations.is_user_disabled(user["sub"])
    await hub.publish(deactivated)
    assert revocations.is_user_disabled(user["sub"])
    stale = dict(active, event_id=active["event_id"] - 100)  # an old event arriving late
    await hub.publish(stale)
    assert revocations.is_user_disabled(user["sub"])


async def test_callbacks_fire_once_per_revocation_sync_or_async(key):
    revocations = RevocationList()
    hub = EventHub()
    revocations.follow(hub)
    sessions, users = [], []

    async def on_session(sid: str) -> None:
        await asyncio.sleep(0)
        sessions.append(sid)

    def broken(sid: str) -> None:
        raise RuntimeError("a subscriber's bug must not stop the others")

    revocations.on_session_revoked(broken)
    revocations.on_session_revoked(on_session)
    unsubscribe = revocations.on_user_disabled(users.append)
    user = user_claims()
    revoked = event("session.revoked", user_id=user["sub"], session_id=user["sid"])
    for _ in range(3):  # at-least-once delivery
        await hub.publish(revoked)
    await hub.publish(event("user.deactivated", user_id=user["sub"]))
    unsubscribe()
    await hub.publish(event("user.frozen", user_id=str(uuid.uuid4())))
    assert sessions == [user["sid"]]
    assert users == [user["sub"]]
    assert hub.received == 3


async def test_subscribers_get_each_event_once_by_family(key):
    hub = EventHub()
    unlinked, everything = [], []
    hub.subscribe(unlinked.append, "trading_account.unlinked")
    hub.subscribe(everything.append)
    family: list[Event] = []
    hub.on("trading_account.*")(family.append)
    unlink = event("trading_account.unlinked", "trading_account", account_id="acc-1", broker="kite")
    await hub.publish(unlink)
    await hub.publish(unlink)
    await hub.publish(event("session.created", session_id="s"))
    await hub.publish({"event_id": "bad"})
    assert [e.get("account_id") for e in unlinked] == ["acc-1"]
    assert len(family) == 1 and len(everything) == 2


# -- the HTTP feed ------------------------------------------------------------------------------


class FakeFeed:
    """``GET /v1/events``: long-poll over an in-memory outbox, cursor = the last event id."""

    def __init__(self, service: FakeUserService) -> None:
        self.events: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()
        self.failures = 0
        self.seen: list[httpx.Request] = []
        service.route("GET", "/v1/events")(self.handle)

    def add(self, item: dict[str, Any]) -> None:
        self.events.append(item)
        self.arrived.set()
        self.arrived = asyncio.Event()

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        if self.failures:
            self.failures -= 1
            return httpx.Response(503, json={"detail": "busy", "code": "unavailable"})
        params = request.url.params
        after = int(params.get("after", "0"))
        limit = int(params.get("limit", "100"))
        wait = float(params.get("wait", "0"))
        pending = [e for e in self.events if e["event_id"] > after]
        if not pending and wait:
            arrived = self.arrived
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(arrived.wait(), wait)
            pending = [e for e in self.events if e["event_id"] > after]
        items = pending[:limit]
        cursor = str(items[-1]["event_id"]) if items else str(after)
        return httpx.Response(200, json={"items": items, "next_cursor": cursor})


async def test_the_http_feed_catches_up_then_delivers_live_revocations(key):
    service = FakeUserService(published=[key])
    issued = add_token_endpoint(service, key)
    feed = FakeFeed(service)
    old, live = user_claims(), user_claims()
    feed.add(event("session.revoked", user_id=old["sub"], session_id=old["sid"]))
    feed.add(event("session.revoked", user_id=old["sub"], session_id=old["sid"]))
    async with AuthClient.from_discovery(
        BASE,
        client_id="ticker_service",
        client_secret="s3cret",
        http=service.http(),
        events_wait=2,
    ) as client:
        assert await client.wait_until_ready(5)
        with pytest.raises(TokenRevoked):
            await client.verify(mint(key, old))
        revoked = asyncio.Event()
        latency: list[float] = []
        client.revocations.on_session_revoked(lambda sid: revoked.set())
        token = mint(key, live)
        await client.verify(token)
        await asyncio.sleep(0.1)  # the feed is now holding a long-poll
        started = time.monotonic()
        feed.add(event("session.revoked", user_id=live["sub"], session_id=live["sid"]))
        await asyncio.wait_for(revoked.wait(), 2)
        latency.append(time.monotonic() - started)
        with pytest.raises(TokenRevoked):
            await client.verify(token)
    assert latency[0] < 0.5
    first, later = feed.seen[0].url.params, feed.seen[-1].url.params
    assert "after" not in first and first["wait"] == "0"  # catching up does not wait
    assert later["wait"] == "2"
    assert later["after"] == str(feed.events[-1]["event_id"])
    assert {r.headers["authorization"] for r in feed.seen} == {f"Bearer {issued[0]}"}


async def test_the_http_feed_backs_off_and_recovers_from_errors(key):
    service = FakeUserService(published=[key])
    add_token_endpoint(service, key)
    feed = FakeFeed(service)
    feed.failures = 2
    user = user_claims()
    feed.add(event("user.status_changed", user_id=user["sub"], status="deactivated"))
    async with AuthClient.from_discovery(
        BASE,
        client_id="ticker_service",
        client_secret="s3cret",
        http=service.http(),
        events_wait=1,
    ) as client:
        assert await client.wait_until_ready(5)
        assert client.revocations.is_user_disabled(user["sub"])
    assert len(feed.seen) >= 3


async def test_the_ticker_learns_of_an_unlinked_account(key):
    service = FakeUserService(published=[key])
    add_token_endpoint(service, key)
    feed = FakeFeed(service)
    async with AuthClient.from_discovery(
        BASE,
        client_id="ticker_service",
        client_secret="s3cret",
        http=service.http(),
        events_wait=2,
    ) as client:
        unlinked: asyncio.Queue[str | None] = asyncio.Queue()
        client.on_event(
            lambda e: unlinked.put_nowait(e.get("account_id")), "trading_account.unlinked"
        )
        assert await client.wait_until_ready(5)
        feed.add(event("trading_account.unlinked", "trading_account", account_id="acc-9"))
        assert await asyncio.wait_for(unlinked.get(), 2) == "acc-9"


# -- Redis ----------------------------------------------------------------------------------------

REDIS_URL = "redis://127.0.0.1:6379/12"


@pytest.fixture
async def redis_prefix():
    from redis.asyncio import Redis

    redis = Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        await redis.ping()
    except Exception as exc:
        await redis.aclose()
        if os.environ.get("CI") or os.environ.get("REQUIRE_POSTGRES_REDIS"):
            pytest.fail(f"Redis is required at {REDIS_URL}: {exc}")
        pytest.skip(f"Redis is not running at {REDIS_URL}")
    prefix = f"sdktest-{uuid.uuid4().hex[:12]}"
    try:
        yield prefix, redis
    finally:
        keys = [k async for k in redis.scan_iter(match=f"{prefix}:*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


async def relay(redis, prefix: str, item: dict[str, Any]) -> None:
    """What the service's outbox relay does for one event."""
    message = json.dumps(item, separators=(",", ":"))
    await redis.xadd(f"{prefix}:events", {"event": message})
    await redis.publish(f"{prefix}:events", message)


async def test_redis_history_live_events_and_catch_up_after_a_disconnect(key, redis_prefix):
    prefix, redis = redis_prefix
    service = FakeUserService(published=[key])
    history, live, missed = user_claims(), user_claims(), user_claims()
    await relay(
        redis, prefix, event("session.revoked", user_id=history["sub"], session_id=history["sid"])
    )
    name = f"{prefix}-client"
    async with AuthClient.from_discovery(
        BASE,
        http=service.http(),
        redis_url=f"{REDIS_URL}?client_name={name}",
        redis_prefix=prefix,
    ) as client:
        assert await client.wait_until_ready(5)
        with pytest.raises(TokenRevoked):
            await client.verify(mint(key, history))

        revoked: asyncio.Queue[str] = asyncio.Queue()
        client.revocations.on_session_revoked(revoked.put_nowait)
        started = time.monotonic()
        await relay(
            redis, prefix, event("session.revoked", user_id=live["sub"], session_id=live["sid"])
        )
        assert await asyncio.wait_for(revoked.get(), 2) == live["sid"]
        live_latency = time.monotonic() - started
        with pytest.raises(TokenRevoked):
            await client.verify(mint(key, live))

        # Cut the feed's connections (only ours, by name) and relay while it is away.
        feed = client.feed
        connections = feed.connections
        killed = 0
        for entry in await redis.client_list():
            if entry.get("name") == name:
                killed += await redis.client_kill_filter(_id=entry["id"])
        assert killed >= 1
        await relay(
            redis, prefix, event("user.status_changed", user_id=missed["sub"], status="suspended")
        )
        deadline = time.monotonic() + 5
        while not client.revocations.is_user_disabled(missed["sub"]):
            assert time.monotonic() < deadline, "the missed event never arrived"
            await asyncio.sleep(0.05)
        assert feed.connections > connections  # it reconnected
    assert live_latency < 0.5
