"""A minimal SDK-guarded WebSocket app for `make bench` (revocation propagation).

``WS /ws?token=…`` is authenticated by the SDK and guarded: the SDK closes it with 1008 once
the session is revoked. With ``REDIS_URL`` the SDK follows the Redis event stream, without it
the HTTP feed ``GET /v1/events`` (client credentials with ``events:read``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, WebSocket
from quantagro_auth import AuthClient
from quantagro_auth.fastapi import (
    auth_exception_handlers,
    guard_websocket,
    install,
    websocket_principal,
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with AuthClient.from_discovery(
        os.environ["USER_SERVICE_URL"],
        client_id=os.environ.get("CLIENT_ID"),
        client_secret=os.environ.get("CLIENT_SECRET"),
        redis_url=os.environ.get("REDIS_URL") or None,
        redis_prefix=os.environ.get("REDIS_KEY_PREFIX", "qus"),
    ) as auth:
        install(app, auth)
        await auth.wait_until_ready(10)
        yield


app = FastAPI(lifespan=lifespan, exception_handlers=auth_exception_handlers())


@app.get("/ready")
async def ready() -> dict[str, bool]:
    auth: AuthClient = app.state.quantagro_auth
    return {"ready": auth.revocations.ready.is_set()}


@app.websocket("/ws")
async def ws(websocket: WebSocket) -> None:
    principal = await websocket_principal(websocket)
    if principal is None:
        return
    async with guard_websocket(websocket, principal):
        await websocket.send_json({"type": "ready"})
        await asyncio.Event().wait()  # until the guard closes it
