"""Helpers for the trading-account HTTP tests: verified users, service tokens, the Kite login."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from tests.fixtures.users import TestUser, signed_in_user
from tests.standins.kite import KiteApp
from user_service.db import utcnow
from user_service.models import AuthEvent, OutboxEvent, TradingAccount, User


@pytest.fixture
def settings_overrides(kite_url: str) -> dict[str, Any]:
    """Point the app at the session's Kite stand-in, with a short broker timeout (3 s: the
    stand-in shares a loaded CI machine; the fault tests make it slower than that)."""
    return {
        "kite_api_base_url": kite_url,
        "kite_login_url": f"{kite_url}/connect/login",
        "kite_timeout_seconds": 3.0,
    }


async def mark_email_verified(app: FastAPI, user: TestUser) -> None:
    """Email verification is another domain's flow: set the column directly."""
    async with app.state.services.sessionmaker() as db:
        await db.execute(
            update(User)
            .where(User.id == uuid.UUID(user.user_id))
            .values(email_verified_at=utcnow())
        )
        await db.commit()


async def verified_user(app: FastAPI, client: httpx.AsyncClient) -> TestUser:
    user = await signed_in_user(client)
    await mark_email_verified(app, user)
    return user


async def service_headers(
    app: FastAPI, scopes: list[str], client_id: str = "ticker_service"
) -> dict[str, str]:
    issued = await app.state.services.tokens.issue_service_token(
        client_id=client_id, scopes=scopes, now=utcnow()
    )
    return {"Authorization": f"Bearer {issued.token}"}


def link_body(kite_app: KiteApp, **overrides: Any) -> dict[str, Any]:
    return {
        "broker": "kite",
        "user_id_broker": kite_app.user_id,
        "api_key": kite_app.api_key,
        "api_secret": kite_app.api_secret,
        **overrides,
    }


async def link(
    client: httpx.AsyncClient, user: TestUser, kite_app: KiteApp, **overrides: Any
) -> dict[str, Any]:
    response = await client.post(
        "/v1/trading-accounts", json=link_body(kite_app, **overrides), headers=user.headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def kite_browser_login(login_url: str) -> dict[str, str]:
    """Open Kite's login page as the browser would; return the redirect's query."""
    async with httpx.AsyncClient() as browser:
        response = await browser.get(login_url)
    assert response.status_code == 302, response.text
    query = parse_qs(urlsplit(response.headers["location"]).query)
    return {name: values[0] for name, values in query.items()}


async def complete_kite_login(
    client: httpx.AsyncClient, user: TestUser, account_id: str
) -> httpx.Response:
    """login-url → Kite's page → redirect with request_token → session exchange."""
    url = await client.get(
        f"/v1/trading-accounts/{account_id}/kite/login-url", headers=user.headers
    )
    assert url.status_code == 200, url.text
    redirect = await kite_browser_login(url.json()["login_url"])
    assert redirect["account_id"] == account_id
    return await client.post(
        f"/v1/trading-accounts/{account_id}/kite/session",
        json={"request_token": redirect["request_token"]},
        headers=user.headers,
    )


async def linked_active_account(
    client: httpx.AsyncClient, user: TestUser, kite_app: KiteApp
) -> dict[str, Any]:
    account = await link(client, user, kite_app)
    response = await complete_kite_login(client, user, account["account_id"])
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "active"
    body: dict[str, Any] = response.json()
    return body


async def account_row(app: FastAPI, account_id: str) -> TradingAccount | None:
    async with app.state.services.sessionmaker() as db:
        return await db.get(TradingAccount, uuid.UUID(account_id))


async def set_account_columns(app: FastAPI, account_id: str, **values: Any) -> None:
    async with app.state.services.sessionmaker() as db:
        await db.execute(
            update(TradingAccount)
            .where(TradingAccount.id == uuid.UUID(account_id))
            .values(**values)
        )
        await db.commit()


async def audit_rows(app: FastAPI, event_type: str, account_id: str) -> list[AuthEvent]:
    async with app.state.services.sessionmaker() as db:
        rows = (
            await db.execute(
                select(AuthEvent).where(AuthEvent.event_type == event_type).order_by(AuthEvent.id)
            )
        ).scalars()
        return [row for row in rows if row.details.get("account_id") == account_id]


async def outbox_rows(app: FastAPI, account_id: str) -> list[OutboxEvent]:
    async with app.state.services.sessionmaker() as db:
        rows = await db.execute(
            select(OutboxEvent)
            .where(OutboxEvent.aggregate_type == "trading_account")
            .where(OutboxEvent.aggregate_id == account_id)
            .order_by(OutboxEvent.id)
        )
        return list(rows.scalars())


async def stored_text_mentioning(app: FastAPI, needles: list[str]) -> list[str]:
    """Every audit row and outbox event (as JSON) that contains one of ``needles``."""
    found = []
    async with app.state.services.sessionmaker() as db:
        for event in (await db.execute(select(AuthEvent))).scalars():
            text = json.dumps(
                {"details": event.details, "actor": event.actor, "ua": event.user_agent}
            )
            found += [f"auth_events {event.id}: {n}" for n in needles if n in text]
        for outbox in (await db.execute(select(OutboxEvent))).scalars():
            text = json.dumps(outbox.payload)
            found += [f"outbox_events {outbox.id}: {n}" for n in needles if n in text]
    return found
