"""The long-lived objects of one service instance, built once at start-up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from user_service.auth.cache import AuthCache
from user_service.auth.password_policy import PasswordRules
from user_service.authz.cache import DecisionCache
from user_service.authz.invalidation import publish_invalidations_to
from user_service.config import Settings
from user_service.db import unit_of_work
from user_service.kit.ip import Network
from user_service.kit.passwords import PasswordHasher
from user_service.kit.ratelimit import RateLimiter
from user_service.kms import KeyProvider
from user_service.mail.dispatch import MailDispatcher
from user_service.tokens.access_tokens import TokenService
from user_service.tokens.signing_keys import Keyring
from user_service.trading_accounts.brokers.base import Broker


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
    mail: MailDispatcher
    redis: Redis | None = None
    decision_cache: DecisionCache = field(default_factory=DecisionCache)
    # Who-is-calling facts for one second (auth/cache.py); set up with the app's lifespan.
    auth_cache: AuthCache | None = None
    extras: dict[str, object] = field(default_factory=dict)
    # Broker adapters by name ("kite"), each with its own connection pool; see app.py.
    brokers: dict[str, Broker] = field(default_factory=dict)

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """One transaction (``db.unit_of_work``) whose authorization-decision invalidations go
        to this instance's decision cache (and through it to the others) once it commits:
        the request's (``deps.get_db``) and a CLI command's."""
        async with unit_of_work(self.sessionmaker) as session:
            publish_invalidations_to(session, self.decision_cache)
            yield session
