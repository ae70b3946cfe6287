"""Rate limits on ``limits`` (moving window), shared through Redis, never unlimited.

With Redis configured, counters live there so every instance sees one limit. When Redis is
unreachable each check falls back to an in-process limiter (SPEC §5: "never unlimited") and
``redis_healthy`` turns false for ``/health/ready``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import structlog
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class LimitResult:
    allowed: bool
    retry_after: int


class RateLimiter:
    def __init__(self, redis_url: str | None = None, key_prefix: str = "qus:rl") -> None:
        self._memory = MovingWindowRateLimiter(MemoryStorage())
        self._shared: MovingWindowRateLimiter | None = None
        self._storage: Storage | None = None
        if redis_url:
            self._storage = RedisStorage(
                "async+" + redis_url,
                implementation="redispy",
                wrap_exceptions=True,
                key_prefix=key_prefix,
                socket_timeout=0.5,
                socket_connect_timeout=0.5,
            )
            self._shared = MovingWindowRateLimiter(self._storage)
        self.redis_healthy = True
        self._items: dict[str, RateLimitItem] = {}

    def _item(self, rule: str) -> RateLimitItem:
        item = self._items.get(rule)
        if item is None:
            item = self._items[rule] = parse(rule)
        return item

    async def _call(self, method: str, rule: str, key: str) -> object:
        item = self._item(rule)
        if self._shared is not None:
            try:
                result = await getattr(self._shared, method)(item, key)
                self.redis_healthy = True
                return result
            except Exception as exc:  # any storage failure: degrade, never open up
                if self.redis_healthy:
                    log.warning("rate_limit_redis_unavailable", error=type(exc).__name__)
                self.redis_healthy = False
        return await getattr(self._memory, method)(item, key)

    async def _retry_after(self, rule: str, key: str) -> int:
        stats = await self._call("get_window_stats", rule, key)
        reset_time = getattr(stats, "reset_time", time.time() + 1)
        return max(1, math.ceil(reset_time - time.time()))

    async def hit(self, rule: str, key: str) -> LimitResult:
        """Count one event; refuse it when the window is full."""
        if await self._call("hit", rule, key):
            return LimitResult(True, 0)
        return LimitResult(False, await self._retry_after(rule, key))

    async def check(self, rule: str, key: str) -> LimitResult:
        """Test without counting (used for 'failed attempts' limits)."""
        if await self._call("test", rule, key):
            return LimitResult(True, 0)
        return LimitResult(False, await self._retry_after(rule, key))

    async def reset(self, rule: str, key: str) -> None:
        await self._call("clear", rule, key)
