"""`user-service kms rotate-master-key` against a live app, and start-up refusals.

The rotation runs on the session's shared key file and database (as in production: one key
file, one database), so every blob sealed by earlier tests is re-wrapped too.
"""

import os
import shutil
import uuid

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tests.conftest import running_app
from tests.trading_accounts.helpers import (
    linked_active_account,
    service_headers,
    settings_overrides,  # noqa: F401 - the Kite stand-in for the app
    verified_user,
)
from user_service.kms import KeyProviderError, LocalKeyProvider, sealed_key_id
from user_service.kms import cli as kms_cli
from user_service.models import JwtSigningKey, TradingAccount

pytestmark = pytest.mark.anyio


async def blob_key_ids(app) -> set[str]:
    async with app.state.services.sessionmaker() as db:
        accounts = await db.scalars(
            select(TradingAccount.credentials_sealed).where(
                TradingAccount.credentials_sealed.is_not(None)
            )
        )
        keys = await db.scalars(select(JwtSigningKey.private_key_sealed))
        return {sealed_key_id(blob) for blob in [*accounts, *keys]}


async def test_rotation_rewraps_everything_and_retires_the_old_key(app, client, kite_state):
    settings = app.state.services.settings
    owner = await verified_user(app, client)
    account = await linked_active_account(client, owner, kite_state.register_app())
    ticker = await service_headers(app, ["credentials:read"])
    url = f"/v1/internal/trading-accounts/{account['account_id']}/credentials"
    before = await client.post(url, headers=ticker)
    assert before.status_code == 200

    ring = LocalKeyProvider.load(settings.kms_master_key_file)
    old_key = ring.current_key_id()
    assert old_key in await blob_key_ids(app)

    # Phase 1 only (a new active key, nothing re-wrapped yet): old blobs keep opening.
    interim = ring.add_key_and_activate()
    assert (await client.post(url, headers=ticker)).json() == before.json()

    report = await kms_cli.rotate_master_key(settings, batch_size=2, settle_seconds=0)

    assert report.previous_key_id == interim
    new_key = report.new_key_id
    assert {old_key, interim} <= set(report.retired)
    assert report.kept == []
    first_pass = report.passes[0]
    assert first_pass["trading_accounts.credentials_sealed"].rewrapped >= 1
    assert first_pass["jwt_signing_keys.private_key_sealed"].rewrapped >= 1
    assert all(result.unreadable == 0 for result in first_pass.values())
    assert all(result.rewrapped == 0 for result in report.passes[1].values())
    assert report.references == {new_key: sum(report.references.values())}

    assert await blob_key_ids(app) == {new_key}
    assert LocalKeyProvider.load(settings.kms_master_key_file).key_ids() == (new_key,)
    assert oct(os.stat(settings.kms_master_key_file).st_mode & 0o777) == "0o600"
    # The running app picks the new ring up by itself and still opens everything.
    after = await client.post(url, headers=ticker)
    assert after.status_code == 200 and after.json() == before.json()
    text = "\n".join(report.lines())
    assert f"new master key: {new_key}" in text and f"retired: {old_key}" in text


async def test_a_blob_that_still_names_the_old_key_keeps_it(app, client, kite_state):
    """A value that cannot be re-wrapped (here: tampered) must not strand its old key."""
    settings = app.state.services.settings
    owner = await verified_user(app, client)
    account = await linked_active_account(client, owner, kite_state.register_app())
    old_key = LocalKeyProvider.load(settings.kms_master_key_file).current_key_id()
    async with app.state.services.sessionmaker() as db:
        row = await db.get(TradingAccount, uuid.UUID(account["account_id"]))
        blob = bytearray(row.credentials_sealed)
        blob[40] ^= 0xFF  # inside the wrapped data key
        row.credentials_sealed = bytes(blob)
        await db.commit()
    try:
        report = await kms_cli.rotate_master_key(settings, settle_seconds=0)
        assert report.kept == [old_key]
        assert report.references[old_key] == 1
        assert report.passes[0]["trading_accounts.credentials_sealed"].unreadable == 1
        assert old_key in LocalKeyProvider.load(settings.kms_master_key_file).key_ids()
    finally:
        async with app.state.services.sessionmaker() as db:
            await db.delete(await db.get(TradingAccount, uuid.UUID(account["account_id"])))
            await db.commit()


def test_the_cli_command_prints_a_summary(backend_settings, monkeypatch):
    settings = backend_settings()
    monkeypatch.setattr(kms_cli, "get_settings", lambda: settings)
    from user_service.cli import app as cli

    before = LocalKeyProvider.load(settings.kms_master_key_file).current_key_id()
    result = CliRunner().invoke(cli, ["kms", "rotate-master-key", "--settle-seconds", "0"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    after = LocalKeyProvider.load(settings.kms_master_key_file).current_key_id()
    assert after != before
    assert lines[-1] == f"new master key: {after}"
    assert f"retired: {before}" in lines

    status = CliRunner().invoke(cli, ["kms", "status"])
    assert status.exit_code == 0
    assert status.output.startswith(f"{after} (active): ")


async def test_the_service_refuses_to_start_without_its_key_file(backend_settings, tmp_path):
    with pytest.raises(KeyProviderError, match="already holds data sealed"):
        async with running_app(backend_settings(kms_master_key_file=tmp_path / "missing.key")):
            pass


async def test_the_service_refuses_a_key_file_others_can_read(backend_settings, tmp_path):
    exposed = tmp_path / "exposed.key"
    shutil.copy(backend_settings().kms_master_key_file, exposed)
    exposed.chmod(0o644)
    with pytest.raises(KeyProviderError, match="chmod 600"):
        async with running_app(backend_settings(kms_master_key_file=exposed)):
            pass


async def test_kms_init_refuses_to_replace_a_lost_key(backend_settings, tmp_path):
    with pytest.raises(KeyProviderError, match="Restore the original key file"):
        await kms_cli.init_key_file(backend_settings(kms_master_key_file=tmp_path / "new.key"))
    existing, created = await kms_cli.init_key_file(backend_settings())
    assert not created and existing.current_key_id()
