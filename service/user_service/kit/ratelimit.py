"""Sliding-window rate limits, shared through Redis, never unlimited (docs/api.md §5).

Every limit is a sliding window of attempts kept as a sorted set (score = time, member = one
attempt). ``acquire`` records an attempt and answers whether it fitted *in one atomic step*
(a Lua script on Redis, a plain synchronous section in process), so a concurrent burst gets
at most the limit: the attempt is counted **before** the expensive check it guards (bcrypt,
a TOTP code), never after. A caller whose check succeeded gives its attempt back
(``refund``) or wipes the window (``reset``), so limits on *failures* count only failures.

Keys name people and addresses (``login-account:<email>``, ``login-ip:<ip>``); what reaches
Redis is a keyed hash of them (HMAC-SHA256 under a secret derived from the master key), so
the cache never holds a raw e-mail or IP. When Redis is unreachable each call falls back to
the in-process window (never unlimited) and ``redis_healthy`` turns false for
``/health/ready``.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from collections import deque
from dataclasses import dataclass

import structlog
from limits import RateLimitItem, parse
from redis.asyncio import Redis

log = structlog.get_logger(__name__)

# KEYS[1] = the window; ARGV = window (ms), limit, member. Server time keeps instances agreed.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, tonumber(oldest[2]) + window - now}
"""

_PEEK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  return {1, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, tonumber(oldest[2]) + window - now}
"""

_MEMORY_SWEEP_EVERY = 10_000


@dataclass(frozen=True)
class LimitResult:
    allowed: bool
    retry_after: int


@dataclass(frozen=True)
class Attempt:
    """One counted attempt: give it back with ``RateLimiter.refund`` when it succeeded."""

    allowed: bool
    retry_after: int
    rule: str
    key: str
    member: str


def _retry_seconds(milliseconds: float) -> int:
    return max(1, math.ceil(milliseconds / 1000))


class _MemoryWindows:
    """The in-process twin of the Lua scripts (one event loop: no await inside = atomic)."""

    def __init__(self) -> None:
        self._windows: dict[str, deque[tuple[float, str]]] = {}
        self._calls = 0

    def _window(self, key: str, window_ms: float, now: float) -> deque[tuple[float, str]]:
        self._calls += 1
        if self._calls % _MEMORY_SWEEP_EVERY == 0:
            self._sweep(now)
        entries = self._windows.setdefault(key, deque())
        while entries and entries[0][0] <= now - window_ms:
            entries.popleft()
        return entries

    def _sweep(self, now: float) -> None:
        """Forget windows whose newest attempt is older than an hour (bounded memory)."""
        stale = [
            key
            for key, entries in self._windows.items()
            if not entries or entries[-1][0] < now - 3_600_000
        ]
        for key in stale:
            del self._windows[key]

    def acquire(self, key: str, window_ms: float, limit: int, member: str) -> tuple[bool, float]:
        now = time.time() * 1000
        entries = self._window(key, window_ms, now)
        if len(entries) < limit:
            entries.append((now, member))
            return True, 0
        return False, entries[0][0] + window_ms - now

    def peek(self, key: str, window_ms: float, limit: int) -> tuple[bool, float]:
        now = time.time() * 1000
        entries = self._window(key, window_ms, now)
        if len(entries) < limit:
            return True, 0
        return False, entries[0][0] + window_ms - now

    def remove(self, key: str, member: str) -> None:
        entries = self._windows.get(key)
        if entries:
            for entry in entries:
                if entry[1] == member:
                    entries.remove(entry)
                    break

    def clear(self, key: str) -> None:
        self._windows.pop(key, None)


class RateLimiter:
    def __init__(
        self,
        redis_url: str | None = None,
        key_prefix: str = "qus:rl",
        *,
        key_secret: bytes | None = None,
        timeout: float = 0.5,
    ) -> None:
        self._memory = _MemoryWindows()
        self._redis: Redis | None = None
        if redis_url:
            self._redis = Redis.from_url(
                redis_url,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                health_check_interval=0,
            )
        self._acquire_script = self._redis.register_script(_ACQUIRE) if self._redis else None
        self._peek_script = self._redis.register_script(_PEEK) if self._redis else None
        self._prefix = key_prefix
        # Without a configured secret (unit tests) a random one still keeps raw keys out.
        self._secret = key_secret or secrets.token_bytes(32)
        self.redis_healthy = True
        self._items: dict[str, RateLimitItem] = {}

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()

    def _rule(self, rule: str) -> tuple[float, int]:
        item = self._items.get(rule)
        if item is None:
            item = self._items[rule] = parse(rule)
        return item.get_expiry() * 1000.0, item.amount

    def storage_key(self, key: str) -> str:
        """What Redis holds for ``key``: a keyed hash, never the e-mail or IP inside it."""
        digest = hmac.new(self._secret, key.encode("utf-8"), hashlib.sha256).hexdigest()
        return f"{self._prefix}:{digest[:40]}"

    def _degraded(self, exc: Exception) -> None:
        if self.redis_healthy:
            log.warning("rate_limit_redis_unavailable", error=type(exc).__name__)
        self.redis_healthy = False

    async def acquire(self, rule: str, key: str) -> Attempt:
        """Count one attempt now, atomically; ``allowed`` is false when the window was full."""
        window_ms, limit = self._rule(rule)
        member = secrets.token_hex(8)
        stored = self.storage_key(key)
        if self._acquire_script is not None:
            try:
                allowed, wait = await self._acquire_script(
                    keys=[stored], args=[int(window_ms), limit, member]
                )
                self.redis_healthy = True
                return Attempt(
                    bool(allowed), 0 if allowed else _retry_seconds(wait), rule, key, member
                )
            except Exception as exc:  # any storage failure: degrade, never open up
                self._degraded(exc)
        ok, wait_ms = self._memory.acquire(stored, window_ms, limit, member)
        return Attempt(ok, 0 if ok else _retry_seconds(wait_ms), rule, key, member)

    async def hit(self, rule: str, key: str) -> LimitResult:
        """Count one event; refuse it when the window is full."""
        attempt = await self.acquire(rule, key)
        return LimitResult(attempt.allowed, attempt.retry_after)

    async def check(self, rule: str, key: str) -> LimitResult:
        """Test without counting (a pre-check; the atomic guard is ``acquire``)."""
        window_ms, limit = self._rule(rule)
        stored = self.storage_key(key)
        if self._peek_script is not None:
            try:
                allowed, wait = await self._peek_script(keys=[stored], args=[int(window_ms), limit])
                self.redis_healthy = True
                return LimitResult(bool(allowed), 0 if allowed else _retry_seconds(wait))
            except Exception as exc:
                self._degraded(exc)
        ok, wait_ms = self._memory.peek(stored, window_ms, limit)
        return LimitResult(ok, 0 if ok else _retry_seconds(wait_ms))

    async def refund(self, attempt: Attempt) -> None:
        """Give back an attempt that succeeded, so only failures fill a failure limit."""
        if not attempt.allowed:
            return
        stored = self.storage_key(attempt.key)
        self._memory.remove(stored, attempt.member)
        if self._redis is not None:
            try:
                await self._redis.zrem(stored, attempt.member)
            except Exception as exc:
                self._degraded(exc)

    async def reset(self, rule: str, key: str) -> None:
        """Empty the window (a success wipes earlier failures of the same account)."""
        stored = self.storage_key(key)
        self._memory.clear(stored)
        if self._redis is not None:
            try:
                await self._redis.delete(stored)
            except Exception as exc:
                self._degraded(exc)
