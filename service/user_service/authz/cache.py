"""The decision cache: 60 s, in-process and in Redis, versioned, dropped on every instance at once.

One *version* covers every fact a decision reads from the database (policies, roles, user
status, memberships). ``invalidate`` bumps it on commit of any change to those facts; the
version is part of every key, so an entry written before the change can never be read after
it, whichever instance wrote it. With Redis the version is a counter in Redis
(``{prefix}:authz:version``), bumped with ``INCR`` and announced on the pub/sub channel
``{prefix}:authz:invalidate``; each instance's listener re-reads the counter on every message
(so out-of-order messages cannot roll it back) and drops its in-process entries.

Fail safe: while the listener is not subscribed (Redis down, reconnecting) the instance cannot
know about changes made elsewhere, so it neither reads nor writes the cache and reloads the
policies on every decision; the 60 s TTL bounds everything else. Decisions that are not
``cacheable`` (time-dependent, credentials, trading) are never stored. See
docs/authorization.md §12.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from typing import Literal

import structlog
from redis.asyncio import Redis

from user_service.authz.evaluator import DECISION_TTL_SECONDS, CompiledPolicies, Decision
from user_service.authz.invalidation import Invalidation

log = structlog.get_logger(__name__)

Source = Literal["memory", "redis"]

_RECONNECT_MIN_SECONDS = 0.1
_RECONNECT_MAX_SECONDS = 5.0
_POLL_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class _Entry:
    expires_at: float  # time.monotonic()
    version: int
    decision: Decision


def _dump(decision: Decision, expires_at: float) -> bytes:
    return json.dumps(
        {
            "allowed": decision.allowed,
            "code": decision.code,
            "reason": decision.reason,
            "policy": decision.matched_policy,
            "exp": expires_at,
        },
        separators=(",", ":"),
    ).encode()


def _load(raw: bytes | str) -> tuple[Decision, float] | None:
    try:
        data = json.loads(raw)
        decision = Decision(
            allowed=data["allowed"] is True,
            code=str(data["code"]),
            reason=str(data["reason"]),
            matched_policy=data["policy"],
            cacheable=True,
        )
        return decision, float(data["exp"])
    except (ValueError, KeyError, TypeError):
        return None


class DecisionCache:
    """Cacheable decisions and the compiled policy set, both tagged with the version."""

    def __init__(
        self,
        redis: Redis | None = None,
        *,
        key_prefix: str = "qus",
        ttl_seconds: int = DECISION_TTL_SECONDS,
        max_entries: int = 50_000,
    ) -> None:
        self._redis = redis
        self._ttl = min(ttl_seconds, DECISION_TTL_SECONDS)
        self._max_entries = max_entries
        self._entries: dict[str, _Entry] = {}
        self._version = 0
        self._connected = redis is None
        self._policies: tuple[int, float, CompiledPolicies] | None = None
        self._version_key = f"{key_prefix}:authz:version"
        self._channel = f"{key_prefix}:authz:invalidate"
        self._entry_prefix = f"{key_prefix}:authz:d"
        self._listener: asyncio.Task[None] | None = None
        self.stats = {"memory_hits": 0, "redis_hits": 0, "misses": 0, "invalidations": 0}

    # --- state -------------------------------------------------------------------------------

    @property
    def version(self) -> int:
        """Capture this before reading facts; ``put`` refuses entries of an older version."""
        return self._version

    @property
    def usable(self) -> bool:
        """False while changes made on other instances could go unnoticed (no listener)."""
        return self._ttl > 0 and self._connected

    @property
    def shared(self) -> bool:
        return self._redis is not None

    def _set_version(self, version: int) -> None:
        if version != self._version:
            self._version = version
            self._entries.clear()
            self._policies = None

    # --- decisions ---------------------------------------------------------------------------

    async def get(self, key: str) -> tuple[Decision, Source] | None:
        if not self.usable:
            return None
        version, now = self._version, time.monotonic()
        entry = self._entries.get(key)
        if entry is not None:
            if entry.version == version and entry.expires_at > now:
                self.stats["memory_hits"] += 1
                return entry.decision, "memory"
            self._entries.pop(key, None)
        if self._redis is not None:
            try:
                raw = await self._redis.get(f"{self._entry_prefix}:{version}:{key}")
            except Exception as exc:
                log.debug("authz_cache_redis_unavailable", error=type(exc).__name__)
                raw = None
            loaded = _load(raw) if raw else None
            if loaded is not None:
                decision, expires_at_wall = loaded
                remaining = min(expires_at_wall - time.time(), self._ttl)
                if remaining > 0:
                    self._remember(key, _Entry(now + remaining, version, decision))
                    self.stats["redis_hits"] += 1
                    return decision, "redis"
        self.stats["misses"] += 1
        return None

    async def put(self, key: str, decision: Decision, *, version: int) -> None:
        """Store a cacheable decision computed from facts read at ``version``."""
        if not decision.cacheable or not self.usable or version != self._version:
            return
        self._remember(key, _Entry(time.monotonic() + self._ttl, version, decision))
        if self._redis is not None:
            try:
                await self._redis.set(
                    f"{self._entry_prefix}:{version}:{key}",
                    _dump(decision, time.time() + self._ttl),
                    ex=self._ttl,
                )
            except Exception as exc:
                log.debug("authz_cache_redis_unavailable", error=type(exc).__name__)

    def _remember(self, key: str, entry: _Entry) -> None:
        if len(self._entries) >= self._max_entries:
            now = time.monotonic()
            for stale in [k for k, e in self._entries.items() if e.expires_at <= now]:
                del self._entries[stale]
            while len(self._entries) >= self._max_entries:
                del self._entries[next(iter(self._entries))]
        self._entries[key] = entry

    # --- the compiled policy set -------------------------------------------------------------

    def policy_set(self) -> CompiledPolicies | None:
        """The compiled policies of the current version, if loaded and trustworthy.

        They are reloaded after any invalidation, and at least every TTL so that a change
        made outside the API (SQL, or the CLI without Redis) is picked up as decisions are.
        """
        if self._policies is None or not self.usable:
            return None
        version, expires_at, compiled = self._policies
        if version != self._version or expires_at <= time.monotonic():
            return None
        return compiled

    def keep_policy_set(self, compiled: CompiledPolicies, *, version: int) -> None:
        if version == self._version:
            self._policies = (version, time.monotonic() + self._ttl, compiled)

    # --- invalidation ------------------------------------------------------------------------

    async def invalidate(self, invalidation: Invalidation) -> None:
        """Bump the version here and, with Redis, announce it to every instance."""
        self.stats["invalidations"] += 1
        log.info("authz_decisions_invalidated", **invalidation.describe())
        if self._redis is None:
            self._set_version(self._version + 1)
            return
        try:
            version = int(await self._redis.incr(self._version_key))
            self._set_version(version)
            message = json.dumps({"version": version, **invalidation.describe()})
            await self._redis.publish(self._channel, message)
        except Exception as exc:
            # Other instances may not hear of this change: stop trusting our own cache until
            # the listener has re-read the version (it re-syncs within a second).
            log.error("authz_invalidation_not_published", error=type(exc).__name__)
            self._connected = False
            self._entries.clear()
            self._policies = None

    async def _sync_version(self) -> None:
        raw = await self._redis.get(self._version_key) if self._redis is not None else None
        self._set_version(int(raw or 0))
        self._connected = True

    async def _listen(self) -> None:
        assert self._redis is not None
        delay = _RECONNECT_MIN_SECONDS
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
                await self._sync_version()  # after subscribing: no bump can fall in between
                delay = _RECONNECT_MIN_SECONDS
                while True:
                    message = await pubsub.get_message(timeout=_POLL_SECONDS)
                    if message is not None or not self._connected:
                        await self._sync_version()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("authz_invalidation_channel_down", error=type(exc).__name__)
            finally:
                self._connected = False
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RECONNECT_MAX_SECONDS)

    async def start(self) -> None:
        """Start the pub/sub listener (with Redis); waits briefly for the first sync."""
        if self._redis is None or self._listener is not None:
            return
        self._listener = asyncio.create_task(self._listen(), name="authz-invalidation-listener")
        for _ in range(50):
            if self._connected:
                break
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
