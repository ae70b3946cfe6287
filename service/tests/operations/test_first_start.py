"""First start with ``serve --workers N``: every worker ends up on the one master key.

Found by the worker-kill drill (docs/reliability.md): two workers of a fresh deployment both
tried to create ``KMS_MASTER_KEY_FILE``; the loser refused to start and uvicorn stopped the
whole server.
"""

from __future__ import annotations

import anyio
import pytest

from user_service import bootstrap
from user_service.kms import KeyProviderError, LocalKeyProvider

pytestmark = pytest.mark.anyio


async def test_a_worker_that_loses_the_key_file_race_uses_the_winners_key(
    app, tmp_path, monkeypatch
):
    path = tmp_path / "master.key"
    settings = app.state.services.settings.model_copy(update={"kms_master_key_file": path})
    real_create = LocalKeyProvider.create
    winner: list[LocalKeyProvider] = []

    def lose_the_race(key_path, **kwargs):
        winner.append(real_create(key_path, **kwargs))  # the other worker was faster
        raise KeyProviderError(f"KMS_MASTER_KEY_FILE {key_path} already exists")

    async def nothing_sealed_yet(_sessionmaker):
        return False

    monkeypatch.setattr(bootstrap, "_holds_sealed_data", nothing_sealed_yet)
    monkeypatch.setattr(LocalKeyProvider, "create", lose_the_race)
    provider = await bootstrap.open_key_provider(settings, app.state.services.sessionmaker)
    assert provider.key_ids() == winner[0].key_ids()


async def test_a_key_file_still_being_written_is_read_once_complete(tmp_path):
    source = tmp_path / "written.key"
    LocalKeyProvider.create(source)
    path = tmp_path / "master.key"
    path.write_bytes(b"")  # created, not yet written, by the other worker
    path.chmod(0o600)

    async def finish_writing():
        await anyio.sleep(0.3)
        path.write_bytes(source.read_bytes())

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(finish_writing)
        provider = await bootstrap._load_when_written(path, wait_seconds=5)
    assert provider.key_ids() == LocalKeyProvider.load(source).key_ids()


async def test_a_key_file_that_never_becomes_valid_still_stops_the_start(tmp_path):
    path = tmp_path / "master.key"
    path.write_bytes(b"not a key file")
    path.chmod(0o600)
    with pytest.raises(KeyProviderError):
        await bootstrap._load_when_written(path, wait_seconds=0.3)
