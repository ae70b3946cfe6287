"""Kite Connect login: the login URL of an account's app, and the hand-off of Kite's
``request_token`` for the day's access token (docs/trading-accounts.md, "The Kite hand-off").
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from user_service.audit.service import RequestContext
from user_service.db import commit_before_slow_call, utcnow
from user_service.exceptions import Conflict
from user_service.models import TradingAccount, TradingAccountStatus, User
from user_service.state import AppServices
from user_service.trading_accounts import repository, vault
from user_service.trading_accounts.accounts import (
    account_out,
    announce,
    broker_for,
    compare_and_set,
    open_vault,
    take_over,
    user_actor,
    with_account,
)
from user_service.trading_accounts.rights import (
    load_access,
    require_not_frozen,
    require_permission,
)
from user_service.trading_accounts.schemas import KiteLoginUrlOut, VerificationOut

REDIRECT_PARAM = "account_id"
"""Sent through Kite's ``redirect_params``: the frontend's callback learns which account."""


def _require_kite(account: TradingAccount) -> None:
    if account.broker != "kite":
        raise Conflict("This is not a Kite Connect account.", code="wrong_broker")


async def kite_login_url(
    db: AsyncSession,
    services: AppServices,
    user: User,
    account_id: uuid.UUID,
    context: RequestContext,
) -> KiteLoginUrlOut:
    """Kite's login page for the account's app; the account id comes back on the redirect."""
    access = await load_access(db, account_id, user)
    require_permission(access, "manage")
    require_not_frozen(access, user)
    account = access.account
    _require_kite(account)
    broker = broker_for(services, account.broker)
    credentials = await open_vault(db, services, account, actor=user_actor(user), context=context)
    url = broker.login_url(credentials.api_key, {REDIRECT_PARAM: str(account.id)})
    return KiteLoginUrlOut(account_id=str(account.id), login_url=url)


async def exchange_kite_session(
    db: AsyncSession,
    services: AppServices,
    user: User,
    account_id: uuid.UUID,
    request_token: str,
    context: RequestContext,
) -> VerificationOut:
    """Trade Kite's ``request_token`` for the day's access token and activate the account.

    Kite's answer is authenticated by the checksum over the api secret and names the broker
    user who logged in, so it is as good a check as ``GET /user/profile``: when that user is
    the account's, the token is sealed and the account becomes ``active`` at once. A login as
    another broker user stores nothing (409 ``broker_user_mismatch``).
    """
    access = await load_access(db, account_id, user)
    require_permission(access, "manage")
    require_not_frozen(access, user)
    account = access.account
    _require_kite(account)
    broker = broker_for(services, account.broker)
    expected_blob = account.credentials_sealed
    credentials = await open_vault(db, services, account, actor=user_actor(user), context=context)
    previous_status = account.status
    await commit_before_slow_call(db)

    session = await broker.exchange_request_token(
        credentials.api_key, credentials.api_secret, request_token
    )
    if session.user_id != account.user_id_broker:
        raise Conflict(
            f"Kite says this login was for broker user {session.user_id}, but the account "
            f"is {account.user_id_broker}. Log in to Kite as {account.user_id_broker}.",
            code="broker_user_mismatch",
        )
    now = utcnow()
    sealed = await vault.seal(
        services.key_provider, account.id, credentials.with_access_token(session.access_token)
    )
    await repository.lock_broker_identity(db, account.broker, account.user_id_broker)
    account = await compare_and_set(
        db,
        services,
        account.id,
        expected_blob,
        credentials,
        {
            "credentials_sealed": sealed,
            "status": TradingAccountStatus.ACTIVE,
            "verified_at": now,
            "identity_verified_at": account.identity_verified_at or now,
            "access_token_expires_at": session.expires_at,
            "updated_at": now,
        },
        same_token=False,
    )
    await take_over(db, account, user, context)
    await announce(
        db,
        "trading_account.verified",
        account,
        actor=user_actor(user),
        context=context,
        details={
            "previous_status": previous_status,
            "via": "kite_session",
            "access_token_expires_at": session.expires_at.isoformat(),
        },
    )
    return VerificationOut(**account_out(with_account(access, account)).model_dump(), reason=None)
