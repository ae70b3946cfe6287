"""Start-up steps shared by the app and the CLI: key provider, signing key, services."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from user_service.auth.password_policy import PasswordRules
from user_service.authz.cache import DecisionCache
from user_service.config import Settings
from user_service.db import (
    create_engine,
    create_sessionmaker,
    read_only,
)
from user_service.kit.ip import parse_networks
from user_service.kit.passwords import PasswordHasher
from user_service.kit.ratelimit import RateLimiter
from user_service.kms import KeyProvider, KeyProviderError, LocalKeyProvider
from user_service.mail.dispatch import MailDispatcher
from user_service.models import JwtSigningKey
from user_service.redis import create_redis
from user_service.state import AppServices
from user_service.tokens.access_tokens import TokenService
from user_service.tokens.signing_keys import Keyring, ensure_signing_key


async def _holds_sealed_data(sessionmaker: async_sessionmaker[AsyncSession]) -> bool:
    async with read_only(sessionmaker) as session:
        count = await session.scalar(select(func.count()).select_from(JwtSigningKey))
    return bool(count)


async def open_key_provider(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> KeyProvider:
    """Load the master key file; create it only on a first run (nothing sealed yet).

    A missing key file next to a database that already holds sealed secrets is a
    misconfiguration, not a first run: refuse to start rather than strand that data.
    """
    path = Path(settings.kms_master_key_file)
    if path.exists():  # noqa: ASYNC240 - one stat at start-up
        return LocalKeyProvider.load(path)
    if await _holds_sealed_data(sessionmaker):
        raise KeyProviderError(
            f"KMS_MASTER_KEY_FILE {path} does not exist, but the database already holds data "
            "sealed under a master key. Point KMS_MASTER_KEY_FILE at the original key file "
            "(restore it from your backup); the service will not start without it."
        )
    try:
        return LocalKeyProvider.create(path)
    except KeyProviderError:
        if not path.exists():  # noqa: ASYNC240 - one stat at start-up
            raise
        # ``serve --workers N`` on a first run: another worker created the file a moment ago
        # (found by the worker-kill drill). Use its key once it is completely written.
        return await _load_when_written(path)


async def _load_when_written(path: Path, wait_seconds: float = 10.0) -> KeyProvider:
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return LocalKeyProvider.load(path)
        except KeyProviderError:
            if time.monotonic() > deadline:
                raise
            await anyio.sleep(0.1)


async def build_services(settings: Settings) -> AppServices:
    engine = create_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        echo=settings.sql_echo,
        command_timeout=settings.db_statement_timeout_seconds,
        connect_timeout=settings.db_connect_timeout_seconds,
        pool_timeout=settings.db_pool_timeout_seconds,
    )
    sessionmaker = create_sessionmaker(engine)
    try:
        provider = await open_key_provider(settings, sessionmaker)
    except BaseException:
        await engine.dispose()  # refusing to start must not leak the pool's connections
        raise
    async with sessionmaker() as session:
        await ensure_signing_key(session, provider, settings.jwt_key_size)
        await session.commit()
    keyring = Keyring(sessionmaker, provider, settings.signing_key_refresh_seconds)
    await keyring.refresh(force=True)
    tokens = TokenService(
        keyring,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        access_ttl=settings.access_token_ttl_seconds,
        service_ttl=settings.service_token_ttl_seconds,
    )
    redis = (
        create_redis(settings.redis_url, settings.redis_timeout_seconds)
        if settings.redis_url
        else None
    )
    return AppServices(
        settings=settings,
        engine=engine,
        sessionmaker=sessionmaker,
        key_provider=provider,
        keyring=keyring,
        tokens=tokens,
        hasher=PasswordHasher(settings.bcrypt_rounds, settings.password_hash_workers),
        rate_limiter=RateLimiter(
            settings.redis_url,
            key_prefix=f"{settings.redis_key_prefix}:rl",
            key_secret=provider.derive_secret(b"rate-limit-keys"),
            timeout=settings.redis_timeout_seconds,
        ),
        trusted_proxies=parse_networks(settings.trusted_proxies),
        password_rules=PasswordRules(
            min_length=settings.password_min_length,
            composition=settings.password_composition_rules,
            min_score=settings.password_min_zxcvbn_score,
        ),
        redis=redis,
        mail=MailDispatcher.from_settings(settings),
        decision_cache=DecisionCache(
            redis,
            key_prefix=settings.redis_key_prefix,
            ttl_seconds=settings.authz_cache_ttl_seconds,
            max_entries=settings.authz_cache_max_entries,
        ),
    )


async def close_services(services: AppServices) -> None:
    await services.mail.aclose()
    await services.decision_cache.stop()
    await services.rate_limiter.aclose()
    if services.redis is not None:
        await services.redis.aclose()
    await services.engine.dispose()
    services.hasher.close()
