"""The long-lived objects of one service instance, built once at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from user_service.auth.cache import AuthCache
from user_service.auth.password_policy import PasswordRules
from user_service.authz.cache import DecisionCache
from user_service.config import Settings
from user_service.kit.ip import Network
from user_service.kit.passwords import PasswordHasher
from user_service.kit.ratelimit import RateLimiter
from user_service.kms import KeyProvider
from user_service.mail.dispatch import MailDispatcher
from user_service.tokens.access_tokens import TokenService
from user_service.tokens.signing_keys import Keyring
from user_service.trading_accounts.broker import Broker


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
