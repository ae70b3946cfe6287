"""The CLI runs as a user runs it: a subprocess with its own environment and SQLite file."""

import os
from pathlib import Path

import pytest


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "KMS_MASTER_KEY_FILE": str(tmp_path / "keys" / "master.key"),
        "JWT_KEY_SIZE": "2048",
        "REDIS_URL": "",
    }
