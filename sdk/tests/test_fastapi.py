"""FastAPI integration: HTTP dependencies over ASGI, WebSockets over a real uvicorn server."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from fastapi import Depends, FastAPI, WebSocket
from support import BASE, FakeUserService, add_token_endpoint, mint, service_claims, user_claims
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from quantagro_auth import AuthClient, ServicePrincipal, UserPrincipal
from quantagro_auth.fastapi import (
    CurrentService,
    CurrentUser,
    DualAuthResult,
    dual_auth,
    guard_websocket,
    install,
    require_permission,
    require_scope,
    websocket_principal,
)

pytestmark = pytest.mark.anyio


@dataclass(frozen=True)
class LegacyKey:
    user_id: str


async def lookup_api_key(api_key: str) -> LegacyKey | None:
    return LegacyKey("legacy-user") if api_key == "qk_live_good" else None


Dual = DualAuthResult[LegacyKey]


def build_app() -> FastAPI:
    app = FastAPI()

    @app.get("/me")
    async def me(user: CurrentUser) -> dict[str, str]:
        return {"user_id": user.user_id}

    @app.get("/internal")
    async def internal(
        service: ServicePrincipal = Depends(require_scope("positions:read")),
    ) -> dict[str, str]:
        return {"client_id": service.client_id}

    @app.get("/whoami-service")
    async def whoami(service: CurrentService) -> dict[str, str]:
        return {"client_id": service.client_id}

    @app.post("/alerts")
    async def create_alert(
        user: UserPrincipal = Depends(require_permission("alerts:create", "alerts")),
    ) -> dict[str, str]:
        return {"created_for": user.user_id}

    @app.get("/positions")
    async def positions(caller: Dual = Depends(dual_auth(lookup_api_key))) -> dict[str, str]:
        who = caller.principal
        return {"auth_method": caller.auth_method, "user_id": str(who.user_id)}

    @app.websocket("/ws/quotes")
    async def quotes(ws: WebSocket) -> None:
        principal = await websocket_principal(ws)
        if principal is None:
            return
        async with guard_websocket(ws, principal, read_messages=True):
            await ws.send_json({"hello": principal.user_id})
            while True:
                await ws.send_json({"quote": 100})
                await asyncio.sleep(0.05)

    return app


@pytest.fixture
def service(key):
    service = FakeUserService(published=[key])
    add_token_endpoint(service, key)
    return service


@pytest.fixture
async def auth(service):
    async with AuthClient.from_discovery(
        BASE,
        client_id="ticker_service",
        client_secret="s3cret",
        http=service.http(),
        follow_events=False,
    ) as client:
        yield client


@pytest.fixture
async def http(auth):
    app = build_app()
    install(app, auth)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def assert_401(response: httpx.Response, code: str) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["code"] == code and response.json()["detail"]
    assert response.headers["www-authenticate"].startswith("Bearer")


# -- HTTP -------------------------------------------------------------------------------------


async def test_current_user_accepts_a_user_token(http, key):
    claims = user_claims()
    response = await http.get("/me", headers=bearer(mint(key, claims)))
    assert response.json() == {"user_id": claims["sub"]}


@pytest.mark.parametrize(
    "header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer    ", "Token abc", "Bearer a b"]
)
async def test_malformed_authorization_headers_are_401(http, header):
    await assert_401(await http.get("/me", headers={"Authorization": header}), "invalid_token")


async def test_missing_expired_service_and_revoked_tokens_are_401(http, auth, key):
    response = await http.get("/me")
    await assert_401(response, "missing_token")
    assert response.headers["www-authenticate"] == "Bearer"
    expired = mint(key, user_claims(exp=int(time.time()) - 60, iat=1, nbf=1))
    await assert_401(await http.get("/me", headers=bearer(expired)), "token_expired")
    await assert_401(
        await http.get("/me", headers=bearer(mint(key, service_claims()))), "invalid_token"
    )
    claims = user_claims()
    await auth.revocations.revoke_session(claims["sid"])
    await assert_401(await http.get("/me", headers=bearer(mint(key, claims))), "token_revoked")


async def test_require_scope_wants_a_service_token_with_the_scope(http, key):
    good = mint(key, service_claims(scope="positions:read"))
    assert (await http.get("/internal", headers=bearer(good))).json() == {
        "client_id": "ticker_service"
    }
    lacking = await http.get("/internal", headers=bearer(mint(key, service_claims(scope="x"))))
    assert lacking.status_code == 403 and lacking.json()["code"] == "insufficient_scope"
    assert "insufficient_scope" in lacking.headers["www-authenticate"]
    await assert_401(
        await http.get("/internal", headers=bearer(mint(key, user_claims()))), "invalid_token"
    )
    await assert_401(
        await http.get("/whoami-service", headers=bearer(mint(key, user_claims()))),
        "invalid_token",
    )


def answer_pdp(service, status, body):
    seen = []

    @service.route("POST", "/v1/authz/check")
    async def check(request):
        seen.append(request)
        return httpx.Response(status, json=body)

    return seen


async def test_require_permission_allows_denies_and_fails_closed(http, service, key):
    token = mint(key, user_claims())
    seen = answer_pdp(service, 200, {"allowed": True, "reason": "ok", "code": "allowed_by_policy"})
    assert (await http.post("/alerts", headers=bearer(token))).status_code == 200
    assert seen[0].headers["authorization"] == f"Bearer {token}"
    answer_pdp(
        service,
        200,
        {"allowed": False, "reason": "No policy allows this.", "code": "no_matching_policy"},
    )
    denied = await http.post("/alerts", headers=bearer(token))
    assert denied.status_code == 403
    assert denied.json() == {"detail": "No policy allows this.", "code": "no_matching_policy"}
    answer_pdp(service, 503, {"detail": "down", "code": "decision_unavailable"})
    unavailable = await http.post("/alerts", headers=bearer(token))
    assert unavailable.status_code == 503
    assert unavailable.json()["code"] == "decision_unavailable"
    await assert_401(await http.post("/alerts"), "missing_token")


async def test_a_missing_recent_second_factor_is_step_up_required_and_a_freeze_is_named(
    http, service, key
):
    token = mint(key, user_claims())
    answer_pdp(
        service,
        200,
        {
            "allowed": False,
            "reason": "the second factor was proven 900 s ago (limit 300 s)",
            "code": "condition_failed:mfa_within",
            "policy": "users-trading-account-trade",
        },
    )
    step_up = await http.post("/alerts", headers=bearer(token))
    assert step_up.status_code == 403 and step_up.json()["code"] == "step_up_required"
    answer_pdp(
        service,
        200,
        {
            "allowed": False,
            "reason": "frozen",
            "code": "denied_by_policy",
            "policy": "deny-frozen-trading",
        },
    )
    frozen = await http.post("/alerts", headers=bearer(token))
    assert frozen.status_code == 403 and frozen.json()["code"] == "account_frozen"


async def test_dual_auth_accepts_either_and_prefers_the_jwt(http, key):
    claims = user_claims()
    token = mint(key, claims)
    api_key = {"X-API-Key": "qk_live_good"}
    by_key = await http.get("/positions", headers=api_key)
    assert by_key.json() == {"auth_method": "api_key", "user_id": "legacy-user"}
    by_jwt = await http.get("/positions", headers=bearer(token))
    assert by_jwt.json() == {"auth_method": "jwt", "user_id": claims["sub"]}
    both = await http.get("/positions", headers={**api_key, **bearer(token)})
    assert both.json() == {"auth_method": "jwt", "user_id": claims["sub"]}
    forged = await http.get("/positions", headers={**api_key, **bearer(token[:-4] + "AAAA")})
    await assert_401(forged, "invalid_token")  # never downgraded to the API key
    await assert_401(
        await http.get("/positions", headers={"X-API-Key": "qk_live_bad"}), "invalid_api_key"
    )
    await assert_401(await http.get("/positions"), "missing_token")


# -- WebSockets over a real server --------------------------------------------------------------


@pytest.fixture
async def ws_url(auth):
    app = build_app()
    install(app, auth)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"ws://127.0.0.1:{port}/ws/quotes"
    server.should_exit = True
    await task


async def closed_with(url: str, **options) -> tuple[int, str]:
    async with connect(url, **options) as ws:  # the handshake succeeds: never an HTTP 403
        with pytest.raises(ConnectionClosed) as caught:
            while True:
                await asyncio.wait_for(ws.recv(), 5)
    assert caught.value.rcvd is not None
    return caught.value.rcvd.code, caught.value.rcvd.reason


async def test_websocket_refusals_accept_then_close_1008_with_a_reason(ws_url, auth, key):
    assert await closed_with(ws_url) == (1008, "Missing authentication token")
    expired = mint(key, user_claims(exp=int(time.time()) - 60, iat=1, nbf=1))
    assert await closed_with(f"{ws_url}?token={expired}") == (1008, "Authentication token expired")
    assert await closed_with(f"{ws_url}?token=not.a.jwt") == (1008, "Invalid authentication token")
    service_token = mint(key, service_claims())
    assert await closed_with(f"{ws_url}?token={service_token}") == (
        1008,
        "Service tokens are not accepted here",
    )
    revoked = user_claims()
    await auth.revocations.revoke_session(revoked["sid"])
    assert await closed_with(f"{ws_url}?token={mint(key, revoked)}") == (1008, "Session revoked")
    assert await closed_with(ws_url, subprotocols=["bearer"]) == (
        1008,
        "Missing authentication token",
    )


async def test_a_bearer_subprotocol_pair_authenticates_and_selects_bearer(ws_url, key):
    claims = user_claims()
    async with connect(ws_url, subprotocols=["bearer", mint(key, claims)]) as ws:
        assert ws.subprotocol == "bearer"
        assert await asyncio.wait_for(ws.recv(), 2) == f'{{"hello":"{claims["sub"]}"}}'
    async with connect(f"{ws_url}?token={mint(key, claims)}") as ws:
        assert ws.subprotocol is None
        assert "hello" in await asyncio.wait_for(ws.recv(), 2)


async def measure_close(ws, action) -> tuple[float, int, str]:
    await asyncio.wait_for(ws.recv(), 2)  # hello: the guard is running
    started = time.monotonic()
    await action()
    with pytest.raises(ConnectionClosed) as caught:
        while True:
            await asyncio.wait_for(ws.recv(), 5)
    return time.monotonic() - started, caught.value.rcvd.code, caught.value.rcvd.reason


async def test_the_guard_closes_a_socket_when_its_session_is_revoked(ws_url, auth, key):
    claims = user_claims()
    async with connect(f"{ws_url}?token={mint(key, claims)}") as ws:
        elapsed, code, reason = await measure_close(
            ws, lambda: auth.revocations.revoke_session(claims["sid"])
        )
    assert (code, reason) == (1008, "Session revoked")
    assert elapsed < 2.0


async def test_the_guard_closes_a_socket_when_its_user_is_disabled(ws_url, auth, key):
    claims = user_claims()
    async with connect(f"{ws_url}?token={mint(key, claims)}") as ws:
        elapsed, code, reason = await measure_close(
            ws, lambda: auth.revocations.disable_user(claims["sub"])
        )
    assert (code, reason) == (1008, "User disabled") and elapsed < 2.0


async def test_the_guard_closes_when_the_token_expires_without_renewal(ws_url, key):
    exp = int(time.time()) + 1
    async with connect(f"{ws_url}?token={mint(key, user_claims(exp=exp))}") as ws:
        _elapsed, code, reason = await measure_close(ws, _noop)
    assert (code, reason) == (1008, "Authentication token expired")
    assert time.time() - exp < 2.0


async def _noop() -> None:
    return None


async def test_a_renewed_token_keeps_the_socket_open(ws_url, key):
    claims = user_claims(exp=int(time.time()) + 1)
    async with connect(f"{ws_url}?token={mint(key, claims)}") as ws:
        await asyncio.wait_for(ws.recv(), 2)
        renewed = mint(key, {**claims, "exp": int(time.time()) + 900, "jti": uuid.uuid4().hex})
        await ws.send(f'{{"type": "renew", "token": "{renewed}"}}')
        messages = []
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            messages.append(await asyncio.wait_for(ws.recv(), 2))
        assert any('"renewed"' in m for m in messages)


async def test_a_renewal_with_another_users_token_closes_the_socket(ws_url, key):
    async with connect(f"{ws_url}?token={mint(key, user_claims())}") as ws:
        _elapsed, code, reason = await measure_close(
            ws, lambda: ws.send(f'{{"type": "renew", "token": "{mint(key, user_claims())}"}}')
        )
    assert (code, reason) == (1008, "Invalid authentication token")


# -- wiring -----------------------------------------------------------------------------------


async def test_install_in_a_lifespan_with_handlers_registered_at_creation(auth, key):
    """The usual shape: handlers at creation, the client installed once it exists."""
    from contextlib import asynccontextmanager

    from quantagro_auth.fastapi import auth_exception_handlers

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        install(app, auth)
        yield

    app = FastAPI(lifespan=lifespan, exception_handlers=auth_exception_handlers())

    @app.get("/me")
    async def me(user: CurrentUser) -> dict[str, str]:
        return {"user_id": user.user_id}

    async with app.router.lifespan_context(app):
        app.middleware_stack = app.build_middleware_stack()  # as Starlette does on start-up
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as client:
            await assert_401(await client.get("/me"), "missing_token")


async def test_install_after_start_without_handlers_is_refused_not_a_silent_500(auth):
    app = build_app()
    app.middleware_stack = app.build_middleware_stack()  # the app has started
    with pytest.raises(RuntimeError, match="auth_exception_handlers"):
        install(app, auth)
