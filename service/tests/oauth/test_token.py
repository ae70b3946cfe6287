"""POST /v1/oauth/token: RFC 6749 §4.4 client credentials, §2.3.1 client auth, §5 responses."""

import base64
import uuid

import pytest

from tests.oauth.support import ServiceCaller, create_client, request_token, rotate_secret

pytestmark = pytest.mark.anyio

ALERT_SCOPES = [
    "alerts:create",
    "alerts:read",
    "alerts:update",
    "alerts:delete",
    "authz:check",
    "events:read",
]


def _assert_oauth_error(response, status: int, error: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error
    assert body["code"] == error or status == 429
    assert body["error_description"] == body["detail"] and body["detail"]
    assert response.headers["cache-control"] == "no-store"
    return body


async def test_basic_auth_grants_a_service_token_with_all_granted_scopes(client, app):
    service = ServiceCaller("alert_service", await rotate_secret(app, "alert_service"))
    response = await request_token(client, service)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}  # no refresh token
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert body["scope"].split() == ALERT_SCOPES
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    claims = await app.state.services.tokens.decode(body["access_token"], expected="service")
    assert claims["sub"] == claims["client_id"] == "alert_service"
    assert claims["scope"] == body["scope"]
    assert claims["exp"] - claims["iat"] == 3600


async def test_form_credentials_and_a_subset_of_scopes(client, app):
    secret = await rotate_secret(app, "ticker_service")
    response = await client.post(
        "/v1/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "ticker_service",
            "client_secret": secret,
            "scope": "quotes:subscribe",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "quotes:subscribe"


async def test_basic_credentials_are_form_encoded_before_base64(client, app):
    """RFC 6749 §2.3.1: the id and the secret are application/x-www-form-urlencoded first."""
    client_id = f"svc.{uuid.uuid4().hex[:8]}"
    secret = await create_client(app, client_id, ["profile:read"])
    raw = f"{client_id.replace('.', '%2E')}:{secret}".encode()
    response = await client.post(
        "/v1/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic " + base64.b64encode(raw).decode()},
    )
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "profile:read"


async def test_a_scope_not_granted_is_invalid_scope(client, app):
    service = ServiceCaller("alert_service", await rotate_secret(app, "alert_service"))
    for scope in ("credentials:read", "alerts:read credentials:read", "alerts:*", "a\\b"):
        _assert_oauth_error(await request_token(client, service, scope), 400, "invalid_scope")


@pytest.mark.parametrize("case", ["wrong_secret", "unknown_client", "no_secret_yet", "garbage"])
async def test_bad_client_credentials_are_401_invalid_client(client, app, case):
    secret = await rotate_secret(app, "backend")
    headers = {
        "wrong_secret": ServiceCaller("backend", secret + "x").basic,
        "unknown_client": ServiceCaller("nobody_here", secret).basic,
        "no_secret_yet": ServiceCaller(f"fresh_{uuid.uuid4().hex[:6]}", "qcs_" + "A" * 43).basic,
        "garbage": {"Authorization": "Basic !!!not-base64"},
    }[case]
    response = await client.post(
        "/v1/oauth/token", data={"grant_type": "client_credentials"}, headers=headers
    )
    _assert_oauth_error(response, 401, "invalid_client")
    assert response.headers["www-authenticate"].startswith("Basic")


async def test_a_seeded_client_without_a_secret_cannot_authenticate(client, app):
    """Seeded clients have no secret until `clients rotate-secret`: nothing matches it."""
    client_id = f"nosecret_{uuid.uuid4().hex[:6]}"
    from tests.admin.support import db_session
    from user_service.models import OAuthClient

    async with db_session(app) as db:
        db.add(OAuthClient(id=uuid.uuid4(), client_id=client_id, name="x", scopes=["profile:read"]))
    for secret in ("", "qcs_", "qcs_" + "A" * 43):
        response = await client.post(
            "/v1/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret,
            },
        )
        _assert_oauth_error(response, 401, "invalid_client")


async def test_no_client_authentication_is_invalid_client(client):
    response = await client.post("/v1/oauth/token", data={"grant_type": "client_credentials"})
    _assert_oauth_error(response, 401, "invalid_client")


async def test_grant_type_errors(client, app):
    service = ServiceCaller("alert_service", await rotate_secret(app, "alert_service"))
    response = await client.post(
        "/v1/oauth/token", data={"grant_type": "password"}, headers=service.basic
    )
    _assert_oauth_error(response, 400, "unsupported_grant_type")
    response = await client.post(
        "/v1/oauth/token", data={"scope": "alerts:read"}, headers=service.basic
    )
    _assert_oauth_error(response, 400, "invalid_request")


async def test_malformed_requests_are_invalid_request(client, app):
    service = ServiceCaller("alert_service", await rotate_secret(app, "alert_service"))
    as_json = await client.post(
        "/v1/oauth/token", json={"grant_type": "client_credentials"}, headers=service.basic
    )
    _assert_oauth_error(as_json, 400, "invalid_request")
    repeated = await client.post(
        "/v1/oauth/token",
        content=b"grant_type=client_credentials&grant_type=client_credentials",
        headers={**service.basic, "Content-Type": "application/x-www-form-urlencoded"},
    )
    _assert_oauth_error(repeated, 400, "invalid_request")
    two_methods = await client.post(
        "/v1/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "alert_service",
            "client_secret": service.secret,
        },
        headers=service.basic,
    )
    _assert_oauth_error(two_methods, 400, "invalid_request")


async def test_an_old_secret_stops_working_when_rotated(client, app):
    old = ServiceCaller("calendar_service", await rotate_secret(app, "calendar_service"))
    assert (await request_token(client, old)).status_code == 200
    new = ServiceCaller("calendar_service", await rotate_secret(app, "calendar_service"))
    _assert_oauth_error(await request_token(client, old), 401, "invalid_client")
    assert (await request_token(client, new)).status_code == 200


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_client_auth": "3 per minute"}])
async def test_failed_client_authentication_is_rate_limited_per_ip(client, app, settings_overrides):
    good = ServiceCaller("backend", await rotate_secret(app, "backend"))
    bad = ServiceCaller("backend", "qcs_wrong")
    for _ in range(3):
        _assert_oauth_error(await request_token(client, bad), 401, "invalid_client")
    limited = await request_token(client, good)
    body = _assert_oauth_error(limited, 429, "temporarily_unavailable")
    assert body["code"] == "rate_limited"
    assert int(limited.headers["retry-after"]) > 0


async def test_failed_client_authentication_is_audited(client, app):
    from tests.admin.support import db_session
    from user_service.audit import service as audit

    await request_token(client, ServiceCaller("backend", "qcs_wrong_secret"))
    async with db_session(app) as db:
        events, _ = await audit.page_events(
            db,
            user_id=None,
            event_type="client.auth_failed",
            since=None,
            until=None,
            limit=5,
            cursor=None,
        )
    assert events and events[0].details["client_id"] == "backend"
    assert events[0].details["reason"] == "wrong_secret"
    assert "qcs_wrong_secret" not in str(events[0].details)
