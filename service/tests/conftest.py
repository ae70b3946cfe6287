"""Shared fixtures: back-ends, a running app per test, an HTTP client bound to it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.fixtures.backends import Backend, PostgresRedis, create_sqlite_backend
from user_service.app import create_app
from user_service.config import Settings

# Generous limits so ordinary tests never trip them; rate-limit tests set their own.
RELAXED_LIMITS = {
    "rate_limit_login_account": "1000 per minute",
    "rate_limit_login_ip": "10000 per minute",
    "rate_limit_register_ip": "10000 per minute",
    "rate_limit_refresh_session": "1000 per minute",
    "rate_limit_mfa_verify": "1000 per minute",
    "rate_limit_password_reset": "1000 per minute",
    "rate_limit_email_resend": "1000 per minute",
}


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    workdir = tmp_path_factory.mktemp(f"backend-{request.param}")
    if request.param == "sqlite":
        yield create_sqlite_backend(workdir)
        return
    services = PostgresRedis(workdir)
    backend = services.start()
    try:
        yield backend
    finally:
        services.stop()


def make_settings(backend: Backend, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": backend.database_url,
        "redis_url": backend.redis_url,
        "redis_key_prefix": f"{backend.redis_prefix}{uuid.uuid4().hex[:12]}",
        "kms_master_key_file": backend.key_file,
        "jwt_key_size": 2048,
        "bcrypt_rounds": 4,
        "cookie_secure": False,
        "environment": "test",
        "frontend_dist": backend.workdir / "no-frontend",
        "mail_dir": backend.workdir / "mail",
        "frontend_url": "http://testserver",
        "signing_key_refresh_seconds": 1,
        # A loaded CI machine can take seconds to open a connection or answer a Redis call; the
        # drills set the production limits themselves.
        "db_connect_timeout_seconds": 15,
        "db_pool_timeout_seconds": 15,
        "db_statement_timeout_seconds": 15,
        "redis_timeout_seconds": 5,
        **RELAXED_LIMITS,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@asynccontextmanager
async def client_for(app: FastAPI, **kwargs: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 51000))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", **kwargs
    ) as client:
        yield client


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module (or with ``@pytest.mark.parametrize``) to tune the app."""
    return {}


@pytest.fixture
async def app(backend: Backend, settings_overrides: dict[str, Any]) -> AsyncIterator[FastAPI]:
    async with running_app(make_settings(backend, **settings_overrides)) as application:
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as http:
        yield http


@pytest.fixture
def new_client(app: FastAPI) -> Callable[..., Any]:
    """A second, independent browser (its own cookie jar) against the same app."""
    return lambda **kwargs: client_for(app, **kwargs)


@pytest.fixture
def backend_settings(backend: Backend) -> Callable[..., Settings]:
    return lambda **overrides: make_settings(backend, **overrides)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "backend" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.backend)


@pytest.fixture
def tmp_mail_dir(tmp_path: Path) -> Path:
    return tmp_path / "mail"
