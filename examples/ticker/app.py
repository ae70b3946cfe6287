"""Ticker service (port 8080): live quotes for a trader's own Kite accounts over a WebSocket.

``WS /ws/quotes?token=<access token>`` (or the ``bearer, <token>`` subprotocol pair):

1. The SDK authenticates the socket; a missing, invalid, expired or service token is
   accepted and then closed with 1008 and the reason.
2. The trader's active Kite accounts are listed with *their own* token
   (``GET /v1/trading-accounts`` on the User Service), so only accounts they own or share
   are considered.
3. Each account's credentials are released to this service *on behalf of* the trader
   (``credentials:read`` scope; the User Service audits the release in the owner's trail).
   They are handed to the quote source and dropped with the socket: never logged, never
   cached, never sent to the browser.
4. Quotes stream as JSON until the trader leaves, or the socket is closed with 1008 within
   2 s when the session is signed out (one device or everywhere), the user is disabled or
   frozen, an account is unlinked, its owner freezes it, or the trader's shared access ends
   (removed, left, changed, or its ``expires_at`` passed: the socket re-checks at that time).

Messages: ``{"type": "accounts", "accounts": [{"account_id", "user_id_broker"}]}``, then
``{"type": "quote", "account_id", "symbol", "last_price", "timestamp"}``; an account that
cannot stream sends ``{"type": "account_error", "account_id", "code"}``.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import uvicorn
from fastapi import FastAPI, WebSocket
from quantagro_auth import AuthClient, AuthError, UserPrincipal
from quantagro_auth.events import Event
from quantagro_auth.fastapi import (
    auth_exception_handlers,
    close_websocket,
    get_auth_client,
    guard_websocket,
    install,
    websocket_principal,
)
from quantagro_auth.log_filters import hide_query_strings
from quotes import BrokerSession, KitePollingSource, QuoteSource, QuoteSourceError

USER_SERVICE_URL = os.environ.get("USER_SERVICE_URL", "http://127.0.0.1:8001")
SYMBOLS = os.environ.get("TICKER_SYMBOLS", "NSE:INFY,NSE:TCS,NSE:RELIANCE").split(",")

# Account events after which the released credentials must not be used any more
# (docs/trading-accounts.md, "Audit and events"), with the close reason the trader sees.
ACCOUNT_ENDED = {
    "trading_account.unlinked": "Trading account unlinked",
    "trading_account.credentials_rotated": "Trading account credentials changed",
    "trading_account.expired": "Trading account session expired",
    "trading_account.member_removed": "Access to the trading account was removed",
    "trading_account.member_updated": "Access to the trading account changed",
    "user.frozen": "Trading on this account is frozen",
}
GRANT_ENDED = "Access to the trading account ended"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with (
        AuthClient.from_discovery(
            USER_SERVICE_URL,
            client_id=os.environ.get("CLIENT_ID", "ticker_service"),
            client_secret=os.environ.get("CLIENT_SECRET"),
            redis_url=os.environ.get("REDIS_URL") or None,
            redis_prefix=os.environ.get("REDIS_KEY_PREFIX", "qus"),
        ) as auth,
        httpx.AsyncClient(timeout=5) as http,
    ):
        install(app, auth)  # app.state + {"detail", "code"} for every auth error
        app.state.http = http
        # Production: KiteTickerSource(instrument_tokens), Kite's streaming WebSocket.
        app.state.quotes = KitePollingSource(
            http, os.environ.get("KITE_API_BASE_URL", "https://api.kite.trade")
        )
        yield


app = FastAPI(
    title="Quantagro ticker service (example)",
    lifespan=lifespan,
    exception_handlers=auth_exception_handlers(),
)


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.websocket("/ws/quotes")
async def quotes(websocket: WebSocket) -> None:
    user = await websocket_principal(websocket)
    if user is None:
        return  # already accepted and closed with 1008 and the reason
    auth = get_auth_client(websocket)
    ended = AccountWatch(user)
    unsubscribe = auth.on_event(ended.on_event, *ACCOUNT_ENDED)
    try:
        # The guard closes with 1008 on a revoked session or a disabled user, reads renewals
        # ({"type": "renew", "token": ...}) and ends the block when the client leaves.
        async with guard_websocket(websocket, user, read_messages=True):
            accounts = await active_kite_accounts(websocket.app.state.http, user)
            ended.account_ids = {account["account_id"] for account in accounts}
            await websocket.send_json({"type": "accounts", "accounts": accounts})
            async with anyio.create_task_group() as streams:
                for account in accounts:
                    streams.start_soon(stream_account, websocket, user, account["account_id"])
                # A shared grant that ends needs no event: close when its time comes.
                ends = [a["expires_at"] for a in accounts if a.get("expires_at")]
                if ends:
                    streams.start_soon(ended.end_at, min(ends))
                await ended.reason_set.wait()
                streams.cancel_scope.cancel()
            await close_websocket(websocket, ended.reason or "Trading account unavailable")
    finally:
        unsubscribe()


class AccountWatch:
    """Notices the events that end one of this socket's accounts for this trader."""

    def __init__(self, user: UserPrincipal) -> None:
        self.user_id = user.user_id
        self.account_ids: set[str] = set()
        self.reason: str | None = None
        self.reason_set = anyio.Event()

    def on_event(self, event: Event) -> None:
        if event.type == "user.frozen":
            # The owner of one of these accounts froze it (the trader's own freeze closes the
            # socket through the SDK's guard already).
            frozen = {str(account) for account in event.payload.get("account_ids") or []}
            if frozen & self.account_ids:
                self._end(ACCOUNT_ENDED[event.type])
            return
        account_id = event.get("account_id") or event.aggregate_id
        if account_id not in self.account_ids:
            return
        member = event.get("member_user_id")
        if event.type.startswith("trading_account.member_") and member != self.user_id:
            return  # someone else's access changed
        self._end(ACCOUNT_ENDED[event.type])

    async def end_at(self, expires_at: str) -> None:
        """Close when the earliest shared grant of this socket ends."""
        when = dt.datetime.fromisoformat(expires_at)
        await anyio.sleep(max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds()))
        self._end(GRANT_ENDED)

    def _end(self, reason: str) -> None:
        self.reason = self.reason or reason
        self.reason_set.set()


async def active_kite_accounts(
    http: httpx.AsyncClient, user: UserPrincipal
) -> list[dict[str, Any]]:
    """The trader's active Kite accounts, asked with the trader's own token."""
    response = await http.get(
        f"{USER_SERVICE_URL}/v1/trading-accounts",
        params={"limit": 100},
        headers={"Authorization": f"Bearer {user.token}"},
    )
    response.raise_for_status()
    return [
        {
            "account_id": item["account_id"],
            "user_id_broker": item["user_id_broker"],
            "expires_at": item.get("expires_at"),
        }
        for item in response.json()["items"]
        if item["status"] == "active" and item["broker"] == "kite" and not item.get("frozen")
    ]


async def stream_account(websocket: WebSocket, user: UserPrincipal, account_id: str) -> None:
    auth = get_auth_client(websocket)
    source: QuoteSource = websocket.app.state.quotes
    try:
        released = await auth.release_credentials(account_id, on_behalf_of=user.user_id)
        # Only the quote source holds the credentials, for this socket's life.
        session = BrokerSession(released.api_key, released.access_token)
        del released
        async for quote in source.stream(session, SYMBOLS):
            await websocket.send_json(
                {
                    "type": "quote",
                    "account_id": account_id,
                    "symbol": quote.symbol,
                    "last_price": quote.last_price,
                    "timestamp": quote.timestamp.isoformat(),
                }
            )
    except (AuthError, QuoteSourceError) as exc:
        code = exc.code if isinstance(exc, AuthError) else "quote_feed_failed"
        await websocket.send_json({"type": "account_error", "account_id": account_id, "code": code})


if __name__ == "__main__":
    hide_query_strings()  # uvicorn would log ?token=<access token> of a WebSocket
    uvicorn.run(
        app,
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8080")),
        log_level="info",
    )
