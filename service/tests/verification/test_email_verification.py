"""Email verification (docs/api.md §3, issue #3 §5), on both back-ends."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from tests.conftest import client_for, running_app
from tests.fixtures.users import login, register, signed_in_user, unique_email
from tests.mfa.helpers import jwt_claims, token_from, wait_for_mail
from tests.standins.smtp import extract_link, running_smtp_catcher

pytestmark = pytest.mark.anyio

KIND = "email_verification"


async def verify(client, token: str):
    return await client.post("/v1/auth/email/verify", json={"token": token})


async def link_token(app, email: str, count: int = 1) -> str:
    messages = await wait_for_mail(app.state.services.settings.mail_dir, email, KIND, count=count)
    return token_from(messages[-1], "/verify-email")


async def test_registration_mails_a_link_that_verifies_the_address(backend_settings):
    with running_smtp_catcher() as smtp:
        settings = backend_settings(smtp_host=smtp.host, smtp_port=smtp.port)
        async with running_app(settings) as app, client_for(app) as client:
            email = unique_email("verify")
            user = await register(client, email=email)
            await login(client, user)
            assert jwt_claims(user.access_token)["email_verified"] is False
            me = await client.get("/v1/users/me", headers=user.headers)
            assert me.json()["email_verified"] is False

            message = await smtp.wait_for(to=email, subject_contains="confirm your email")
            link = extract_link(message, path="/verify-email")
            assert link.startswith("http://testserver/verify-email?token=qev_")
            token = token_from(message, "/verify-email")

            response = await verify(client, token)
            assert response.status_code == 200, response.text
            assert response.json() == {"email": email, "email_verified": True}

            me = await client.get("/v1/users/me", headers=user.headers)
            assert me.json()["email_verified"] is True
            await login(client, user)
            assert jwt_claims(user.access_token)["email_verified"] is True
            refreshed = await client.post("/v1/auth/refresh")
            assert jwt_claims(refreshed.json()["access_token"])["email_verified"] is True

            reuse = await verify(client, token)
            assert reuse.status_code == 400
            assert reuse.json()["code"] == "verification_token_invalid"


async def test_resend_issues_a_new_link_and_retires_the_old_one(app, client):
    user = await signed_in_user(client)
    first = await link_token(app, user.email)
    response = await client.post("/v1/auth/email/resend", headers=user.headers)
    assert response.status_code == 202
    second = await link_token(app, user.email, count=2)
    assert first != second
    stale = await verify(client, first)
    assert stale.status_code == 400
    assert stale.json()["code"] == "verification_token_invalid"
    assert (await verify(client, second)).status_code == 200

    again = await client.post("/v1/auth/email/resend", headers=user.headers)
    assert again.status_code == 409
    assert again.json()["code"] == "email_already_verified"
    audit = await client.get(
        "/v1/users/me/audit", params={"event_type": "email.*"}, headers=user.headers
    )
    assert {item["event_type"] for item in audit.json()["items"]} == {
        "email.verification_sent",
        "email.verified",
    }


async def test_resend_needs_an_access_token(client):
    response = await client.post("/v1/auth/email/resend")
    assert response.status_code == 401


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_email_resend": "2 per hour"}])
async def test_resend_is_rate_limited(client, settings_overrides):
    user = await signed_in_user(client)
    for _ in range(2):
        assert (await client.post("/v1/auth/email/resend", headers=user.headers)).status_code == 202
    response = await client.post("/v1/auth/email/resend", headers=user.headers)
    assert response.status_code == 429
    assert response.json()["code"] == "rate_limited"
    assert int(response.headers["retry-after"]) > 0


async def test_the_link_expires_after_a_day(app, client):
    user = await register(client)
    token = await link_token(app, user.email)
    with time_machine.travel(
        dt.datetime.now(dt.UTC) + dt.timedelta(hours=24, minutes=1), tick=True
    ):
        response = await verify(client, token)
    assert response.status_code == 400
    assert response.json()["code"] == "verification_token_invalid"


@pytest.mark.parametrize(
    "token", ["", "qev_", "qev_" + "A" * 43, "qpr_" + "A" * 43, "x" * 300, "' OR 1=1 --"]
)
async def test_malformed_or_unknown_tokens_are_4xx(client, token):
    response = await verify(client, token)
    # Empty or longer than any token: a malformed body; anything else: no such link.
    malformed = token in ("", "x" * 300)
    expected = (422, "validation_error") if malformed else (400, "verification_token_invalid")
    assert (response.status_code, response.json()["code"]) == expected


async def test_verify_needs_no_session_and_accepts_only_its_body(app, client, new_client):
    user = await register(client)
    token = await link_token(app, user.email)
    async with new_client() as other_browser:
        extra = await other_browser.post("/v1/auth/email/verify", json={"token": token, "x": 1})
        assert extra.status_code == 422
        response = await verify(other_browser, token)
        assert response.status_code == 200


async def test_a_dead_link_says_why(app, client):
    """The console checks the link on load: replaced, already verified, expired."""
    user = await signed_in_user(client)
    first = await link_token(app, user.email)
    assert (await client.post("/v1/auth/email/resend", headers=user.headers)).status_code == 202
    second = await link_token(app, user.email, count=2)

    replaced = await verify(client, first)
    assert replaced.status_code == 400
    assert replaced.json()["code"] == "verification_token_invalid"
    assert replaced.json()["reason"] == "token_replaced"

    with time_machine.travel(
        dt.datetime.now(dt.UTC) + dt.timedelta(hours=24, minutes=1), tick=True
    ):
        expired = await verify(client, second)
    assert expired.json()["reason"] == "token_expired"

    assert (await client.post("/v1/auth/email/resend", headers=user.headers)).status_code == 202
    third = await link_token(app, user.email, count=3)
    assert (await verify(client, third)).status_code == 200
    for token in (first, second, third):
        again = await verify(client, token)
        assert again.status_code == 400
        assert again.json()["reason"] == "email_already_verified", token


async def test_an_unknown_link_has_the_generic_reason(client):
    response = await verify(client, "qev_" + "A" * 43)
    assert response.status_code == 400
    assert response.json()["reason"] == "token_invalid"
