"""The platform as real processes, once per back-end for this whole package.

The user service runs on the back-end's database (SQLite, or PostgreSQL + Redis); the
backend, ticker and alert examples are started exactly as a service team would run them,
with their own client secrets, against the Kite stand-in.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.fixtures.backends import Backend
from tests.platform.stack import Platform, PlatformConfig
from tests.platform.support import Trader, link_active_kite_account, sign_up

# The backend's legacy API keys (``LEGACY_API_KEYS``): the users of the old system.
LEGACY_KEY = "platform-test-legacy-key"
LEGACY_USER_ID = "5f1c6a52-8d0e-4c47-9a3e-2b7d9e0c4a11"


@pytest.fixture(scope="package")
def platform(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    workdir = tmp_path_factory.mktemp(f"platform-{backend.name}")
    running = Platform(
        PlatformConfig(
            workdir=workdir,
            database_url=backend.database_url,
            key_file=backend.key_file,
            redis_url=backend.redis_url,
            # under the back-end's prefix, so its clean-up removes these keys too
            redis_prefix=f"{backend.redis_prefix}plat{secrets.token_hex(3)}",
            legacy_api_keys=f"{LEGACY_KEY}:{LEGACY_USER_ID}",
            # A rotated key signs this long after it is published. Anything above the SDK's
            # 10 s unknown-kid refetch interval is enough for zero failed verifications; the
            # default (45 s, the JWKS cache lifetime plus margins) would only slow the test.
            extra_service_env={"SIGNING_KEY_PUBLISH_LEAD_SECONDS": "12"},
        )
    )
    try:
        running.start()
        yield running
    except RuntimeError as exc:
        pytest.fail(f"the platform did not start: {exc}", pytrace=False)
    finally:
        running.stop()


@pytest.fixture
async def http(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the user service."""
    async with httpx.AsyncClient(base_url=platform.config.url("service"), timeout=15) as client:
        yield client


@pytest.fixture
async def trader(http: httpx.AsyncClient, platform: Platform) -> Trader:
    """A signed-in trader with a verified e-mail and one active Kite account."""
    user = await sign_up(http, platform.mail_dir)
    await link_active_kite_account(http, platform.config.url("kite"), user)
    return user


async def expired_user_token(platform: Platform, trader: Trader) -> str:
    """A genuine token of ``trader``'s session, signed by the service's key, but expired.

    Nothing on the API mints one, so this signs with the service's own keyring (same database
    and key file as the running process)."""
    import jwt

    from user_service.bootstrap import build_services, close_services
    from user_service.config import Settings

    cfg = platform.config
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=cfg.database_url,
        kms_master_key_file=cfg.key_file,
        jwt_key_size=2048,
        environment="test",
    )
    claims = jwt.decode(trader.access_token, options={"verify_signature": False})
    services = await build_services(settings)
    try:
        issued = await services.tokens.issue_user_token(
            user_id=uuid.UUID(claims["sub"]),
            session_id=uuid.UUID(claims["sid"]),
            email=claims["email"],
            email_verified=True,
            roles=claims["roles"],
            trading_accounts=claims["trading_accounts"],
            mfa=False,
            auth_time=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2),
            mfa_at=None,
            now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1),
        )
    finally:
        await close_services(services)
    return issued.token
