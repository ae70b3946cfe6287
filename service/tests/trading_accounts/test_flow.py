"""The whole life of a linked Kite account through the API, and no secret anywhere."""

import io
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import structlog

from tests.trading_accounts.helpers import (
    account_row,
    audit_rows,
    kite_browser_login,
    link,
    outbox_rows,
    service_headers,
    settings_overrides,  # noqa: F401 - the Kite stand-in for the app
    stored_text_mentioning,
    verified_user,
)
from user_service.trading_accounts.brokers.kite import IST

pytestmark = pytest.mark.anyio


async def test_link_login_verify_share_release_rotate_unlink(app, client, new_client, kite_state):
    log_lines = io.StringIO()  # the app's processors (masking included), into a buffer
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(log_lines))
    kite_app = kite_state.register_app()
    responses = []

    def seen(response):
        responses.append(response.text)
        return response

    owner = await verified_user(app, client)
    account = await link(client, owner, kite_app)
    account_id = account["account_id"]
    base = f"/v1/trading-accounts/{account_id}"
    assert account["status"] == "pending_verification"

    # Kite login: our URL → Kite's page → redirect back with the account id and a request token.
    url = seen(await client.get(f"{base}/kite/login-url", headers=owner.headers))
    assert url.status_code == 200
    login_url = url.json()["login_url"]
    query = parse_qs(urlsplit(login_url).query)
    assert query["api_key"] == [kite_app.api_key] and query["v"] == ["3"]
    assert query["redirect_params"] == [f"account_id={account_id}"]
    assert url.headers["cache-control"] == "no-store"
    redirect = await kite_browser_login(login_url)
    assert redirect["status"] == "success" and redirect["account_id"] == account_id

    session = seen(
        await client.post(
            f"{base}/kite/session",
            json={"request_token": redirect["request_token"]},
            headers=owner.headers,
        )
    )
    assert session.status_code == 200, session.text
    activated = session.json()
    assert activated["status"] == "active" and activated["verified_at"]
    expires_at = datetime.fromisoformat(activated["access_token_expires_at"])
    assert expires_at > datetime.now(UTC)
    assert expires_at.astimezone(IST).hour == 6 and expires_at.astimezone(IST).minute == 0
    [access_token] = [
        token
        for token, record in kite_state.access_tokens.items()
        if record.api_key == kite_app.api_key
    ]

    verified = seen(await client.post(f"{base}/verify", headers=owner.headers))
    assert verified.status_code == 200
    assert verified.json()["status"] == "active" and verified.json()["reason"] is None
    assert kite_state.api_calls("/user/profile") >= 1

    # Share with a trader who may trade; the ticker service fetches the credentials for them.
    async with new_client() as member_browser:
        member = await verified_user(app, member_browser)
        shared = seen(
            await client.post(
                f"{base}/members",
                json={"email": member.email, "permissions": ["trade"]},
                headers=owner.headers,
            )
        )
        assert shared.status_code == 201
        listed = seen(await member_browser.get("/v1/trading-accounts", headers=member.headers))
        assert listed.json()["items"][0]["status"] == "active"

    ticker = await service_headers(app, ["credentials:read"])
    released = await client.post(
        f"/v1/internal/trading-accounts/{account_id}/credentials",
        json={"on_behalf_of": member.user_id},
        headers=ticker,
    )
    assert released.status_code == 200, released.text
    assert released.json()["api_key"] == kite_app.api_key
    assert released.json()["api_secret"] == kite_app.api_secret
    assert released.json()["access_token"] == access_token

    # Rotate: new secret sealed, back to pending, nothing released until verified again.
    new_secret = "rotated" + kite_app.api_secret[::-1]
    rotated = seen(
        await client.put(
            f"{base}/credentials",
            json={"api_key": kite_app.api_key, "api_secret": new_secret},
            headers=owner.headers,
        )
    )
    assert rotated.status_code == 200
    assert rotated.json()["status"] == "pending_verification"
    assert rotated.json()["access_token_expires_at"] is None
    refused = seen(
        await client.post(f"/v1/internal/trading-accounts/{account_id}/credentials", headers=ticker)
    )
    assert refused.status_code == 409 and refused.json()["code"] == "account_not_active"

    # Unlink: row, credentials and memberships gone.
    unlinked = await client.delete(base, headers=owner.headers)
    assert unlinked.status_code == 204
    assert await account_row(app, account_id) is None
    assert (await client.get(base, headers=owner.headers)).status_code == 404
    after = seen(
        await client.post(f"/v1/internal/trading-accounts/{account_id}/credentials", headers=ticker)
    )
    assert after.status_code == 404

    # Every step audited and announced.
    types = [event.event_type for event in await outbox_rows(app, account_id)]
    assert types == [
        "trading_account.linked",
        "trading_account.verified",
        "trading_account.verified",
        "trading_account.member_added",
        "trading_account.credentials_rotated",
        "trading_account.unlinked",
    ]
    for event_type in set(types):
        assert await audit_rows(app, event_type, account_id), event_type
    [unlinked_audit] = await audit_rows(app, "trading_account.unlinked", account_id)
    assert unlinked_audit.details["member_user_ids"] == [member.user_id]
    # A release on behalf of a delegate is in the owner's trail and the delegate's.
    owner_trail, member_trail = await audit_rows(app, "credentials.released", account_id)
    assert owner_trail.details["on_behalf_of"] == member.user_id
    assert str(owner_trail.user_id) == owner.user_id
    assert str(member_trail.user_id) == member.user_id
    assert member_trail.details["owner_user_id"] == owner.user_id

    # No secret in any user-facing response, audit row, event or log line.
    secrets = [kite_app.api_secret, new_secret, access_token]
    for text in responses:
        for secret in secrets:
            assert secret not in text
    assert await stored_text_mentioning(app, secrets) == []
    logs = log_lines.getvalue()
    assert "kite.response" in logs and "trading_account.released" in logs
    for secret in secrets:
        assert secret not in logs
