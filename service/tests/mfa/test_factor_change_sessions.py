"""Review item 10: a changed second factor signs out every *other* session (ASVS V7.1), says
so in the response and in the e-mail, and leaves the caller's own session alive."""

import pytest

from tests.fixtures.users import STRONG_PASSWORD, signed_in_user
from tests.mfa.helpers import controlled_clock, enable_mfa, mfa_login, wait_for_mail

pytestmark = pytest.mark.anyio


async def _other_device(new_client, user, code: str | None = None) -> str:
    async with new_client() as other:
        response = await other.post(
            "/v1/auth/login", json={"email": user.email, "password": STRONG_PASSWORD}
        )
        body = response.json()
        if code is not None:
            body = (
                await other.post(
                    "/v1/auth/mfa/verify",
                    json={"session_token": body["session_token"], "code": code},
                )
            ).json()
        return body["access_token"]


async def _status(client, token: str) -> int:
    response = await client.get("/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    return response.status_code


async def test_enabling_totp_signs_out_the_other_sessions(client, new_client, app):
    user = await signed_in_user(client)
    attacker = await _other_device(new_client, user)  # e.g. opened with a stolen password
    with controlled_clock() as clock:
        secret = (await client.post("/v1/mfa/totp/setup", headers=user.headers)).json()["secret"]
        enabled = await client.post(
            "/v1/mfa/totp/enable", json={"code": clock.code(secret)}, headers=user.headers
        )
    assert enabled.status_code == 200
    assert enabled.json()["other_sessions_revoked"] == 1
    assert await _status(client, attacker) == 401
    assert await _status(client, user.access_token) == 200  # the caller's own session stays
    mail_dir = app.state.services.settings.mail_dir
    (notice,) = await wait_for_mail(mail_dir, user.email, "mfa_enabled")
    assert "other device (1)" in notice.get_body(("plain",)).get_content()


async def test_disabling_totp_and_new_backup_codes_sign_out_the_other_sessions(
    client, new_client, app
):
    user = await signed_in_user(client)
    with controlled_clock() as clock:
        secret, _ = await enable_mfa(client, user, clock)
        other = await _other_device(new_client, user, clock.code(secret))
        clock.advance()
        regenerated = await client.post(
            "/v1/mfa/backup-codes/regenerate",
            json={"code": clock.code(secret)},
            headers=user.headers,
        )
        assert regenerated.json()["other_sessions_revoked"] == 1
        assert await _status(client, other) == 401
        clock.advance()
        other = await _other_device(new_client, user, clock.code(secret))
        clock.advance()
        disabled = await client.post(
            "/v1/mfa/totp/disable", json={"password": STRONG_PASSWORD}, headers=user.headers
        )
        assert disabled.status_code == 200
        assert disabled.json() == {"mfa_enabled": False, "other_sessions_revoked": 1}
        assert await _status(client, other) == 401
        assert await _status(client, user.access_token) == 200
    mail_dir = app.state.services.settings.mail_dir
    await wait_for_mail(mail_dir, user.email, "backup_codes_regenerated")
    await wait_for_mail(mail_dir, user.email, "mfa_disabled")


async def test_a_session_signed_in_with_mfa_after_the_change_is_kept(client, new_client):
    user = await signed_in_user(client)
    with controlled_clock() as clock:
        secret, _ = await enable_mfa(client, user, clock)
        body = await mfa_login(client, user, clock.code(secret))
        assert await _status(client, body["access_token"]) == 200
