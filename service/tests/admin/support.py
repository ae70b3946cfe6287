"""Helpers for tests that need admins, other roles or direct database access."""

from __future__ import annotations

import functools
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from tests.fixtures.users import TestUser, login, register
from user_service.admin import service as admin_service
from user_service.authz.invalidation import invalidate_decisions
from user_service.cli import app as cli_app
from user_service.config import get_settings
from user_service.users import repository as users_repository


@asynccontextmanager
async def db_session(app: FastAPI) -> AsyncIterator[AsyncSession]:
    """One committed unit of work against the app's database (after-commit hooks run)."""
    services = app.state.services
    async with services.unit_of_work() as db:
        yield db


async def set_roles(app: FastAPI, user_id: str, roles: list[str]) -> None:
    """Set roles behind the API's back, as another domain would (and invalidate like one)."""
    async with db_session(app) as db:
        known = await users_repository.roles_by_name(db, roles)
        await users_repository.set_roles(
            db, uuid.UUID(user_id), [known[name] for name in roles], granted_by="test"
        )
        invalidate_decisions(db, user_ids=[uuid.UUID(user_id)])


async def make_admin(app: FastAPI, email: str) -> None:
    async with db_session(app) as db:
        await admin_service.create_admin(db, app.state.services, email, None, "Admin")


async def signed_in_admin(client: httpx.AsyncClient, app: FastAPI) -> TestUser:
    admin = await register(client)
    await make_admin(app, admin.email)
    await login(client, admin)
    return admin


async def signed_in_with_roles(
    client: httpx.AsyncClient, app: FastAPI, roles: list[str]
) -> TestUser:
    user = await register(client)
    await set_roles(app, user.user_id, roles)
    await login(client, user)
    return user


@pytest.fixture
def cli(app, monkeypatch):
    """Run the CLI against the app's database (in a thread: it starts its own event loop)."""
    settings = app.state.services.settings
    env = {
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url or "",
        "REDIS_KEY_PREFIX": settings.redis_key_prefix,
        "KMS_MASTER_KEY_FILE": str(settings.kms_master_key_file),
        "JWT_KEY_SIZE": "2048",
        "BCRYPT_ROUNDS": "4",
        "ENVIRONMENT": "test",
        "COOKIE_SECURE": "false",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()

    async def run(*args: str, input: str | None = None):
        invoke = functools.partial(CliRunner().invoke, cli_app, list(args), input=input)
        return await anyio.to_thread.run_sync(invoke)

    yield run
    get_settings.cache_clear()
