"""POST /v1/oauth/introspect (RFC 7662) and /v1/oauth/revoke (RFC 7009)."""

import datetime as dt

import pytest

from tests.fixtures.users import signed_in_user
from tests.oauth.support import service_with_token

pytestmark = pytest.mark.anyio


async def _introspect(client, caller_headers, token):
    response = await client.post(
        "/v1/oauth/introspect", data={"token": token}, headers=caller_headers
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    return response.json()


async def test_introspecting_a_service_token(client, app):
    backend = await service_with_token(client, app, "backend")
    alerts = await service_with_token(client, app, "alert_service")
    for caller in (backend.basic, backend.headers):  # client secret, or the client's own token
        body = await _introspect(client, caller, alerts.token)
        assert body["active"] is True
        assert body["token_use"] == "service"
        assert body["client_id"] == body["sub"] == "alert_service"
        assert "alerts:read" in body["scope"].split()
        assert body["exp"] - body["iat"] == 3600
        assert body["iss"] == "user_service" and body["aud"] == "trading_platform"


async def test_introspecting_a_user_token_reports_session_revocation(client, app):
    backend = await service_with_token(client, app, "backend")
    user = await signed_in_user(client)
    body = await _introspect(client, backend.basic, user.access_token)
    assert body["active"] is True
    assert body["token_use"] == "user"
    assert body["sub"] == user.user_id
    assert body["username"] == user.email
    assert body["roles"] == ["user"]
    logout = await client.post("/v1/auth/logout", json={"all_devices": True}, headers=user.headers)
    assert logout.status_code == 200, logout.text
    assert await _introspect(client, backend.basic, user.access_token) == {"active": False}


async def test_anything_invalid_is_just_inactive(client, app):
    backend = await service_with_token(client, app, "backend")
    tokens = app.state.services.tokens
    expired = await tokens.issue_service_token(
        client_id="alert_service",
        scopes=["alerts:read"],
        now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2),
    )
    for token in ("garbage", "a.b.c", "qrt_" + "x" * 43, expired.token, backend.token + "x"):
        assert await _introspect(client, backend.basic, token) == {"active": False}


async def test_introspection_needs_an_authenticated_client(client, app):
    alerts = await service_with_token(client, app, "alert_service")
    response = await client.post("/v1/oauth/introspect", data={"token": alerts.token})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    missing = await client.post("/v1/oauth/introspect", data={}, headers=alerts.basic)
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_request"


async def test_a_user_token_cannot_authenticate_a_client(client, app):
    alerts = await service_with_token(client, app, "alert_service")
    user = await signed_in_user(client)
    response = await client.post(
        "/v1/oauth/introspect", data={"token": alerts.token}, headers=user.headers
    )
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


async def test_a_client_revokes_its_own_token(client, app):
    alerts = await service_with_token(client, app, "alert_service")
    check = {"permission": "alerts:read"}
    assert (
        await client.post("/v1/authz/check", json=check, headers=alerts.headers)
    ).status_code == 200
    response = await client.post(
        "/v1/oauth/revoke", data={"token": alerts.token}, headers=alerts.basic
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    refused = await client.post("/v1/authz/check", json=check, headers=alerts.headers)
    assert refused.status_code == 401
    assert refused.json()["code"] == "token_revoked"
    backend = await service_with_token(client, app, "backend")
    assert await _introspect(client, backend.basic, alerts.token) == {"active": False}
    again = await client.post(
        "/v1/oauth/revoke", data={"token": alerts.token}, headers=alerts.basic
    )
    assert again.status_code == 200


async def test_revocation_of_anything_else_is_a_quiet_no_op(client, app):
    alerts = await service_with_token(client, app, "alert_service")
    backend = await service_with_token(client, app, "backend")
    user = await signed_in_user(client)
    for token in (backend.token, user.access_token, "garbage"):
        response = await client.post(
            "/v1/oauth/revoke", data={"token": token}, headers=alerts.basic
        )
        assert response.status_code == 200
    assert (await _introspect(client, backend.basic, backend.token))["active"] is True
    assert (await _introspect(client, backend.basic, user.access_token))["active"] is True


async def test_revocation_by_bearer_token_and_without_auth(client, app):
    alerts = await service_with_token(client, app, "alert_service")
    response = await client.post("/v1/oauth/revoke", data={"token": alerts.token})
    assert response.status_code == 401
    response = await client.post(
        "/v1/oauth/revoke", data={"token": alerts.token}, headers=alerts.headers
    )
    assert response.status_code == 200
    backend = await service_with_token(client, app, "backend")
    assert await _introspect(client, backend.basic, alerts.token) == {"active": False}


async def test_an_expired_service_token_is_refused(client, app):
    expired = await app.state.services.tokens.issue_service_token(
        client_id="alert_service",
        scopes=["authz:check"],
        now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2),
    )
    response = await client.post(
        "/v1/authz/check",
        json={"permission": "alerts:read"},
        headers={"Authorization": f"Bearer {expired.token}"},
    )
    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"


async def test_a_service_token_is_refused_where_a_user_token_is_needed(client, app):
    alerts = await service_with_token(client, app, "alert_service")
    response = await client.get("/v1/users/me", headers=alerts.headers)
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


async def test_introspection_needs_the_tokens_introspect_scope(client, app):
    """Review item 11: a client holding only profile:read learned another client's token and a
    user's e-mail, sid and roles. Without ``tokens:introspect`` every answer is inactive."""
    calendar = await service_with_token(client, app, "calendar_service")  # profile:read only
    alerts = await service_with_token(client, app, "alert_service")
    user = await signed_in_user(client)
    for caller in (calendar.basic, calendar.headers):
        for token in (alerts.token, user.access_token, calendar.token):
            assert await _introspect(client, caller, token) == {"active": False}
    backend = await service_with_token(client, app, "backend")  # seeded with tokens:introspect
    described = await _introspect(client, backend.headers, user.access_token)
    assert described["active"] is True and described["username"] == user.email
