"""The ticker end to end: the trader's own accounts, credentials released on their behalf
(and audited), quotes streaming, and the socket closed within 2 s when access ends."""

from __future__ import annotations

import itertools
import time

import anyio
import httpx
import jwt
import pytest
from websockets.asyncio.client import connect

from tests.platform.support import (
    link_active_kite_account,
    receive_json,
    sign_in,
    sign_up,
    until_closed,
    ws_url,
)

pytestmark = pytest.mark.anyio

POLICY_VIOLATION = 1008
REVOCATION_DEADLINE = 2.0  # docs/api.md §8: open sockets of a revoked session close within 2 s


def quotes_url(platform, token):
    return ws_url(platform.config.url("ticker"), "/ws/quotes", token)


async def first_quote(socket):
    accounts = await receive_json(socket)
    assert accounts["type"] == "accounts", accounts
    quote = await receive_json(socket)
    assert quote["type"] == "quote", quote
    return accounts, quote


async def test_streams_quotes_for_the_traders_active_accounts(platform, trader):
    async with connect(quotes_url(platform, trader.access_token)) as socket:
        accounts, quote = await first_quote(socket)
    assert accounts["accounts"] == [
        {
            "account_id": trader.account_id,
            "user_id_broker": trader.user_id_broker,
            "expires_at": None,
        }
    ]
    assert quote["account_id"] == trader.account_id
    assert quote["symbol"].startswith("NSE:") and quote["last_price"] > 0
    assert quote["timestamp"]


async def test_other_traders_accounts_are_not_streamed(platform, http, trader):
    stranger = await sign_up(http, platform.mail_dir)
    async with connect(quotes_url(platform, stranger.access_token)) as socket:
        accounts = await receive_json(socket)
    assert accounts == {"type": "accounts", "accounts": []}


async def test_release_is_audited_with_the_client_and_on_behalf_of(platform, http, trader):
    async with connect(quotes_url(platform, trader.access_token)) as socket:
        await first_quote(socket)
    audit = await http.get(
        "/v1/users/me/audit",
        params={"event_type": "credentials.released"},
        headers=trader.headers,
    )
    assert audit.status_code == 200, audit.text
    [release] = audit.json()["items"]
    assert release["actor"] == "client:ticker_service"
    assert release["details"]["client_id"] == "ticker_service"
    assert release["details"]["account_id"] == trader.account_id
    assert release["details"]["on_behalf_of"] == trader.user_id
    assert not {"api_key", "api_secret", "access_token"} & set(release["details"])


async def test_no_process_logs_a_token_or_a_broker_secret(platform, trader):
    async with connect(quotes_url(platform, trader.access_token)) as socket:
        await first_quote(socket)
    for name in ("service", "ticker", "backend", "alerts", "kite"):
        log = platform.processes.tail(name, lines=100_000)
        assert trader.access_token not in log, name
        assert trader.kite_api_secret not in log, name


# What ends a trader's access, as the request that does it: (method, path, body, status).
ACCESS_ENDINGS = {
    "sign out everywhere": ("POST", "/v1/auth/logout", {"all_devices": True}, 200),
    "unlink the account": ("DELETE", "/v1/trading-accounts/{account_id}", None, 204),
    "deactivate the user": ("POST", "/v1/users/me/deactivate", {"password": "{password}"}, 200),
    "freeze the account": ("POST", "/v1/users/me/freeze", {"password": "{password}"}, 200),
}


@pytest.mark.parametrize("ending", list(ACCESS_ENDINGS))
async def test_the_quote_socket_closes_within_2_s_when_access_ends(platform, http, trader, ending):
    method, path, body, status = ACCESS_ENDINGS[ending]
    if body and body.get("password"):
        body = {"password": trader.password}
    async with connect(quotes_url(platform, trader.access_token)) as socket:
        await first_quote(socket)
        response = await http.request(
            method, path.format(account_id=trader.account_id), json=body, headers=trader.headers
        )
        assert response.status_code == status, response.text
        answered = time.monotonic()
        try:
            closed = await until_closed(socket, timeout=REVOCATION_DEADLINE + 3)
        except TimeoutError:
            pytest.fail(
                f"the quote socket was still open {REVOCATION_DEADLINE + 3:.0f} s after "
                f"'{ending}' (no event reached the ticker)"
            )
        elapsed = time.monotonic() - answered
    print(f"\n[platform] {ending} -> ticker socket closed (1008) in {elapsed * 1000:.0f} ms")
    assert closed.code == POLICY_VIOLATION and closed.reason
    assert elapsed <= REVOCATION_DEADLINE


async def test_a_delegates_socket_closes_within_2_s_when_the_owner_freezes(platform, http, trader):
    delegate = await sign_up(http, platform.mail_dir)
    shared = await http.post(
        f"/v1/trading-accounts/{trader.account_id}/members",
        json={"email": delegate.email, "permissions": ["trade"]},
        headers=trader.headers,
    )
    assert shared.status_code == 201, shared.text
    async with connect(quotes_url(platform, delegate.access_token)) as socket:
        accounts, _ = await first_quote(socket)
        assert [a["account_id"] for a in accounts["accounts"]] == [trader.account_id]
        frozen = await http.post(
            "/v1/users/me/freeze", json={"password": trader.password}, headers=trader.headers
        )
        assert frozen.status_code == 200, frozen.text
        answered = time.monotonic()
        closed = await until_closed(socket, timeout=REVOCATION_DEADLINE + 3)
        elapsed = time.monotonic() - answered
    print(f"\n[platform] owner froze -> delegate's socket closed in {elapsed * 1000:.0f} ms")
    assert closed.code == POLICY_VIOLATION and "frozen" in closed.reason
    assert elapsed <= REVOCATION_DEADLINE
    async with connect(quotes_url(platform, delegate.access_token)) as socket:
        accounts = await receive_json(socket)
    assert accounts == {"type": "accounts", "accounts": []}  # frozen accounts are not streamed


def kid_of(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


async def test_key_rotation_in_the_middle_of_a_quote_stream(platform, http, trader):
    """Rotate the signing key while quotes flow: the open stream goes on, and tokens signed
    with the new key are accepted by the ticker and the backend without a failed request."""
    old_kid = kid_of(trader.access_token)
    received: list[float] = []
    async with connect(quotes_url(platform, trader.access_token)) as socket:
        await first_quote(socket)

        async def keep_reading():
            while True:
                message = await receive_json(socket, timeout=5)
                assert message["type"] == "quote", message
                received.append(time.monotonic())

        async with anyio.create_task_group() as reader:
            reader.start_soon(keep_reading)
            rotated_at = time.monotonic()
            output = await anyio.to_thread.run_sync(platform.cli, "keys", "rotate")
            assert "new signing key" in output
            # The service signs with the new key once it is published (may take a while).
            deadline = time.monotonic() + 120
            while kid_of(trader.access_token) == old_kid:
                assert time.monotonic() < deadline, "the service never signed with the new key"
                await anyio.sleep(1)
                await sign_in(http, trader)
            async with connect(quotes_url(platform, trader.access_token)) as second:
                await first_quote(second)
            async with httpx.AsyncClient(base_url=platform.config.url("backend")) as backend:
                positions = await backend.get("/api/positions", headers=trader.headers)
            assert positions.status_code == 200, positions.text
            await anyio.sleep(1)
            reader.cancel_scope.cancel()
    after = [t for t in received if t > rotated_at]
    assert len(after) >= 2, "the first stream stopped during the rotation"
    gaps = [b - a for a, b in itertools.pairwise(received)]
    assert max(gaps) < 3, f"the stream stalled for {max(gaps):.1f} s"


async def test_a_second_account_streams_too(platform, http, trader):
    first = trader.account_id
    second = await link_active_kite_account(http, platform.config.url("kite"), trader)
    async with connect(quotes_url(platform, trader.access_token)) as socket:
        accounts = await receive_json(socket)
        seen = set()
        with anyio.fail_after(10):
            while len(seen) < 2:
                message = await receive_json(socket)
                seen.add(message["account_id"])
    assert {a["account_id"] for a in accounts["accounts"]} == {first, second}
    assert seen == {first, second}
