"""Every way a WebSocket presents (or fails to present) a token, on the ticker and the
backend: failures are accepted and then closed with 1008 and a reason (a close before accept
would reach the browser as a bare HTTP 403)."""

from __future__ import annotations

import pytest
from websockets.asyncio.client import connect

from tests.platform.conftest import expired_user_token
from tests.platform.support import closed_at_once, receive_json, service_token, ws_url

pytestmark = pytest.mark.anyio

SOCKETS = [("ticker", "/ws/quotes"), ("backend", "/ws/indicators")]
POLICY_VIOLATION = 1008


@pytest.fixture(params=SOCKETS, ids=[name for name, _ in SOCKETS])
def socket_url(request, platform):
    name, path = request.param
    return lambda token=None: ws_url(platform.config.url(name), path, token)


async def test_missing_token_closes_1008_missing_authentication_token(socket_url):
    closed = await closed_at_once(socket_url())
    assert closed.code == POLICY_VIOLATION
    assert closed.reason.rstrip(".") == "Missing authentication token"
    assert closed.messages == []


async def test_malformed_token_closes_1008_with_a_reason(socket_url):
    closed = await closed_at_once(socket_url("not-a-jwt"))
    assert closed.code == POLICY_VIOLATION and closed.reason
    assert closed.messages == []


async def test_forged_token_closes_1008(socket_url, trader):
    header, payload, signature = trader.access_token.split(".")
    forged = f"{header}.{payload}.{signature[::-1]}"
    closed = await closed_at_once(socket_url(forged))
    assert closed.code == POLICY_VIOLATION and closed.reason


async def test_expired_token_closes_1008_saying_it_expired(socket_url, trader, platform):
    token = await expired_user_token(platform, trader)
    closed = await closed_at_once(socket_url(token))
    assert closed.code == POLICY_VIOLATION
    assert "expired" in closed.reason.lower()


async def test_service_token_is_not_a_user_and_closes_1008(socket_url, platform, http):
    token = await service_token(http, "ticker_service", platform.client_secrets["ticker_service"])
    closed = await closed_at_once(socket_url(token))
    assert closed.code == POLICY_VIOLATION and closed.reason
    assert closed.messages == []


async def test_query_string_token_is_accepted(socket_url, trader):
    async with connect(socket_url(trader.access_token), open_timeout=5) as socket:
        first = await receive_json(socket)
    assert first["type"] in {"accounts", "indicator"}


async def test_bearer_subprotocol_pair_is_accepted(socket_url, trader):
    async with connect(
        socket_url(), subprotocols=["bearer", trader.access_token], open_timeout=5
    ) as socket:
        assert socket.subprotocol == "bearer"  # never echo the token back as the protocol
        first = await receive_json(socket)
    assert first["type"] in {"accounts", "indicator"}
