"""Backend (port 8081): F&O positions over REST and live indicators over a WebSocket.

It shows the migration from API keys to the User Service's tokens:

* ``GET /api/positions`` accepts a legacy ``X-API-Key`` *or* a bearer JWT (the JWT wins when
  both come) and says which one it used in ``auth_method``. JWT callers must also be allowed
  ``positions:read`` by the policy decision point; legacy keys predate the PDP and keep the
  access they always had until they are retired.
* ``POST /api/trading-accounts/{account_id}/orders`` places a (paper) order: a trading
  action, so the PDP must allow ``trading_account:trade`` on the account — the owner or a
  ``trade`` member, with a second factor proven in the last 5 minutes and the account not
  frozen. A stale second factor answers 403 ``step_up_required`` (the console asks for a code,
  steps up and retries); a frozen account 403 ``account_frozen``.
* ``WS /ws/indicators`` takes the token as ``?token=`` or as a ``bearer, <token>``
  subprotocol pair; the SDK accepts and then closes with 1008 when it is missing or bad, and
  closes an open socket within 2 s when its session is signed out elsewhere.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import os
import random
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

import anyio
import uvicorn
from fastapi import Depends, FastAPI, Request, WebSocket
from fastapi.middleware.cors import CORSMiddleware
from pydantic import BaseModel, ConfigDict, Field
from quantagro_auth import (
    AuthClient,
    AuthServiceUnavailable,
    InsufficientPermission,
    UserPrincipal,
)
from quantagro_auth.fastapi import (
    Auth,
    DualAuthResult,
    auth_exception_handlers,
    dual_auth,
    guard_websocket,
    install,
    require_permission,
    websocket_principal,
)
from quantagro_auth.log_filters import hide_query_strings


def load_legacy_keys(spec: str) -> dict[str, str]:
    """``LEGACY_API_KEYS=key:user_id,...`` → {SHA-256(key): user_id}; keys are not kept."""
    table = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        key, _, user_id = item.partition(":")
        table[hashlib.sha256(key.encode()).hexdigest()] = user_id
    return table


LEGACY_KEYS = load_legacy_keys(os.environ.get("LEGACY_API_KEYS", ""))


async def lookup_api_key(api_key: str) -> str | None:
    """The SDK calls this with the ``X-API-Key`` value; a real service queries its key table.

    Returns the legacy caller's user id, or ``None`` for an unknown key (401)."""
    return LEGACY_KEYS.get(hashlib.sha256(api_key.encode()).hexdigest())


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with AuthClient.from_discovery(
        os.environ.get("USER_SERVICE_URL", "http://127.0.0.1:8001"),
        client_id=os.environ.get("CLIENT_ID", "backend"),
        client_secret=os.environ.get("CLIENT_SECRET"),
        redis_url=os.environ.get("REDIS_URL") or None,
        redis_prefix=os.environ.get("REDIS_KEY_PREFIX", "qus"),
    ) as auth:
        install(app, auth)  # the client every SDK dependency uses
        yield


app = FastAPI(
    title="Quantagro backend (example)",
    lifespan=lifespan,
    # SDK errors as {"detail", "code"}: registered at creation (a lifespan is too late).
    exception_handlers=auth_exception_handlers(),
)
app.add_middleware(
    CORSMiddleware,
    allow_origins=[os.environ.get("FRONTEND_ORIGIN", "http://127.0.0.1:8001")],
    allow_methods=["GET", "POST"],
    allow_headers=["Authorization", "X-API-Key", "Content-Type"],
)

# JWT when an Authorization header comes (a bad one is a 401, never a fall-back to the key).
Caller = Annotated[DualAuthResult[str], Depends(dual_auth(lookup_api_key))]


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/api/positions")
async def positions(caller: Caller, auth: Auth) -> dict[str, Any]:
    if caller.user is not None:
        # What require_permission("positions:read") does, for the JWT half only: legacy keys
        # predate the PDP. The decision is cached for its ttl; no answer means no access.
        decision = await auth.check("positions:read", token=caller.user.token)
        if decision.unavailable:
            raise AuthServiceUnavailable(decision.reason, code="decision_unavailable")
        if not decision.allowed:
            raise InsufficientPermission(decision.reason or None)
        user_id = caller.user.user_id
    else:
        user_id = str(caller.legacy)
    return {
        "auth_method": caller.auth_method,
        "user_id": user_id,
        "positions": demo_positions(user_id),
    }


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    symbol: str = Field(pattern=r"^[A-Z0-9][A-Z0-9:&_.-]{0,39}$")
    side: Literal["BUY", "SELL"]
    quantity: int = Field(gt=0, le=100_000)


def account_resource(request: Request) -> str:
    return f"trading_account:{request.path_params['account_id']}"


# The PDP decides: owner or trade member, MFA within 5 minutes (step-up), nothing frozen.
Trader = Annotated[
    UserPrincipal, Depends(require_permission("trading_account:trade", account_resource))
]


@app.post("/api/trading-accounts/{account_id}/orders", status_code=201)
async def place_order(account_id: uuid.UUID, body: OrderIn, trader: Trader) -> dict[str, Any]:
    """A paper order: accepted and echoed, never sent to the broker (this is an example)."""
    return {
        "order_id": uuid.uuid4().hex[:12],
        "account_id": str(account_id),
        "symbol": body.symbol,
        "side": body.side,
        "quantity": body.quantity,
        "status": "accepted",
        "placed_by": trader.user_id,
        "placed_at": dt.datetime.now(dt.UTC).isoformat(),
    }


@app.websocket("/ws/indicators")
async def indicators(websocket: WebSocket) -> None:
    user = await websocket_principal(websocket)
    if user is None:
        return  # already accepted and closed with 1008 and the reason
    # read_messages: the guard reads the client's messages (token renewals) and ends the
    # block when the client leaves; it closes with 1008 when the session is revoked.
    async with guard_websocket(websocket, user, read_messages=True):
        rng = random.Random(user.user_id)  # noqa: S311 - made-up demo values
        rsi, macd = 50.0, 0.0
        while True:
            rsi = min(100.0, max(0.0, rsi + rng.uniform(-2, 2)))
            macd += rng.uniform(-0.3, 0.3)
            await websocket.send_json(
                {
                    "type": "indicator",
                    "symbol": "NIFTY",
                    "rsi_14": round(rsi, 2),
                    "macd": round(macd, 3),
                }
            )
            await anyio.sleep(1)


def demo_positions(user_id: str) -> list[dict[str, Any]]:
    """Made-up F&O positions, stable per user, with a price that moves a little."""
    rng = random.Random(user_id)  # noqa: S311 - made-up demo values
    wave = math.sin(anyio.current_time() / 10)
    rows = []
    for symbol in ("NIFTY24DECFUT", "BANKNIFTY24DEC52000CE", "RELIANCE24DECFUT"):
        quantity = rng.choice([-75, -50, 25, 50, 75])
        average = round(rng.uniform(100, 25000), 2)
        last = round(average * (1 + 0.02 * wave + rng.uniform(-0.01, 0.01)), 2)
        rows.append(
            {
                "symbol": symbol,
                "quantity": quantity,
                "average_price": average,
                "last_price": last,
                "pnl": round((last - average) * quantity, 2),
            }
        )
    return rows


if __name__ == "__main__":
    hide_query_strings()  # uvicorn would log ?token=<access token> of a WebSocket
    uvicorn.run(
        app,
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8081")),
        log_level="info",
    )
