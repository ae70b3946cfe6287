"""The optional Redis connection (cache, rate limits, events). Durable state never lives here."""

from __future__ import annotations

from redis.asyncio import Redis


def create_redis(url: str, timeout: float = 0.5) -> Redis:
    return Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=15,
        decode_responses=False,
    )


async def redis_ok(client: Redis | None) -> bool | None:
    """True/False when configured, None when the service runs without Redis."""
    if client is None:
        return None
    try:
        return bool(await client.ping())
    except Exception:
        return False
