"""Helpers of the decision-point HTTP tests: asking, trading accounts, step-up tokens."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
from fastapi import FastAPI

from tests.admin.support import db_session
from tests.fixtures.users import TestUser
from user_service.authz.invalidation import invalidate_decisions
from user_service.models import TradingAccount, TradingAccountMembership


async def ask(
    client: httpx.AsyncClient, headers: dict[str, str], permission: str, **body: Any
) -> dict[str, Any]:
    response = await client.post(
        "/v1/authz/check", json={"permission": permission, **body}, headers=headers
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def trading_account(app: FastAPI, owner_id: str) -> str:
    async with db_session(app) as db:
        account = TradingAccount(
            id=uuid.uuid4(),
            owner_user_id=uuid.UUID(owner_id),
            broker="kite",
            user_id_broker=f"ZX{uuid.uuid4().hex[:8]}",
            api_key_masked="abcd…wxyz",
        )
        db.add(account)
    return str(account.id)


async def share(app: FastAPI, account_id: str, user_id: str, permissions: list[str]) -> None:
    """Add a membership the way the trading-accounts domain does (and invalidate like it)."""
    async with db_session(app) as db:
        db.add(
            TradingAccountMembership(
                account_id=uuid.UUID(account_id),
                user_id=uuid.UUID(user_id),
                permissions=permissions,
            )
        )
        invalidate_decisions(db, account_ids=[uuid.UUID(account_id)])


async def stepped_up_headers(app: FastAPI, user: TestUser, mfa_age_seconds: int) -> dict[str, str]:
    """The access token a step-up would mint: same session, ``mfa_at`` that long ago."""
    services = app.state.services
    claims = await services.tokens.decode(user.access_token, expected="user")
    now = dt.datetime.now(dt.UTC)
    issued = await services.tokens.issue_user_token(
        user_id=uuid.UUID(user.user_id),
        session_id=uuid.UUID(claims["sid"]),
        email=user.email,
        email_verified=False,
        roles=["user"],
        trading_accounts=[],
        mfa=True,
        auth_time=now,
        mfa_at=now - dt.timedelta(seconds=mfa_age_seconds),
        now=now,
    )
    return {"Authorization": f"Bearer {issued.token}"}
