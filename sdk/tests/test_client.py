"""AuthClient: discovery, verify → principals, service tokens, decisions, credentials."""

from __future__ import annotations

import asyncio
import datetime as dt
import pickle
import uuid

import httpx
import pytest
from support import (
    BASE,
    FakeClock,
    FakeUserService,
    add_token_endpoint,
    json_body,
    mint,
    service_claims,
    user_claims,
)

from quantagro_auth import (
    AccountFrozen,
    AuthClient,
    AuthServiceUnavailable,
    BrokerCredentials,
    ClientAuthenticationFailed,
    ConfigurationError,
    InsufficientPermission,
    ServicePrincipal,
    TokenExpired,
    TokenKindMismatch,
    TokenRevoked,
    TradingAccountNotFound,
    TradingAccountUnavailable,
    UserPrincipal,
)
from quantagro_auth.service_tokens import ServiceTokenClient

pytestmark = pytest.mark.anyio


@pytest.fixture
def service(key):
    return FakeUserService(published=[key])


@pytest.fixture
async def client(service, key):
    add_token_endpoint(service, key)
    async with AuthClient.from_discovery(
        BASE,
        client_id="ticker_service",
        client_secret="s3cret",
        http=service.http(),
        follow_events=False,
    ) as auth:
        yield auth


async def test_discovery_sets_the_endpoints_and_builds_the_missing_ones(client, service):
    assert client.issuer == "user_service"
    assert client.jwks_uri == f"{BASE}/v1/.well-known/jwks.json"
    assert client.events_endpoint == f"{BASE}/v1/events"
    assert client.authz_check_endpoint == f"{BASE}/v1/authz/check"
    assert client.credentials_endpoint.startswith(f"{BASE}/v1/internal/trading-accounts/")
    assert service.count("/v1/.well-known/jwks.json") == 1  # loaded at start


async def test_discovery_can_be_awaited_and_closed(service):
    client = await AuthClient.from_discovery(BASE, http=service.http())
    assert client.follow_events is False  # no redis, no credentials: nothing to follow
    await client.aclose()


async def test_discovery_failure_is_unavailable(key):
    down = FakeUserService(published=[key])

    async def refuse(request):
        raise httpx.ConnectError("refused", request=request)

    http = httpx.AsyncClient(transport=httpx.MockTransport(refuse))
    with pytest.raises(AuthServiceUnavailable):
        await AuthClient.from_discovery(BASE, http=http)
    assert down.requests == []


async def test_verify_returns_a_user_principal_without_the_token_in_repr(client, key):
    mfa_at = int(dt.datetime(2026, 1, 2, tzinfo=dt.UTC).timestamp())
    claims = user_claims(
        roles=["user", "admin"], trading_accounts=["acc-1"], mfa=True, mfa_at=mfa_at
    )
    token = mint(key, claims)
    principal = await client.verify(token)
    assert isinstance(principal, UserPrincipal)
    assert principal.user_id == claims["sub"] and principal.session_id == claims["sid"]
    assert principal.roles == {"user", "admin"} and principal.has_role("admin")
    assert principal.trading_accounts == {"acc-1"}
    assert principal.mfa and principal.mfa_at == dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    assert principal.expires_at.timestamp() == claims["exp"]
    assert principal.token == token
    assert token not in repr(principal) and "claims" not in repr(principal)
    with pytest.raises(AttributeError):
        principal.user_id = "other"  # type: ignore[misc]


async def test_verify_refuses_service_tokens_unless_asked(client, key):
    token = mint(key, service_claims(scope="positions:read alerts:read"))
    with pytest.raises(TokenKindMismatch):
        await client.verify(token)
    principal = await client.verify(token, expected="service")
    assert isinstance(principal, ServicePrincipal)
    assert principal.has_scope("positions:read") and not principal.has_scope("admin")
    assert principal.has_scope("positions:read", "alerts:read")
    assert token not in repr(principal)
    with pytest.raises(TokenKindMismatch):
        await client.verify(mint(key, user_claims()), expected="service")


async def test_verify_refuses_revoked_sessions_and_disabled_users(client, key):
    claims = user_claims()
    token = mint(key, claims)
    await client.verify(token)
    await client.revocations.revoke_session(claims["sid"])
    with pytest.raises(TokenRevoked) as caught:
        await client.verify(token)
    assert caught.value.reason == "session_revoked"
    other = user_claims()
    await client.revocations.disable_user(other["sub"])
    with pytest.raises(TokenRevoked) as caught:
        await client.verify(mint(key, other))
    assert caught.value.reason == "user_disabled"
    client.revocations.enable_user(other["sub"])
    assert await client.verify(mint(key, other))


async def test_an_expired_token_raises_token_expired(client, key):
    with pytest.raises(TokenExpired):
        await client.verify(mint(key, user_claims(exp=1_000, iat=900, nbf=900)))


# -- service tokens ---------------------------------------------------------------------------


async def test_the_service_token_is_cached_and_fetched_once_for_concurrent_callers(key):
    service = FakeUserService(published=[key])
    issued = add_token_endpoint(service, key, delay=0.05)
    tokens = ServiceTokenClient(
        service.http(), f"{BASE}/v1/oauth/token", "ticker_service", "s3cret"
    )
    results = await asyncio.gather(*(tokens.token() for _ in range(30)))
    assert set(results) == {issued[0]} and len(issued) == 1
    assert await tokens.token() == issued[0]
    assert "s3cret" not in repr(tokens)


async def test_the_service_token_is_renewed_before_it_expires(key):
    service = FakeUserService(published=[key])
    issued = add_token_endpoint(service, key, expires_in=3600)
    clock = FakeClock()
    tokens = ServiceTokenClient(
        service.http(), f"{BASE}/v1/oauth/token", "ticker_service", "s3cret", clock=clock
    )
    first = await tokens.token()
    clock.advance(3600 - 61)
    assert await tokens.token() == first
    clock.advance(2)  # inside the 60 s renewal margin
    second = await tokens.token()
    assert second != first and len(issued) == 2
    request = service.requests[-1]
    assert "grant_type=client_credentials" in request.content.decode()
    assert request.headers["authorization"].startswith("Basic ")


async def test_short_tokens_renew_ten_percent_before_expiry(key):
    service = FakeUserService(published=[key])
    issued = add_token_endpoint(service, key, expires_in=300)
    clock = FakeClock()
    tokens = ServiceTokenClient(
        service.http(), f"{BASE}/v1/oauth/token", "ticker_service", "s3cret", clock=clock
    )
    await tokens.token()
    clock.advance(269)
    await tokens.token()
    assert len(issued) == 1
    clock.advance(2)
    await tokens.token()
    assert len(issued) == 2


async def test_a_failed_early_renewal_keeps_the_valid_token(key):
    service = FakeUserService(published=[key])
    add_token_endpoint(service, key)
    clock = FakeClock()
    tokens = ServiceTokenClient(
        service.http(), f"{BASE}/v1/oauth/token", "ticker_service", "s3cret", clock=clock
    )
    first = await tokens.token()
    service.routes[("POST", "/v1/oauth/token")] = _respond(401, {"error": "invalid_client"})
    clock.advance(3590)
    with pytest.raises(ClientAuthenticationFailed):
        await tokens.token()  # refused credentials are a configuration problem: said loudly
    service.routes[("POST", "/v1/oauth/token")] = _respond(503)
    assert await tokens.token() == first  # a 5xx while still valid: keep using it
    clock.advance(20)
    with pytest.raises(AuthServiceUnavailable):
        await tokens.token()


async def test_wrong_client_credentials_are_a_configuration_error(key, service):
    add_token_endpoint(service, key)
    tokens = ServiceTokenClient(service.http(), f"{BASE}/v1/oauth/token", "ticker_service", "x")
    with pytest.raises(ClientAuthenticationFailed) as caught:
        await tokens.token()
    assert caught.value.code == "invalid_client"


async def test_calls_needing_a_service_identity_say_so_without_credentials(service):
    async with AuthClient.from_discovery(BASE, http=service.http()) as client:
        with pytest.raises(ConfigurationError):
            await client.service_token()
        with pytest.raises(ConfigurationError):
            await client.release_credentials(uuid.uuid4(), on_behalf_of=uuid.uuid4())
        with pytest.raises(ConfigurationError):
            await client.check("alerts:read", subject=str(uuid.uuid4()))


def _respond(status, body=None, delay=0.0):
    async def handler(request):
        if delay:
            await asyncio.sleep(delay)
        return httpx.Response(status, json=body if body is not None else {"detail": "x"})

    return handler


# -- decisions --------------------------------------------------------------------------------


def pdp(service, answers):
    """A PDP answering from ``answers`` (a list consumed in order); records the bodies."""
    bodies = []

    @service.route("POST", "/v1/authz/check")
    async def check(request):
        bodies.append((request.headers.get("authorization"), json_body(request)))
        status, body, delay = answers.pop(0)
        if delay == "timeout":
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(status, json=body)

    return bodies


ALLOW = {
    "allowed": True,
    "code": "allowed_by_policy",
    "reason": "Allowed.",
    "policy": "own",
    "permission": "alerts:create",
    "resource": None,
    "subject": "user:x",
    "ttl": 60,
    "cached": False,
}


async def test_a_decision_is_cached_for_its_ttl(client, service, key):
    bodies = pdp(service, [(200, ALLOW, 0), (200, ALLOW, 0)])
    token = mint(key, user_claims())
    first = await client.check("alerts:create", "alerts", token=token)
    second = await client.check("alerts:create", "alerts", token=token)
    assert first.allowed and not first.cached and second.allowed and second.cached
    assert len(bodies) == 1
    assert bodies[0] == (f"Bearer {token}", {"permission": "alerts:create", "resource": "alerts"})
    await client.check("alerts:create", "alerts:42", token=token)  # another resource: asks
    assert len(bodies) == 2


async def test_a_decision_without_ttl_is_never_cached(client, service, key):
    answers = [(200, {**ALLOW, "ttl": 0}, 0), (200, {**ALLOW, "allowed": False, "ttl": 0}, 0)]
    bodies = pdp(service, answers)
    token = mint(key, user_claims())
    assert (await client.check("alerts:create", token=token)).allowed
    assert not (await client.check("alerts:create", token=token)).allowed
    assert len(bodies) == 2


async def test_cached_decisions_of_a_revoked_session_are_dropped(client, service, key):
    bodies = pdp(service, [(200, ALLOW, 0), (200, {**ALLOW, "allowed": False}, 0)])
    claims = user_claims()
    token = mint(key, claims)
    assert (await client.check("alerts:create", token=token)).allowed
    await client.revocations.revoke_session(claims["sid"])
    assert not (await client.check("alerts:create", token=token)).allowed
    assert len(bodies) == 2


@pytest.mark.parametrize(
    ("status", "body", "delay"),
    [
        (503, {"detail": "down", "code": "decision_unavailable"}, 0),
        (500, {}, 0),
        (200, {"unexpected": True}, 0),
        (200, ALLOW, "timeout"),
    ],
    ids=["503", "500", "garbage", "timeout"],
)
async def test_the_pdp_failing_is_a_denial_that_says_unavailable(
    client, service, key, status, body, delay
):
    bodies = pdp(service, [(status, body, delay), (200, ALLOW, 0)])
    token = mint(key, user_claims())
    decision = await client.check("alerts:create", token=token)
    assert not decision.allowed and decision.unavailable
    assert (await client.check("alerts:create", token=token)).allowed  # never cached
    assert len(bodies) == 2


async def test_an_unreachable_pdp_is_a_denial(client, service, key):
    @service.route("POST", "/v1/authz/check")
    async def refuse(request):
        raise httpx.ConnectError("refused", request=request)

    decision = await client.check("alerts:create", token=mint(key, user_claims()))
    assert not decision.allowed and decision.unavailable


async def test_a_check_about_a_subject_uses_the_service_token(client, service, key):
    bodies = pdp(service, [(200, ALLOW, 0), (200, ALLOW, 0)])
    user_id = str(uuid.uuid4())
    resource = {"type": "alert", "id": "7", "owner_id": user_id}
    await client.check("alerts:read", resource, subject=user_id)
    await client.check("alerts:read", resource, subject=user_id)
    authorization, body = bodies[0]
    assert body == {"permission": "alerts:read", "resource": resource, "subject": user_id}
    service_token = authorization.removeprefix("Bearer ")
    assert (await client.verify(service_token, expected="service")).client_id == "ticker_service"
    assert len(bodies) == 1


async def test_a_refused_question_is_a_denial_with_the_pdp_code(client, service, key):
    pdp(service, [(422, {"detail": "Unknown permission.", "code": "unknown_permission"}, 0)])
    decision = await client.check("nope:nope", token=mint(key, user_claims()))
    assert not decision.allowed and not decision.unavailable
    assert decision.code == "unknown_permission"


# -- credentials ------------------------------------------------------------------------------

SECRETS = {
    "api_key": "kite-key-123",
    "api_secret": "kite-secret-456",
    "access_token": "kite-access-789",
}


def vault(service, answers):
    bodies = []

    @service.route("POST", "/v1/internal/trading-accounts/*")
    async def release(request):
        bodies.append((request.url.path, request.headers.get("authorization"), json_body(request)))
        status, body = answers.pop(0)
        return httpx.Response(status, json=body, headers={"Cache-Control": "no-store"})

    return bodies


async def test_released_credentials_are_never_cached_and_hidden_from_repr(client, service):
    account, user = uuid.uuid4(), uuid.uuid4()
    body = {
        "account_id": str(account),
        "broker": "kite",
        "user_id_broker": "AB1234",
        "access_token_expires_at": "2026-03-01T01:00:00+00:00",
        **SECRETS,
    }
    bodies = vault(service, [(200, body), (200, body)])
    credentials = await client.release_credentials(account, on_behalf_of=user)
    again = await client.release_credentials(str(account), on_behalf_of=str(user))
    assert len(bodies) == 2  # asked every time
    assert isinstance(credentials, BrokerCredentials) and credentials == again
    assert credentials.api_key == "kite-key-123" and credentials.access_token == "kite-access-789"
    assert bodies[0][0] == f"/v1/internal/trading-accounts/{account}/credentials"
    assert bodies[0][2] == {"on_behalf_of": str(user)}
    for text in (repr(credentials), str(credentials), f"{credentials}"):
        assert "AB1234" in text
        for secret in SECRETS.values():
            assert secret not in text
    with pytest.raises(TypeError):
        pickle.dumps(credentials)


@pytest.mark.parametrize(
    ("status", "body", "error", "code"),
    [
        (
            404,
            {"detail": "No such trading account.", "code": "trading_account_not_found"},
            TradingAccountNotFound,
            "trading_account_not_found",
        ),
        (
            403,
            {"detail": "May not.", "code": "on_behalf_of_not_permitted"},
            InsufficientPermission,
            "on_behalf_of_not_permitted",
        ),
        (409, {"detail": "Frozen.", "code": "account_frozen"}, AccountFrozen, "account_frozen"),
        (
            409,
            {"detail": "Not active.", "code": "account_not_active", "status": "frozen"},
            AccountFrozen,
            "account_not_active",
        ),
        (
            409,
            {"detail": "Expired.", "code": "account_not_active", "status": "expired"},
            TradingAccountUnavailable,
            "account_not_active",
        ),
        (503, {"detail": "Vault down."}, AuthServiceUnavailable, "auth_service_unavailable"),
    ],
)
async def test_release_failures_are_typed(client, service, status, body, error, code):
    vault(service, [(status, body)])
    with pytest.raises(error) as caught:
        await client.release_credentials(uuid.uuid4(), on_behalf_of=uuid.uuid4())
    assert caught.value.code == code and caught.value.status_code == error.status_code


async def test_a_refused_service_token_is_renewed_once(client, service):
    body = {"account_id": "a", "broker": "kite", "user_id_broker": "AB1234", **SECRETS}
    bodies = vault(service, [(401, {"code": "invalid_token"}), (200, body)])
    assert (await client.release_credentials(uuid.uuid4(), on_behalf_of=None)).api_key
    assert bodies[0][1] != bodies[1][1]  # a new service token on the retry
    assert bodies[1][2] == {}
