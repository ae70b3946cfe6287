"""Migration 0007 on both back-ends: a user who had TOTP (and printed backup codes) under the
0006 schema keeps both after the upgrade; the downgrade keeps their TOTP device."""

from __future__ import annotations

import base64
import dataclasses
import secrets
import uuid
from collections.abc import AsyncIterator

import anyio
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import client_for, make_settings, running_app
from tests.fixtures.backends import PG_HOST_DSN, Backend, _pg_admin
from tests.fixtures.users import signed_in_user
from tests.mfa.helpers import controlled_clock, enable_mfa, mfa_login
from user_service.cli import alembic_config
from user_service.mfa import backup_codes

pytestmark = pytest.mark.anyio


@pytest.fixture
async def fresh_backend(backend: Backend, tmp_path) -> AsyncIterator[Backend]:
    """An empty database of the test's kind, of our own (its schema goes up and down)."""
    if backend.name == "sqlite":
        yield dataclasses.replace(backend, database_url=f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
        return
    name = f"qus_mig_{secrets.token_hex(4)}"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        url = f"postgresql+asyncpg://postgres@{PG_HOST_DSN.split('@', 1)[1]}/{name}"
        yield dataclasses.replace(backend, database_url=url)
    finally:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _alembic(url: str, action: str, revision: str) -> None:
    from alembic import command

    await anyio.to_thread.run_sync(getattr(command, action), alembic_config(url), revision)


async def _sql(url: str, statement: str, **params: object) -> list[tuple[object, ...]]:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            result = await connection.execute(text(statement), params)
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        await engine.dispose()


async def test_totp_users_keep_their_factor_and_backup_codes_across_0007(fresh_backend):
    url = fresh_backend.database_url
    await _alembic(url, "upgrade", "head")
    settings = make_settings(fresh_backend)
    with controlled_clock() as clock:
        async with running_app(settings) as app, client_for(app) as client:
            user = await signed_in_user(client)
            secret, _ = await enable_mfa(client, user, clock)

        # Back to 0006: one mfa_totp row per user, the secret sealed as 0006 sealed it.
        await _alembic(url, "downgrade", "0006")
        rows = await _sql(url, "SELECT confirmed_at FROM mfa_totp")
        assert len(rows) == 1 and rows[0][0] is not None
        # Backup codes as the 0006 code made them: keyed from the TOTP secret.
        key = backup_codes.user_key(base64.b32decode(secret), user.user_id)
        printed = backup_codes.generate_backup_codes(3)
        user_id = uuid.UUID(user.user_id)
        uid = user_id.hex if fresh_backend.name == "sqlite" else user_id
        await _sql(url, "DELETE FROM mfa_backup_codes")
        for code in printed:
            await _sql(
                url,
                "INSERT INTO mfa_backup_codes (id, user_id, code_hash, created_at)"
                " VALUES (:id, :uid, :hash, CURRENT_TIMESTAMP)",
                id=uuid.uuid4().hex if fresh_backend.name == "sqlite" else uuid.uuid4(),
                uid=uid,
                hash=backup_codes.hash_backup_code(code, key),
            )

        await _alembic(url, "upgrade", "head")
        async with running_app(settings) as app, client_for(app) as client:
            login = await client.post(
                "/v1/auth/login", json={"email": user.email, "password": user.password}
            )
            assert login.json()["methods"] == ["totp", "backup_code"]
            clock.advance()
            await mfa_login(client, user, clock.code(secret))
            await mfa_login(client, user, printed[0])
            listed = (await client.get("/v1/mfa/factors", headers=user.headers)).json()
            assert [(f["type"], f["name"]) for f in listed["factors"]] == [
                ("totp", "Authenticator app")
            ]
            assert listed["backup_codes_remaining"] == 2
