"""Alert service (port 8082): each trader's price alerts, scoped by the token's user id.

* ``user_id`` always comes from the verified access token (``CurrentUser``), never from the
  request body or the URL, and every query filters on it (see ``store.py``).
* Creating an alert also asks the User Service's policy decision point
  (``require_permission("alerts:create")``); reading and changing one's own alerts needs only
  a valid token, because the query itself is the ownership check.
* Errors use the platform's shape ``{"detail", "code"}``; bad input is 422 ``validation_error``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

import store
import uvicorn
from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from quantagro_auth import AuthClient
from quantagro_auth.fastapi import (
    CurrentUser,
    auth_exception_handlers,
    install,
    require_permission,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

DEFAULT_DATABASE = Path(__file__).resolve().parent / "data" / "alerts.db"
DATABASE_URL = os.environ.get("ALERTS_DATABASE_URL", f"sqlite+aiosqlite:///{DEFAULT_DATABASE}")


class AlertIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    symbol: str = Field(pattern=r"^[A-Z0-9:&_.-]{1,32}$", examples=["NSE:INFY"])
    condition: Literal["above", "below"]
    price: float = Field(gt=0, lt=10_000_000)
    note: str | None = Field(default=None, max_length=200)


class AlertPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    symbol: str | None = Field(default=None, pattern=r"^[A-Z0-9:&_.-]{1,32}$")
    condition: Literal["above", "below"] | None = None
    price: float | None = Field(default=None, gt=0, lt=10_000_000)
    note: str | None = Field(default=None, max_length=200)
    active: bool | None = None  # false pauses the alert


class AlertNotFound(Exception):
    pass


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    if DATABASE_URL.startswith("sqlite") and "///" in DATABASE_URL:
        Path(DATABASE_URL.split("///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(DATABASE_URL)
    await store.create_schema(engine)
    app.state.sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with AuthClient.from_discovery(
        os.environ.get("USER_SERVICE_URL", "http://127.0.0.1:8001"),
        client_id=os.environ.get("CLIENT_ID", "alert_service"),
        client_secret=os.environ.get("CLIENT_SECRET"),
        redis_url=os.environ.get("REDIS_URL") or None,
        redis_prefix=os.environ.get("REDIS_KEY_PREFIX", "qus"),
    ) as auth:
        install(app, auth)  # the client every SDK dependency uses
        yield
    await engine.dispose()


app = FastAPI(
    title="Quantagro alert service (example)",
    lifespan=lifespan,
    # SDK errors as {"detail", "code"}: registered at creation (a lifespan is too late).
    exception_handlers=auth_exception_handlers(),
)
app.add_middleware(
    CORSMiddleware,
    allow_origins=[os.environ.get("FRONTEND_ORIGIN", "http://127.0.0.1:8001")],
    allow_methods=["GET", "POST", "PATCH", "DELETE"],
    allow_headers=["Authorization", "Content-Type"],
)


async def db_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed when the endpoint returns without error."""
    async with request.app.state.sessions() as session, session.begin():
        yield session


Db = Annotated[AsyncSession, Depends(db_session)]


@app.exception_handler(RequestValidationError)
async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [
        {"field": ".".join(str(part) for part in error["loc"][1:]), "message": error["msg"]}
        for error in exc.errors()
    ]
    return JSONResponse(
        {"detail": "The request is not valid.", "code": "validation_error", "errors": errors},
        status_code=422,
    )


@app.exception_handler(AlertNotFound)
async def alert_not_found(_: Request, __: AlertNotFound) -> JSONResponse:
    return JSONResponse({"detail": "No such alert.", "code": "alert_not_found"}, status_code=404)


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/alerts", status_code=201, dependencies=[Depends(require_permission("alerts:create"))])
async def create_alert(body: AlertIn, user: CurrentUser, db: Db) -> dict[str, Any]:
    alert = await store.add(db, user.user_id, body.model_dump())
    return alert.to_dict()


@app.get("/alerts")
async def list_alerts(
    user: CurrentUser,
    db: Db,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,18}$")] = None,
) -> dict[str, Any]:
    rows, last = await store.page(
        db, user.user_id, after=int(cursor) if cursor else None, limit=limit
    )
    return {"items": [row.to_dict() for row in rows], "next_cursor": str(last) if last else None}


@app.get("/alerts/{alert_id}")
async def get_alert(alert_id: str, user: CurrentUser, db: Db) -> dict[str, Any]:
    return (await _own_alert(db, user.user_id, alert_id)).to_dict()


@app.patch("/alerts/{alert_id}")
async def update_alert(
    alert_id: str, body: AlertPatch, user: CurrentUser, db: Db
) -> dict[str, Any]:
    alert = await _own_alert(db, user.user_id, alert_id)
    changes = body.model_dump(exclude_unset=True)
    if any(changes.get(name, "") is None for name in ("symbol", "condition", "price", "active")):
        raise RequestValidationError(
            [{"loc": ("body",), "msg": "symbol, condition, price and active cannot be null"}]
        )
    return (await store.update(db, alert, changes)).to_dict()


@app.delete("/alerts/{alert_id}", status_code=204)
async def delete_alert(alert_id: str, user: CurrentUser, db: Db) -> Response:
    await store.delete(db, await _own_alert(db, user.user_id, alert_id))
    return Response(status_code=204)


async def _own_alert(db: AsyncSession, user_id: str, alert_id: str) -> store.Alert:
    """The caller's alert, or 404 — the same answer whether it is someone else's or absent."""
    alert = await store.get(db, user_id, alert_id)
    if alert is None:
        raise AlertNotFound
    return alert


if __name__ == "__main__":
    uvicorn.run(
        app,
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8082")),
        log_level="info",
    )
