"""The ``user-service`` command, run as a user would (a subprocess on a fresh SQLite file)."""

import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

CLI = [sys.executable, "-m", "user_service.cli"]


def run(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_migrate_then_rotate_creates_a_0600_master_key_and_two_published_keys(env):
    run(env, "migrate")
    first = run(env, "keys", "rotate")
    assert first.stdout.strip().splitlines()[-1].startswith("new signing key: ")
    key_file = Path(env["KMS_MASTER_KEY_FILE"])
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    run(env, "keys", "rotate")
    db = sqlite3.connect(env["DATABASE_URL"].split(":///", 1)[1])
    statuses = sorted(row[0] for row in db.execute("SELECT status FROM jwt_signing_keys"))
    assert statuses.count("active") == 1 and statuses.count("retired") >= 1


def test_the_service_refuses_to_start_without_the_key_that_sealed_its_data(env):
    run(env, "migrate")
    run(env, "keys", "rotate")
    Path(env["KMS_MASTER_KEY_FILE"]).unlink()
    result = run(env, "keys", "rotate", check=False)
    assert result.returncode != 0
    assert "KMS_MASTER_KEY_FILE" in result.stderr and "Traceback" not in result.stderr


def test_a_bad_setting_is_reported_with_how_to_fix_it(env):
    result = run({**env, "TRUSTED_PROXIES": "not-an-ip"}, "migrate", check=False)
    assert result.returncode == 2
    assert "TRUSTED_PROXIES" in result.stderr and "Traceback" not in result.stderr


def test_audit_verify_reports_an_intact_then_a_broken_chain(env):
    run(env, "migrate")
    code = (
        "import asyncio\n"
        "from user_service.config import get_settings\n"
        "from user_service.db import create_engine, create_sessionmaker\n"
        "from user_service.audit.service import record\n"
        "async def main():\n"
        "    engine = create_engine(get_settings().database_url)\n"
        "    async with create_sessionmaker(engine)() as db:\n"
        "        for kind in ('user.registered', 'login.success', 'logout'):\n"
        "            await record(db, kind, actor='system')\n"
        "        await db.commit()\n"
        "    await engine.dispose()\n"
        "asyncio.run(main())\n"
    )
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    assert "3 records verified" in run(env, "audit", "verify").stdout
    db = sqlite3.connect(env["DATABASE_URL"].split(":///", 1)[1])
    db.execute("UPDATE auth_events SET event_type = 'login.failed' WHERE id = 2")
    db.commit()
    broken = run(env, "audit", "verify", check=False)
    assert broken.returncode == 1 and "broken at record 2" in broken.stderr


def test_openapi_lists_the_spec_paths(env):
    import json

    document = json.loads(run(env, "openapi").stdout)
    for path in ("/v1/auth/login", "/v1/auth/refresh", "/v1/users/me", "/v1/.well-known/jwks.json"):
        assert path in document["paths"]
