"""TOTP enrolment, disable, backup codes through HTTP (docs/api.md §3 MFA), on both back-ends."""

from __future__ import annotations

import base64
import re
import uuid

import anyio
import pytest
from sqlalchemy import select

from tests.fixtures.users import signed_in_user
from tests.mfa.helpers import (
    controlled_clock,
    enable_mfa,
    mfa_login,
    password_step,
    setup_totp,
    wait_for_mail,
)
from user_service.models import MfaBackupCode, MfaTotp, OutboxEvent

pytestmark = pytest.mark.anyio


async def test_setup_returns_a_scannable_secret_sealed_at_rest(app, client):
    user = await signed_in_user(client)
    body = await setup_totp(client, user)
    assert set(body) == {"secret", "otpauth_uri", "qr_code_uri"}
    secret = body["secret"]
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)  # 160 bits
    assert body["otpauth_uri"].startswith("otpauth://totp/Quantagro:")
    assert "issuer=Quantagro" in body["otpauth_uri"]
    assert f"secret={secret}" in body["otpauth_uri"]
    assert body["qr_code_uri"].startswith("data:image/svg+xml")

    async with app.state.services.sessionmaker() as db:
        row = (await db.execute(select(MfaTotp))).scalars().all()
    sealed = next(r.secret_sealed for r in row if str(r.user_id) == user.user_id)
    assert secret.encode() not in sealed
    assert base64.b32decode(secret) not in sealed


async def test_setup_again_before_enable_replaces_the_pending_secret(client):
    user = await signed_in_user(client)
    with controlled_clock() as clock:
        first = (await setup_totp(client, user))["secret"]
        second = (await setup_totp(client, user))["secret"]
        assert first != second
        stale = await client.post(
            "/v1/mfa/totp/enable", json={"code": clock.code(first)}, headers=user.headers
        )
        assert stale.status_code == 400
        assert stale.json()["code"] == "invalid_mfa_code"
        ok = await client.post(
            "/v1/mfa/totp/enable", json={"code": clock.code(second)}, headers=user.headers
        )
        assert ok.status_code == 200, ok.text
    codes = ok.json()["backup_codes"]
    assert len(codes) == 10 == len(set(codes))
    assert all(re.fullmatch(r"[2-9a-z]{5}-[2-9a-z]{5}", code) for code in codes)
    me = await client.get("/v1/users/me", headers=user.headers)
    assert me.json()["mfa_enabled"] is True


async def test_enable_needs_setup_and_a_valid_code_and_happens_once(client):
    user = await signed_in_user(client)
    response = await client.post(
        "/v1/mfa/totp/enable", json={"code": "123456"}, headers=user.headers
    )
    assert response.status_code == 400
    assert response.json()["code"] == "mfa_setup_required"

    with controlled_clock() as clock:
        secret = (await setup_totp(client, user))["secret"]
        for bad in ("000000", "abcdef", "12345", "1234567", "aaaaa-bbbbb"):
            response = await client.post(
                "/v1/mfa/totp/enable", json={"code": bad}, headers=user.headers
            )
            assert response.status_code == 400, bad
            assert response.json()["code"] == "invalid_mfa_code"
        ok = await client.post(
            "/v1/mfa/totp/enable", json={"code": clock.code(secret)}, headers=user.headers
        )
        assert ok.status_code == 200
        clock.advance()
        again = await client.post(
            "/v1/mfa/totp/enable", json={"code": clock.code(secret)}, headers=user.headers
        )
        # The confirmed device is no longer pending: enable needs a new setup (which would add
        # a second device; several are allowed, see test_factors.py).
        assert again.status_code == 400
        assert again.json()["code"] == "mfa_setup_required"

    audit = await client.get(
        "/v1/users/me/audit", params={"event_type": "mfa.*"}, headers=user.headers
    )
    types = [item["event_type"] for item in audit.json()["items"]]
    assert types.count("mfa.failed") == 5
    assert "mfa.enabled" in types


async def test_mfa_endpoints_require_an_access_token(client):
    for path, body in (
        ("/v1/mfa/totp/setup", None),
        ("/v1/mfa/totp/enable", {"code": "123456"}),
        ("/v1/mfa/totp/disable", {"password": "x"}),
        ("/v1/mfa/backup-codes/regenerate", {"code": "123456"}),
        ("/v1/auth/step-up", {"code": "123456"}),
    ):
        response = await client.post(path, json=body)
        assert response.status_code == 401, path


async def test_setup_enable_disable_and_enable_again(app, client):
    user = await signed_in_user(client)
    mail_dir = app.state.services.settings.mail_dir
    with controlled_clock() as clock:
        secret, backup = await enable_mfa(client, user, clock)
        await wait_for_mail(mail_dir, user.email, "mfa_enabled")

        wrong = await client.post(
            "/v1/mfa/totp/disable", json={"password": "Not-The-Password-1"}, headers=user.headers
        )
        assert wrong.status_code == 400
        assert wrong.json()["code"] == "invalid_password"
        both = await client.post(
            "/v1/mfa/totp/disable",
            json={"password": user.password, "code": clock.code(secret)},
            headers=user.headers,
        )
        assert both.status_code == 422
        off = await client.post(
            "/v1/mfa/totp/disable", json={"password": user.password}, headers=user.headers
        )
        assert off.status_code == 200, off.text
        await wait_for_mail(mail_dir, user.email, "mfa_disabled")
        assert (await client.get("/v1/users/me", headers=user.headers)).json()[
            "mfa_enabled"
        ] is False
        again = await client.post(
            "/v1/mfa/totp/disable", json={"password": user.password}, headers=user.headers
        )
        assert again.json()["code"] == "mfa_not_enabled"

        login = await client.post(
            "/v1/auth/login", json={"email": user.email, "password": user.password}
        )
        assert "access_token" in login.json()  # one step again

        # Re-enable: a new secret; the old secret's codes and old backup codes are dead.
        new_secret, new_backup = await enable_mfa(client, user, clock)
        assert new_secret != secret
        session_token = await password_step(client, user)
        old_code = await client.post(
            "/v1/auth/mfa/verify", json={"session_token": session_token, "code": backup[0]}
        )
        assert old_code.status_code == 401
        assert old_code.json()["code"] == "invalid_mfa_code"

        # Disable with a backup code this time.
        off = await client.post(
            "/v1/mfa/totp/disable", json={"code": new_backup[0]}, headers=user.headers
        )
        assert off.status_code == 200, off.text

    audit = await client.get(
        "/v1/users/me/audit", params={"event_type": "mfa.*"}, headers=user.headers
    )
    types = [item["event_type"] for item in audit.json()["items"]]
    assert types.count("mfa.enabled") == 2
    assert types.count("mfa.disabled") == 2
    async with app.state.services.sessionmaker() as db:
        events = (
            await db.execute(
                select(OutboxEvent.event_type).where(OutboxEvent.aggregate_id == user.user_id)
            )
        ).scalars()
        event_types = list(events)
        codes_left = (
            await db.execute(
                select(MfaBackupCode).where(MfaBackupCode.user_id == uuid.UUID(user.user_id))
            )
        ).all()
    assert event_types.count("mfa.enabled") == 2
    assert event_types.count("mfa.disabled") == 2
    assert codes_left == []


async def test_disable_with_a_totp_code_refuses_a_replayed_one(client):
    user = await signed_in_user(client)
    with controlled_clock() as clock:
        secret, _ = await enable_mfa(client, user, clock)
        code = clock.code(secret)
        step_up = await client.post("/v1/auth/step-up", json={"code": code}, headers=user.headers)
        assert step_up.status_code == 200
        replay = await client.post(
            "/v1/mfa/totp/disable", json={"code": code}, headers=user.headers
        )
        assert replay.status_code == 400
        assert replay.json()["code"] == "invalid_mfa_code"
        clock.advance()
        off = await client.post(
            "/v1/mfa/totp/disable", json={"code": clock.code(secret)}, headers=user.headers
        )
        assert off.status_code == 200


async def test_regenerating_backup_codes_invalidates_the_old_ones(client):
    user = await signed_in_user(client)
    with controlled_clock() as clock:
        secret, old_codes = await enable_mfa(client, user, clock)
        response = await client.post(
            "/v1/mfa/backup-codes/regenerate", json={"code": "000000"}, headers=user.headers
        )
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_mfa_code"
        response = await client.post(
            "/v1/mfa/backup-codes/regenerate",
            json={"code": clock.code(secret)},
            headers=user.headers,
        )
        assert response.status_code == 200, response.text
        new_codes = response.json()["backup_codes"]
        assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)

        session_token = await password_step(client, user)
        old = await client.post(
            "/v1/auth/mfa/verify", json={"session_token": session_token, "code": old_codes[1]}
        )
        assert old.status_code == 401
        await mfa_login(client, user, new_codes[1])

        # A backup code also proves the factor for regeneration.
        response = await client.post(
            "/v1/mfa/backup-codes/regenerate", json={"code": new_codes[2]}, headers=user.headers
        )
        assert response.status_code == 200


async def test_mfa_management_without_mfa_says_so(client):
    user = await signed_in_user(client)
    for path, body in (
        ("/v1/mfa/totp/disable", {"code": "123456"}),
        ("/v1/mfa/backup-codes/regenerate", {"code": "123456"}),
        ("/v1/auth/step-up", {"code": "123456"}),
    ):
        response = await client.post(path, json=body, headers=user.headers)
        assert response.status_code == 400, path
        assert response.json()["code"] == "mfa_not_enabled"


async def test_parallel_setups_leave_one_pending_secret(client):
    user = await signed_in_user(client)
    secrets: list[str] = []

    async def attempt() -> None:
        response = await client.post("/v1/mfa/totp/setup", headers=user.headers)
        assert response.status_code == 200, response.text
        secrets.append(response.json()["secret"])

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(attempt)
    assert len(set(secrets)) == 5
    with controlled_clock() as clock:
        enabled = []
        for secret in secrets:
            response = await client.post(
                "/v1/mfa/totp/enable", json={"code": clock.code(secret)}, headers=user.headers
            )
            enabled.append(response.status_code)
    assert enabled.count(200) == 1
