"""POST /v1/auth/password/change (docs/api.md §3), on both back-ends."""

from __future__ import annotations

import pytest

from tests.fixtures.users import STRONG_PASSWORD, login, signed_in_user
from tests.mfa.helpers import wait_for_mail

pytestmark = pytest.mark.anyio

NEW_PASSWORD = "Brand-New-Pass-Phrase-77"


async def change(client, user, current: str, new: str):
    return await client.post(
        "/v1/auth/password/change",
        json={"current_password": current, "new_password": new},
        headers=user.headers,
    )


async def test_change_keeps_this_session_and_revokes_every_other(app, client, new_client):
    user = await signed_in_user(client)
    async with new_client() as laptop, new_client() as phone:
        await login(laptop, user)
        laptop_access = user.access_token
        await login(phone, user)
        phone_access = user.access_token
        await login(client, user)  # the session that changes the password

        response = await change(client, user, STRONG_PASSWORD, NEW_PASSWORD)
        assert response.status_code == 200, response.text
        assert response.json()["sessions_revoked"] == 3  # laptop, phone, the first session

        for other, access in ((laptop, laptop_access), (phone, phone_access)):
            refresh = await other.post("/v1/auth/refresh")
            assert refresh.status_code == 401
            me = await other.get("/v1/users/me", headers={"Authorization": f"Bearer {access}"})
            assert me.status_code == 401
            assert me.json()["code"] == "session_revoked"

    assert (await client.get("/v1/users/me", headers=user.headers)).status_code == 200
    assert (await client.post("/v1/auth/refresh")).status_code == 200

    old = await client.post(
        "/v1/auth/login", json={"email": user.email, "password": STRONG_PASSWORD}
    )
    assert old.status_code == 401
    user.password = NEW_PASSWORD
    await login(client, user)

    notice = await wait_for_mail(
        app.state.services.settings.mail_dir, user.email, "password_changed"
    )
    assert "password" in str(notice[0]["Subject"]).lower()
    audit = await client.get(
        "/v1/users/me/audit", params={"event_type": "password.changed"}, headers=user.headers
    )
    assert audit.json()["items"][0]["details"]["sessions_revoked"] == 3


async def test_wrong_current_password_is_refused_and_changes_nothing(client):
    user = await signed_in_user(client)
    response = await change(client, user, "Wrong-Current-Pass-1", NEW_PASSWORD)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_password"
    await login(client, user)  # the old password still works


@pytest.mark.parametrize(
    ("new", "violation"),
    [
        ("short-1A", "too_short"),
        ("Password123!", "too_guessable"),
        (STRONG_PASSWORD, "same_as_current"),
    ],
)
async def test_the_new_password_must_pass_the_policy(client, new, violation):
    user = await signed_in_user(client)
    response = await change(client, user, STRONG_PASSWORD, new)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "weak_password"
    assert violation in {error["code"] for error in body["errors"]}
    assert all(error["field"] == "new_password" for error in body["errors"])


async def test_change_needs_an_access_token_and_a_valid_body(client):
    response = await client.post(
        "/v1/auth/password/change",
        json={"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert response.status_code == 401
    user = await signed_in_user(client)
    for body in (
        {},
        {"current_password": STRONG_PASSWORD},
        {"new_password": 5, "current_password": "x"},
    ):
        response = await client.post("/v1/auth/password/change", json=body, headers=user.headers)
        assert response.status_code == 422


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_login_account": "3 per 15 minutes"}])
async def test_guessing_the_current_password_is_rate_limited(client, settings_overrides):
    user = await signed_in_user(client)
    for _ in range(3):
        assert (await change(client, user, "Wrong-Current-Pass-1", NEW_PASSWORD)).status_code == 400
    response = await change(client, user, STRONG_PASSWORD, NEW_PASSWORD)
    assert response.status_code == 429
    assert response.json()["code"] == "rate_limited"
