"""Password reset (docs/api.md §3, issue #3 §4): end to end through SMTP, on both back-ends."""

from __future__ import annotations

import datetime as dt
import statistics
import time

import anyio
import pytest
import time_machine

from tests.conftest import client_for, running_app
from tests.fixtures.users import STRONG_PASSWORD, login, register, signed_in_user, unique_email
from tests.mfa.helpers import controlled_clock, enable_mfa, mails_to, token_from, wait_for_mail
from tests.standins.smtp import extract_link, running_smtp_catcher

pytestmark = pytest.mark.anyio

NEW_PASSWORD = "Recovered-Pass-Phrase-31"
ACCEPTED = {
    "detail": "If an account exists for this address, we have sent it a link to reset the password."
}


async def request_reset(client, email: str):
    return await client.post("/v1/auth/password/reset-request", json={"email": email})


async def reset(client, token: str, password: str = NEW_PASSWORD):
    return await client.post(
        "/v1/auth/password/reset", json={"token": token, "new_password": password}
    )


async def reset_token(app, client, email: str, count: int = 1) -> str:
    """Ask for a reset and read the token from the mail written to MAIL_DIR."""
    response = await request_reset(client, email)
    assert response.status_code == 202
    mail_dir = app.state.services.settings.mail_dir
    messages = await wait_for_mail(mail_dir, email, "password_reset", count=count)
    return token_from(messages[-1], "/reset-password")


async def test_reset_end_to_end_through_an_smtp_server(backend_settings):
    with running_smtp_catcher() as smtp:
        settings = backend_settings(smtp_host=smtp.host, smtp_port=smtp.port)
        async with running_app(settings) as app, client_for(app) as client:
            user = await signed_in_user(client)
            old_access = user.access_token

            response = await request_reset(client, f"  {user.email.upper()} ")
            assert response.status_code == 202
            assert response.json() == ACCEPTED

            message = await smtp.wait_for(to=user.email, subject_contains="reset")
            link = extract_link(message, path="/reset-password")
            assert link.startswith("http://testserver/reset-password?token=qpr_")
            html = message.get_body(preferencelist=("html",))
            assert html is not None and "reset-password?token=" in html.get_content()
            token = token_from(message, "/reset-password")

            response = await reset(client, token)
            assert response.status_code == 200, response.text
            assert response.json()["sessions_revoked"] == 1

            # Every session is gone: the old refresh cookie and access token are refused.
            assert (await client.post("/v1/auth/refresh")).status_code == 401
            me = await client.get("/v1/users/me", headers={"Authorization": f"Bearer {old_access}"})
            assert me.status_code == 401

            old = await client.post(
                "/v1/auth/login", json={"email": user.email, "password": STRONG_PASSWORD}
            )
            assert old.status_code == 401
            user.password = NEW_PASSWORD
            await login(client, user)

            await smtp.wait_for(to=user.email, subject_contains="password was changed")
            audit = await client.get(
                "/v1/users/me/audit", params={"event_type": "password.reset"}, headers=user.headers
            )
            assert len(audit.json()["items"]) == 1

            reuse = await reset(client, token, "Another-Fresh-Pass-55")
            assert reuse.status_code == 400
            assert reuse.json()["code"] == "reset_token_invalid"


async def test_unknown_email_gets_the_same_answer_and_no_mail(app, client):
    user = await register(client)
    known = await request_reset(client, user.email)
    unknown_email = unique_email("nobody")
    unknown = await request_reset(client, unknown_email)
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json() == ACCEPTED
    assert known.headers.get("content-length") == unknown.headers.get("content-length")
    await wait_for_mail(app.state.services.settings.mail_dir, user.email, "password_reset")
    assert mails_to(app.state.services.settings.mail_dir, unknown_email) == []


async def test_known_and_unknown_emails_take_similar_time(client):
    user = await register(client)

    async def timed(email: str) -> float:
        started = time.perf_counter()
        assert (await request_reset(client, email)).status_code == 202
        return time.perf_counter() - started

    known = [await timed(user.email) for _ in range(3)]
    unknown = [await timed(unique_email("ghost")) for _ in range(3)]
    assert min(known + unknown) >= 0.25  # PASSWORD_RESET_MIN_RESPONSE_SECONDS
    assert abs(statistics.median(known) - statistics.median(unknown)) < 0.15


async def test_a_newer_request_invalidates_the_older_token(app, client):
    user = await register(client)
    first = await reset_token(app, client, user.email)
    second = await reset_token(app, client, user.email, count=2)
    assert first != second
    stale = await reset(client, first)
    assert stale.status_code == 400
    assert stale.json()["code"] == "reset_token_invalid"
    assert (await reset(client, second)).status_code == 200


async def test_the_token_expires_after_thirty_minutes(app, client):
    user = await register(client)
    token = await reset_token(app, client, user.email)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=31)
    with time_machine.travel(later, tick=True):
        response = await reset(client, token)
    assert response.status_code == 400
    assert response.json()["code"] == "reset_token_invalid"


async def test_a_password_change_invalidates_the_token(app, client):
    user = await signed_in_user(client)
    token = await reset_token(app, client, user.email)
    changed = await client.post(
        "/v1/auth/password/change",
        json={"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD},
        headers=user.headers,
    )
    assert changed.status_code == 200
    response = await reset(client, token, "Yet-Another-Pass-Phrase-9")
    assert response.status_code == 400
    assert response.json()["code"] == "reset_token_invalid"


async def test_a_weak_password_does_not_spend_the_token(app, client):
    user = await register(client)
    token = await reset_token(app, client, user.email)
    weak = await reset(client, token, "password")
    assert weak.status_code == 422
    assert weak.json()["code"] == "weak_password"
    assert weak.json()["errors"][0]["field"] == "new_password"
    assert (await reset(client, token)).status_code == 200


async def test_reset_leaves_mfa_on(app, client):
    user = await signed_in_user(client)
    with controlled_clock() as clock:
        await enable_mfa(client, user, clock)
        token = await reset_token(app, client, user.email)
        assert (await reset(client, token)).status_code == 200
    user.password = NEW_PASSWORD
    body = await login(client, user)
    assert body["status"] == "mfa_required"


@pytest.mark.parametrize(
    "token", ["", "qpr_", "qpr_" + "A" * 43, "qev_" + "A" * 43, "x" * 300, "' OR 1=1 --"]
)
async def test_malformed_or_unknown_tokens_are_4xx(client, token):
    response = await reset(client, token)
    # Empty or longer than any token: a malformed body; anything else: no such link.
    malformed = token in ("", "x" * 300)
    expected = (422, "validation_error") if malformed else (400, "reset_token_invalid")
    assert (response.status_code, response.json()["code"]) == expected


async def test_reset_request_validates_the_body(client):
    for body in (
        {},
        {"email": "not-an-email"},
        {"email": ["a@example.com"]},
        {"email": "a@b.c", "x": 1},
    ):
        response = await client.post("/v1/auth/password/reset-request", json=body)
        assert response.status_code == 422


@pytest.mark.parametrize(
    "settings_overrides",
    [{"rate_limit_password_reset": "2 per hour", "rate_limit_password_reset_ip": "1000 per hour"}],
)
async def test_requests_per_email_are_limited_silently(app, client, settings_overrides):
    user = await register(client)
    for _ in range(4):
        response = await request_reset(client, f" {user.email.upper()}")
        assert response.status_code == 202
        assert response.json() == ACCEPTED
    mail_dir = app.state.services.settings.mail_dir
    await wait_for_mail(mail_dir, user.email, "password_reset", count=2)
    await app.state.services.mail.drain(5)
    assert len(mails_to(mail_dir, user.email, "password_reset")) == 2


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_password_reset_ip": "3 per hour"}])
async def test_requests_per_ip_are_limited(client, settings_overrides):
    for _ in range(3):
        assert (await request_reset(client, unique_email())).status_code == 202
    response = await request_reset(client, unique_email())
    assert response.status_code == 429
    assert response.json()["code"] == "rate_limited"
    assert int(response.headers["retry-after"]) > 0


async def test_racing_requests_leave_exactly_one_usable_token(app, client):
    user = await register(client)

    async def ask() -> None:
        assert (await request_reset(client, user.email)).status_code == 202

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(ask)
    mail_dir = app.state.services.settings.mail_dir
    messages = await wait_for_mail(mail_dir, user.email, "password_reset", count=3)
    tokens = [token_from(message, "/reset-password") for message in messages]
    statuses = [(await reset(client, token)).status_code for token in tokens]
    assert sorted(statuses) == [200, 400, 400]


async def test_one_token_used_in_parallel_resets_once(app, client):
    user = await register(client)
    token = await reset_token(app, client, user.email)
    statuses: list[int] = []

    async def attempt(password: str) -> None:
        statuses.append((await reset(client, token, password)).status_code)

    async with anyio.create_task_group() as tg:
        for password in ("First-Racing-Pass-11", "Second-Racing-Pass-22", "Third-Racing-Pass-33"):
            tg.start_soon(attempt, password)
    assert sorted(statuses) == [200, 400, 400]


async def check(client, token: str):
    return await client.post("/v1/auth/password/reset/check", json={"token": token})


async def test_the_link_is_checked_without_being_spent(app, client):
    """The console asks before it shows the form; asking spends nothing."""
    user = await register(client)
    token = await reset_token(app, client, user.email)
    for _ in range(2):
        ok = await check(client, token)
        assert ok.status_code == 200, ok.text
        assert ok.json() == {"valid": True}
        assert ok.headers["cache-control"] == "no-store"
    assert (await reset(client, token)).status_code == 200
    used = await check(client, token)
    assert used.status_code == 400
    assert used.json()["code"] == "reset_token_invalid"
    assert used.json()["reason"] == "token_used"
    assert (await reset(client, token, "Yet-Another-Pass-Phrase-9")).json()["reason"] == (
        "token_used"
    )


async def test_the_check_says_replaced_or_expired(app, client):
    user = await register(client)
    first = await reset_token(app, client, user.email)
    second = await reset_token(app, client, user.email, count=2)
    replaced = await check(client, first)
    assert (replaced.status_code, replaced.json()["reason"]) == (400, "token_replaced")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=31)
    with time_machine.travel(later, tick=True):
        expired = await check(client, second)
    assert (expired.status_code, expired.json()["reason"]) == (400, "token_expired")


@pytest.mark.parametrize("token", ["", "qpr_" + "A" * 43, "qev_" + "A" * 43, "x" * 300])
async def test_the_check_of_a_malformed_or_unknown_token_is_4xx(client, token):
    response = await check(client, token)
    assert 400 <= response.status_code < 500
    body = response.json()
    assert body["code"] in {"reset_token_invalid", "validation_error"}
    if body["code"] == "reset_token_invalid":
        assert body["reason"] == "token_invalid"


async def test_the_check_takes_the_token_only_in_its_body(client):
    response = await client.post("/v1/auth/password/reset/check?token=qpr_" + "A" * 43, json={})
    assert response.status_code == 422
