"""Issue 10: the outbox as an ordered long-poll feed over HTTP (``GET /v1/events``), so
revocations reach resource servers without Redis — on both back-ends."""

import time

import anyio
import pytest

from tests.fixtures.users import register, signed_in_user
from tests.oauth.support import service_with_token

pytestmark = pytest.mark.anyio


async def _feed(client, reader, **params):
    response = await client.get("/v1/events", params=params, headers=reader.headers)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    return response.json()


async def _tail(client, reader) -> str:
    """The cursor at the feed's current end (catching up through the history first)."""
    page = await _feed(client, reader, limit=500)
    while page["items"]:
        page = await _feed(client, reader, after=page["next_cursor"], limit=500)
    return page["next_cursor"]


async def test_a_logout_reaches_the_feed_as_session_revoked(client, app):
    reader = await service_with_token(client, app, "ticker_service")
    start = await _tail(client, reader)
    user = await signed_in_user(client)
    await client.post("/v1/auth/logout", json={"all_devices": True}, headers=user.headers)
    page = await _feed(client, reader, after=start)
    revoked = [event for event in page["items"] if event["type"] == "session.revoked"]
    assert [event["payload"]["user_id"] for event in revoked] == [user.user_id]
    event = revoked[0]
    assert set(event) == {
        "event_id",
        "type",
        "aggregate_type",
        "aggregate_id",
        "occurred_at",
        "payload",
    }
    assert event["payload"]["session_id"]
    ids = [item["event_id"] for item in page["items"]]
    assert ids == sorted(ids) and page["next_cursor"] == str(ids[-1])
    # Nothing new: the same cursor comes back.
    assert (await _feed(client, reader, after=page["next_cursor"])) == {
        "items": [],
        "next_cursor": page["next_cursor"],
    }


async def test_without_a_cursor_the_feed_replays_the_longest_token_lifetime(client, app):
    user = await register(client)
    reader = await service_with_token(client, app, "backend")
    page = await _feed(client, reader, limit=500)
    replayed = list(page["items"])
    while page["items"]:
        page = await _feed(client, reader, after=page["next_cursor"], limit=500)
        replayed.extend(page["items"])
    registered = [e for e in replayed if e["type"] == "user.registered"]
    assert user.user_id in {event["payload"]["user_id"] for event in registered}


async def test_a_long_poll_answers_as_soon_as_an_event_commits(client, app, new_client):
    reader = await service_with_token(client, app, "alert_service")
    user = await signed_in_user(client)
    start = await _tail(client, reader)
    answered: dict[str, float] = {}

    async def poll() -> None:
        page = await _feed(client, reader, after=start, wait=10)
        answered["at"] = time.monotonic()
        answered["types"] = [event["type"] for event in page["items"]]

    async with anyio.create_task_group() as tg:
        tg.start_soon(poll)
        await anyio.sleep(0.5)
        async with new_client() as browser:
            logged_out = time.monotonic()
            await browser.post("/v1/auth/logout", json={"all_devices": True}, headers=user.headers)
    assert "session.revoked" in answered["types"]
    assert answered["at"] - logged_out < 2.0


async def test_the_feed_is_for_services_holding_events_read(client, app):
    calendar = await service_with_token(client, app, "calendar_service")  # no events:read
    refused = await client.get("/v1/events", headers=calendar.headers)
    assert refused.status_code == 403 and refused.json()["code"] == "insufficient_scope"
    user = await signed_in_user(client)
    assert (await client.get("/v1/events", headers=user.headers)).status_code == 401
    assert (await client.get("/v1/events")).status_code == 401
    reader = await service_with_token(client, app, "ticker_service")
    for params in ({"after": "-1"}, {"after": "x"}, {"wait": "31"}, {"limit": "0"}):
        response = await client.get("/v1/events", params=params, headers=reader.headers)
        assert response.status_code == 422, params


async def test_concurrent_writers_never_hide_an_event_from_a_paging_reader(client, app, new_client):
    """Ids follow commit order: a reader paging by id while transactions commit concurrently
    sees every event exactly once."""
    reader = await service_with_token(client, app, "backend")
    cursor = await _tail(client, reader)
    seen: list[int] = []
    done = anyio.Event()

    async def page_until_done() -> None:
        nonlocal cursor
        while True:
            finished = done.is_set()
            page = await _feed(client, reader, after=cursor, limit=500)
            seen.extend(event["event_id"] for event in page["items"])
            cursor = page["next_cursor"]
            if finished and not page["items"]:
                return
            await anyio.sleep(0.01)

    async def sign_up() -> None:
        async with new_client() as browser:
            user = await register(browser)
            await browser.post(
                "/v1/auth/login", json={"email": user.email, "password": user.password}
            )

    async with anyio.create_task_group() as tg:
        tg.start_soon(page_until_done)
        async with anyio.create_task_group() as writers:
            for _ in range(20):
                writers.start_soon(sign_up)
        done.set()
    assert seen == sorted(set(seen))  # in order, no duplicates
    after_first = await _feed(client, reader, after=str(min(seen) - 1), limit=500)
    recent = {e["event_id"] for e in after_first["items"]}
    assert recent <= set(seen)  # nothing committed behind the reader's back
    assert len(seen) >= 40  # 20 sign-ups: user.registered and session.created each
