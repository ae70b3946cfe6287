"""Two-step login and step-up with real TOTP codes (docs/api.md §3, §4, §5), on both back-ends."""

from __future__ import annotations

import anyio
import pytest

from tests.fixtures.users import signed_in_user
from tests.mfa.helpers import (
    STEP,
    controlled_clock,
    enable_mfa,
    jwt_claims,
    mfa_login,
    password_step,
)

pytestmark = pytest.mark.anyio


async def verify(client, session_token: str, code: str):
    return await client.post(
        "/v1/auth/mfa/verify", json={"session_token": session_token, "code": code}
    )


async def test_full_two_step_login(client, new_client):
    async with new_client() as browser:
        user = await signed_in_user(browser)
        with controlled_clock() as clock:
            secret, _ = await enable_mfa(browser, user, clock)

            login = await client.post(
                "/v1/auth/login",
                json={"email": user.email, "password": user.password, "persist_session": True},
            )
            assert login.status_code == 200
            body = login.json()
            assert body["status"] == "mfa_required"
            assert body["methods"] == ["totp", "backup_code"]
            assert body["session_token"].startswith("qms_")
            assert "set-cookie" not in login.headers
            assert "access_token" not in body

            response = await verify(client, body["session_token"], clock.code(secret))
            assert response.status_code == 200, response.text
            assert response.headers["cache-control"] == "no-store"
            assert "refresh_token=" in response.headers["set-cookie"]
            tokens = response.json()
            assert tokens["token_type"] == "bearer"
            assert tokens["user"]["mfa_enabled"] is True
            claims = jwt_claims(tokens["access_token"])
            assert claims["mfa"] is True
            assert claims["mfa_at"] is not None
            assert abs(claims["mfa_at"] - claims["auth_time"]) <= 1

            headers = {"Authorization": f"Bearer {tokens['access_token']}"}
            me = await client.get("/v1/users/me", headers=headers)
            assert me.status_code == 200
            sessions = (await client.get("/v1/auth/sessions", headers=headers)).json()["sessions"]
            current = next(s for s in sessions if s["current"])
            assert current["mfa"] is True
            refreshed = await client.post("/v1/auth/refresh")
            assert refreshed.status_code == 200
            assert jwt_claims(refreshed.json()["access_token"])["mfa"] is True

            audit = await client.get(
                "/v1/users/me/audit", params={"event_type": "login.success"}, headers=headers
            )
            newest = audit.json()["items"][0]
            assert newest["details"]["amr"] == ["pwd", "otp"]
            assert newest["details"]["mfa_method"] == "totp"


async def test_session_token_is_never_a_bearer_token(client):
    user = await signed_in_user(client)
    with controlled_clock() as clock:
        await enable_mfa(client, user, clock)
        session_token = await password_step(client, user)
    for path in ("/v1/users/me", "/v1/auth/sessions"):
        response = await client.get(path, headers={"Authorization": f"Bearer {session_token}"})
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_token"
    response = await client.post(
        "/v1/auth/step-up",
        json={"code": "123456"},
        headers={"Authorization": f"Bearer {session_token}"},
    )
    assert response.status_code == 401


async def test_a_totp_code_is_accepted_once(client):
    user = await signed_in_user(client)
    with controlled_clock() as clock:
        secret, _ = await enable_mfa(client, user, clock)
        code = clock.code(secret)
        await mfa_login(client, user, code)
        replay = await verify(client, await password_step(client, user), code)
        assert replay.status_code == 401
        assert replay.json()["code"] == "invalid_mfa_code"
        # Nor is an older code once a newer step was accepted.
        clock.advance()
        await mfa_login(client, user, clock.code(secret))
        older = await verify(client, await password_step(client, user), clock.code(secret, -1))
        assert older.status_code == 401


async def test_codes_one_step_either_side_are_accepted_two_are_not(client):
    user = await signed_in_user(client)
    with controlled_clock() as clock:
        secret, _ = await enable_mfa(client, user, clock)
        clock.advance(3 * STEP)
        for offset in (-2, 2):
            response = await verify(
                client, await password_step(client, user), clock.code(secret, offset)
            )
            assert response.status_code == 401, offset
        previous = await verify(client, await password_step(client, user), clock.code(secret, -1))
        assert previous.status_code == 200, "a code from the previous step (clock drift)"
        following = await verify(client, await password_step(client, user), clock.code(secret, 1))
        assert following.status_code == 200, "a code from the next step (clock drift)"
        # The next step is now spent: the current code (an older step) is refused.
        current = await verify(client, await password_step(client, user), clock.code(secret))
        assert current.status_code == 401


async def test_a_backup_code_works_once_in_any_typed_form(client):
    user = await signed_in_user(client)
    with controlled_clock() as clock:
        _, backup = await enable_mfa(client, user, clock)
    body = await mfa_login(client, user, f"  {backup[0].upper()} ")
    assert jwt_claims(body["access_token"])["mfa"] is True
    reuse = await verify(client, await password_step(client, user), backup[0])
    assert reuse.status_code == 401
    assert reuse.json()["code"] == "invalid_mfa_code"
    await mfa_login(client, user, backup[1].replace("-", ""))


async def test_five_wrong_codes_kill_the_session_token(client):
    user = await signed_in_user(client)
    with controlled_clock() as clock:
        secret, _ = await enable_mfa(client, user, clock)
        session_token = await password_step(client, user)
        for remaining in (4, 3, 2, 1, 0):
            response = await verify(client, session_token, "000000")
            assert response.status_code == 401
            assert response.json() == {
                "detail": response.json()["detail"],
                "code": "invalid_mfa_code",
                "attempts_remaining": remaining,
            }
        dead = await verify(client, session_token, clock.code(secret))
        assert dead.status_code == 401
        assert dead.json()["code"] == "mfa_session_invalid"
        # The code was not spent on the dead token: a new login can use it.
        await mfa_login(client, user, clock.code(secret))


async def test_session_token_is_single_use_and_expires(client):
    user = await signed_in_user(client)
    with controlled_clock() as clock:
        secret, _ = await enable_mfa(client, user, clock)
        session_token = await password_step(client, user)
        assert (await verify(client, session_token, clock.code(secret))).status_code == 200
        clock.advance()
        again = await verify(client, session_token, clock.code(secret))
        assert again.status_code == 401
        assert again.json()["code"] == "mfa_session_invalid"

        stale = await password_step(client, user)
        clock.advance(601)
        expired = await verify(client, stale, clock.code(secret))
        assert expired.status_code == 401
        assert expired.json()["code"] == "mfa_session_expired"


@pytest.mark.parametrize(
    "session_token",
    ["", "qms_", "qms_" + "x" * 40, "qrt_" + "x" * 40, "eyJhbGciOi.x.y", "x" * 300, "' OR 1=1 --"],
)
async def test_malformed_session_tokens_are_4xx(client, session_token):
    response = await verify(client, session_token, "123456")
    # Empty or longer than any token: a malformed body; anything else: no such challenge.
    malformed = session_token in ("", "x" * 300)
    expected = (422, "validation_error") if malformed else (401, "mfa_session_invalid")
    assert (response.status_code, response.json()["code"]) == expected


async def test_malformed_codes_are_4xx_never_5xx(client):
    user = await signed_in_user(client)
    with controlled_clock() as clock:
        await enable_mfa(client, user, clock)
        session_token = await password_step(client, user)
        for code in ("", "x" * 65, 123456, None, ["123456"]):
            response = await verify(client, session_token, code)
            assert response.status_code == 422, code
        for code in ("12 34 5x", "١٢٣٤٥٦", "zzzzz-zzzzz", "'; DROP TABLE mfa_totp;--"):
            response = await verify(client, session_token, code)
            assert response.status_code == 401, code
            assert response.json()["code"] == "invalid_mfa_code"


async def test_two_parallel_verifications_of_one_code_give_one_success(client):
    user = await signed_in_user(client)
    with controlled_clock() as clock:
        secret, _ = await enable_mfa(client, user, clock)
        tokens = [await password_step(client, user) for _ in range(4)]
        code = clock.code(secret)
        statuses: list[int] = []

        async def attempt(session_token: str) -> None:
            statuses.append((await verify(client, session_token, code)).status_code)

        async with anyio.create_task_group() as tg:
            for session_token in tokens:
                tg.start_soon(attempt, session_token)
    assert sorted(statuses) == [200, 401, 401, 401]


async def test_parallel_use_of_one_backup_code_gives_one_success(client):
    user = await signed_in_user(client)
    with controlled_clock() as clock:
        _, backup = await enable_mfa(client, user, clock)
    tokens = [await password_step(client, user) for _ in range(3)]
    statuses: list[int] = []

    async def attempt(session_token: str) -> None:
        statuses.append((await verify(client, session_token, backup[3])).status_code)

    async with anyio.create_task_group() as tg:
        for session_token in tokens:
            tg.start_soon(attempt, session_token)
    assert sorted(statuses) == [200, 401, 401]


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_mfa_verify": "3 per minute"}])
async def test_verification_is_rate_limited_per_user(client, settings_overrides):
    user = await signed_in_user(client)
    with controlled_clock() as clock:
        secret, _ = await enable_mfa(client, user, clock)  # a right code gives its attempt back
        first = await password_step(client, user)
        for _ in range(3):
            assert (await verify(client, first, "000000")).status_code == 401
        second = await password_step(client, user)
        limited = await verify(client, second, clock.code(secret))
        assert limited.status_code == 429
        assert limited.json()["code"] == "rate_limited"
        assert int(limited.headers["retry-after"]) > 0


async def test_a_suspended_or_mfa_less_account_cannot_finish_the_second_step(client):
    user = await signed_in_user(client)
    with controlled_clock() as clock:
        secret, _ = await enable_mfa(client, user, clock)
        session_token = await password_step(client, user)
        off = await client.post(
            "/v1/mfa/totp/disable", json={"password": user.password}, headers=user.headers
        )
        assert off.status_code == 200
        response = await verify(client, session_token, clock.code(secret))
        assert response.status_code == 401
        assert response.json()["code"] == "mfa_session_invalid"


async def test_step_up_moves_mfa_at_in_a_new_access_token(client):
    user = await signed_in_user(client)
    with controlled_clock() as clock:
        secret, backup = await enable_mfa(client, user, clock)
        first = jwt_claims((await mfa_login(client, user, clock.code(secret)))["access_token"])
        clock.advance(90)

        wrong = await client.post("/v1/auth/step-up", json={"code": "000000"}, headers=user.headers)
        assert wrong.status_code == 400
        assert wrong.json()["code"] == "invalid_mfa_code"

        response = await client.post(
            "/v1/auth/step-up", json={"code": clock.code(secret)}, headers=user.headers
        )
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        assert set(body) == {"access_token", "token_type", "expires_in"}
        claims = jwt_claims(body["access_token"])
        assert claims["sid"] == first["sid"]
        assert claims["auth_time"] == first["auth_time"]
        assert claims["mfa"] is True
        assert claims["mfa_at"] >= first["mfa_at"] + 90
        assert abs(claims["mfa_at"] - claims["iat"]) <= 1

        headers = {"Authorization": f"Bearer {body['access_token']}"}
        assert (await client.get("/v1/users/me", headers=headers)).status_code == 200

        clock.advance(60)
        with_backup = await client.post(
            "/v1/auth/step-up", json={"code": backup[0]}, headers=headers
        )
        assert with_backup.status_code == 200
        assert jwt_claims(with_backup.json()["access_token"])["mfa_at"] >= claims["mfa_at"] + 60


async def test_step_up_marks_a_password_only_session_as_mfa_verified(client):
    user = await signed_in_user(client)
    with controlled_clock() as clock:
        secret, _ = await enable_mfa(client, user, clock)
        # The session that enabled MFA signed in with the password alone.
        assert jwt_claims(user.access_token)["mfa"] is False
        response = await client.post(
            "/v1/auth/step-up", json={"code": clock.code(secret)}, headers=user.headers
        )
        assert response.status_code == 200
        claims = jwt_claims(response.json()["access_token"])
        assert claims["mfa"] is True and claims["mfa_at"] is not None


async def test_one_session_token_used_in_parallel_signs_in_once(client):
    user = await signed_in_user(client)
    with controlled_clock() as clock:
        secret, backup = await enable_mfa(client, user, clock)
        session_token = await password_step(client, user)
        codes = [clock.code(secret), clock.code(secret, 1), backup[0], backup[1]]
        statuses: list[int] = []

        async def attempt(code: str) -> None:
            statuses.append((await verify(client, session_token, code)).status_code)

        async with anyio.create_task_group() as tg:
            for code in codes:
                tg.start_soon(attempt, code)
    assert sorted(statuses) == [200, 401, 401, 401]
    sessions = (await client.get("/v1/auth/sessions", headers=user.headers)).json()["sessions"]
    assert sum(1 for s in sessions if s["mfa"]) == 1


async def test_a_backup_code_sign_in_says_how_many_codes_are_left(client, new_client):
    async with new_client() as browser:
        user = await signed_in_user(browser)
        with controlled_clock() as clock:
            secret, backup = await enable_mfa(browser, user, clock)
            by_totp = await mfa_login(browser, user, clock.code(secret))
            assert by_totp["backup_codes_remaining"] is None
            first = await mfa_login(browser, user, backup[0])
            assert first["backup_codes_remaining"] == len(backup) - 1
            second = await mfa_login(browser, user, backup[1])
            assert second["backup_codes_remaining"] == len(backup) - 2
            assert {"access_token", "token_type", "expires_in", "user"} <= second.keys()
