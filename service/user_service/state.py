"""The long-lived objects of one service instance, built once at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from user_service.auth.password_policy import PasswordRules
from user_service.config import Settings
from user_service.kit.encryption import KeyProvider
from user_service.kit.ip import Network
from user_service.kit.passwords import PasswordHasher
from user_service.kit.ratelimit import RateLimiter
from user_service.tokens.access_tokens import TokenService
from user_service.tokens.signing_keys import Keyring


@dataclass
class AppServices:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    key_provider: KeyProvider
    keyring: Keyring
    tokens: TokenService
    hasher: PasswordHasher
    rate_limiter: RateLimiter
    trusted_proxies: list[Network]
    password_rules: PasswordRules
    redis: Redis | None = None
    extras: dict[str, object] = field(default_factory=dict)
