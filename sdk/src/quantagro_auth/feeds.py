"""Transports that bring the User Service's events to an :class:`~quantagro_auth.events.EventHub`.

* :class:`HttpEventFeed` — ``GET /v1/events?after=&wait=&limit=`` long-poll with a service token
  holding ``events:read``; the first call (no ``after``) starts with the events of the longest
  token lifetime, then ``next_cursor`` is passed as ``after``. Until it has caught up it asks
  with ``wait=0``; then each request is held up to ``wait`` seconds (at most 30).
* :class:`RedisEventFeed` — the relay ``XADD``\\ s each event to the stream ``{prefix}:events``
  (field ``event``) and ``PUBLISH``\\ es it on the channel of the same name. The feed subscribes
  to the channel first, then reads the stream from a time-based id (the last
  ``retention`` seconds on start, the last moment it knew it was connected after a
  reconnect), so nothing published while it was away is missed; duplicates are dropped by
  ``event_id`` in the hub. Needs the ``redis`` extra.

Both loop until cancelled, back off exponentially (with jitter, up to 30 s) on errors, and set
``ready`` once they have caught up with history.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from quantagro_auth.events import EventHub

log = logging.getLogger("quantagro_auth.feeds")

MAX_WAIT = 30
MAX_BACKOFF = 30.0


class Backoff:
    def __init__(self, initial: float = 0.25, maximum: float = MAX_BACKOFF) -> None:
        self.initial = initial
        self.maximum = maximum
        self.delay = initial

    def reset(self) -> None:
        self.delay = self.initial

    async def sleep(self) -> None:
        await asyncio.sleep(self.delay * random.uniform(0.8, 1.2))  # noqa: S311 - jitter
        self.delay = min(self.delay * 2, self.maximum)


class HttpEventFeed:
    def __init__(
        self,
        http: httpx.AsyncClient,
        endpoint: str,
        hub: EventHub,
        bearer: Callable[[], Awaitable[str]],
        *,
        on_unauthorized: Callable[[], None] = lambda: None,
        wait: int = 25,
        limit: int = 200,
        backoff: Backoff | None = None,
    ) -> None:
        self._http = http
        self.endpoint = endpoint
        self._hub = hub
        self._bearer = bearer
        self._on_unauthorized = on_unauthorized
        self.wait = max(0, min(wait, MAX_WAIT))
        self.limit = limit
        self._backoff = backoff or Backoff()
        self.cursor: str | None = None
        self.ready = asyncio.Event()
        self.polls = 0

    async def poll_once(self) -> int:
        """One request; returns how many items it carried. Raises on failure."""
        # Catching up (history, or a backlog) does not wait; then the request is held.
        wait = self.wait if self.ready.is_set() else 0
        params: dict[str, str | int] = {"wait": wait, "limit": self.limit}
        if self.cursor is not None:
            params["after"] = self.cursor
        token = await self._bearer()
        self.polls += 1
        response = await self._http.get(
            self.endpoint,
            params=params,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=httpx.Timeout(10.0, read=wait + 15.0),
        )
        if response.status_code == 401:
            self._on_unauthorized()
        response.raise_for_status()
        body = response.json()
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise ValueError("the event feed answered without items")
        for item in items:
            await self._hub.publish(item)
        next_cursor = body.get("next_cursor")
        if next_cursor is not None:
            self.cursor = str(next_cursor)
        elif items and self._hub.last_event_id is not None:
            self.cursor = str(self._hub.last_event_id)
        return len(items)

    async def run(self) -> None:
        while True:
            try:
                count = await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("event_feed_error: %s; retrying", type(exc).__name__)
                await self._backoff.sleep()
                continue
            self._backoff.reset()
            if count < self.limit:
                self.ready.set()
            if self.wait == 0 and count == 0:
                await asyncio.sleep(1.0)  # no long-poll: do not spin


class RedisEventFeed:
    def __init__(
        self,
        redis_url: str,
        hub: EventHub,
        *,
        prefix: str = "qus",
        history_seconds: float = 3600.0,
        heartbeat_seconds: float = 5.0,
        backoff: Backoff | None = None,
        redis_factory: Callable[[str], Any] | None = None,
    ) -> None:
        self.redis_url = redis_url
        self.channel = f"{prefix}:events"
        self._hub = hub
        self.history_seconds = history_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self._backoff = backoff or Backoff()
        self._factory = redis_factory
        self._resume_ms: int | None = None  # the stream id time to read from on reconnect
        self.ready = asyncio.Event()
        self.connections = 0

    def _connect(self) -> Any:
        if self._factory is not None:
            return self._factory(self.redis_url)
        try:
            from redis.asyncio import Redis
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            raise RuntimeError("redis_url needs the 'redis' extra: quantagro-auth[redis]") from exc
        return Redis.from_url(self.redis_url, decode_responses=True)

    async def _server_ms(self, redis: Any) -> int:
        seconds, micros = await redis.time()
        return int(seconds) * 1000 + int(micros) // 1000

    async def _catch_up(self, redis: Any) -> None:
        """Read the stream from the resume point (exclusive of nothing: duplicates are dropped)."""
        if self._resume_ms is None:
            start_ms = await self._server_ms(redis) - int(self.history_seconds * 1000)
        else:
            start_ms = self._resume_ms - 2000  # a margin for the relay's XADD/PUBLISH pair
        start = f"{max(start_ms, 0)}-0"
        while True:
            entries = await redis.xrange(self.channel, min=start, max="+", count=500)
            for entry_id, fields in entries:
                await self._deliver(fields.get("event"))
                self._resume_ms = max(self._resume_ms or 0, int(str(entry_id).split("-")[0]))
            if len(entries) < 500:
                break
            start = "(" + str(entries[-1][0])

    async def _deliver(self, raw: Any) -> None:
        if raw is None:
            return
        try:
            data = json.loads(raw)
        except (TypeError, ValueError):
            log.warning("redis_event_unreadable")
            return
        await self._hub.publish(data)

    async def run_once(self) -> None:
        """One connection: subscribe, catch up, then follow live until an error."""
        redis = self._connect()
        pubsub = redis.pubsub()
        try:
            await pubsub.subscribe(self.channel)
            self.connections += 1
            await self._catch_up(redis)
            self._resume_ms = await self._server_ms(redis)
            self.ready.set()
            self._backoff.reset()
            last_beat = time.monotonic()
            while True:
                message = await pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=self.heartbeat_seconds
                )
                if message is not None and message.get("type") == "message":
                    await self._deliver(message.get("data"))
                if time.monotonic() - last_beat >= self.heartbeat_seconds:
                    self._resume_ms = await self._server_ms(redis)  # also detects a dead link
                    last_beat = time.monotonic()
        finally:
            try:
                await pubsub.aclose()
                await redis.aclose()
            except Exception as exc:  # a broken connection may fail to close
                log.debug("redis_close_failed: %s", type(exc).__name__)

    async def run(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("redis_event_feed_error: %s; reconnecting", type(exc).__name__)
                await self._backoff.sleep()
