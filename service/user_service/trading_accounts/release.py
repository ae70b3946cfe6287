"""Release to services: an active account's credentials for a service holding
``credentials:read`` (``internal_endpoints.py``; docs/trading-accounts.md, "Release to
services").
"""

from __future__ import annotations

import uuid

import structlog
from quantagro_auth.principals import ServicePrincipal
from sqlalchemy.ext.asyncio import AsyncSession

from user_service.audit import service as audit
from user_service.audit.service import RequestContext
from user_service.db import on_commit, utcnow
from user_service.exceptions import Conflict, Forbidden
from user_service.metrics import CREDENTIALS_RELEASED
from user_service.models import TradingAccount, TradingAccountStatus, User, UserStatus
from user_service.state import AppServices
from user_service.trading_accounts import repository
from user_service.trading_accounts.accounts import announce, open_vault
from user_service.trading_accounts.rights import (
    account_frozen,
    account_not_found,
    effective_permissions,
    grant_live,
)
from user_service.trading_accounts.schemas import ReleasedCredentialsOut
from user_service.users import repository as users_repository

log = structlog.get_logger(__name__)


async def release_credentials(
    db: AsyncSession,
    services: AppServices,
    client: ServicePrincipal,
    account_id: uuid.UUID,
    on_behalf_of: uuid.UUID | None,
    context: RequestContext,
) -> ReleasedCredentialsOut:
    """Hand an active account's credentials to a service holding ``credentials:read``.

    ``on_behalf_of`` narrows the release to a user the service acts for: that user must be
    active and own the account or hold a live ``trade`` grant on it. A frozen owner (or a
    frozen user acted for) is 409 ``account_frozen``. Every release is audited in the
    owner's trail and, for a delegate, in the delegate's too; it is counted per client.
    """
    actor = f"client:{client.client_id}"
    account = await repository.get(db, account_id)
    if account is None:
        raise account_not_found()
    acted_for: User | None = None
    if on_behalf_of is not None:
        acted_for = await _check_on_behalf_of(db, account, on_behalf_of)
    owner = await users_repository.get_by_id(db, account.owner_user_id)
    if owner is None or owner.status != UserStatus.ACTIVE:
        raise _not_active("The account's owner is not active.", account.status)
    if owner.frozen:
        raise account_frozen("The account's owner has frozen it: nothing is released.")
    if acted_for is not None and acted_for.frozen:
        raise account_frozen("The user the service acts for has frozen their account.")
    now = utcnow()
    expiry = account.access_token_expires_at
    if account.status == TradingAccountStatus.ACTIVE and expiry is not None and expiry <= now:
        # The broker flushed the token: say so now rather than hand out a dead token.
        account.status = TradingAccountStatus.EXPIRED
        account.updated_at = now
        await db.flush()
        await announce(
            db,
            "trading_account.expired",
            account,
            actor=actor,
            context=context,
            details={"access_token_expires_at": expiry.isoformat()},
        )
        raise _not_active(
            "The account's access token has expired; its owner must log in to the broker.",
            TradingAccountStatus.EXPIRED,
            commit=True,
        )
    if account.status != TradingAccountStatus.ACTIVE:
        raise _not_active(f"The account is {account.status}, not active.", account.status)
    credentials = await open_vault(db, services, account, actor=actor, context=context)
    if not credentials.access_token:  # pragma: no cover - an active account has a token
        raise _not_active("The account has no access token.", account.status)
    released = {
        "client_id": client.client_id,
        "account_id": str(account.id),
        "broker": account.broker,
        "on_behalf_of": str(on_behalf_of) if on_behalf_of else None,
    }
    await audit.record(
        db,
        "credentials.released",
        context=context,
        user_id=account.owner_user_id,
        actor=actor,
        details=released,
    )
    if on_behalf_of is not None and on_behalf_of != account.owner_user_id:
        # A delegate's trades are theirs to answer for too: the release is in both trails.
        await audit.record(
            db,
            "credentials.released",
            context=context,
            user_id=on_behalf_of,
            actor=actor,
            details={**released, "owner_user_id": str(account.owner_user_id)},
        )

    async def count() -> None:
        CREDENTIALS_RELEASED.labels(client.client_id).inc()

    on_commit(db, count)
    log.info("trading_account.released", account_id=str(account.id), client_id=client.client_id)
    return ReleasedCredentialsOut(
        account_id=str(account.id),
        broker=account.broker,
        user_id_broker=account.user_id_broker,
        api_key=credentials.api_key,
        api_secret=credentials.api_secret,
        access_token=credentials.access_token,
        access_token_expires_at=account.access_token_expires_at,
    )


def _not_active(message: str, status: str, *, commit: bool = False) -> Conflict:
    return Conflict(message, code="account_not_active", extra={"status": status}, commit=commit)


async def _check_on_behalf_of(
    db: AsyncSession, account: TradingAccount, user_id: uuid.UUID
) -> User:
    refused = Forbidden(
        "The user the service acts for may not trade with this account.",
        code="on_behalf_of_not_permitted",
    )
    user = await users_repository.get_by_id(db, user_id)
    if user is None or user.status != UserStatus.ACTIVE:
        raise refused
    if account.owner_user_id == user_id:
        return user
    membership = await repository.get_membership(db, account.id, user_id)
    live = membership is not None and grant_live(membership, utcnow())
    granted = effective_permissions(membership.permissions) if membership and live else ()
    if "trade" not in granted:
        raise refused
    return user
