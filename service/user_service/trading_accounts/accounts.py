"""Trading accounts: link, list, rotate, verify, unlink (docs/trading-accounts.md).

Also what the other seams (``kite_login``, ``sharing``, ``release``) build on: the statuses,
the account's trail (``announce``), opening its vault, and writing what a broker concluded.

Status machine (docs/trading-accounts.md)::

    link / rotate ──▶ pending_verification ──kite session or verify──▶ active
                                  │                                     │ token flushed (06:00 IST)
                                  └──verify rejected──▶ invalid          ▼
                                                         expired ◀──verify rejected / release
    any status ──kite session (same broker user)──▶ active;  unlink ──▶ (row deleted)

Broker calls never run inside a database transaction (on SQLite every transaction holds the
write lock): ``db.commit_before_slow_call`` ends the request's reads first, and what the
broker concluded is written with compare-and-set on the sealed credentials, so a rotation or
unlink that happened meanwhile wins.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from user_service.audit import service as audit
from user_service.audit.service import RequestContext
from user_service.authz.invalidation import invalidate_decisions
from user_service.db import commit_before_slow_call, utcnow
from user_service.events.outbox import emit
from user_service.exceptions import BadRequest, Conflict, Forbidden, ServiceUnavailable
from user_service.kit.pagination import decode_cursor, encode_cursor
from user_service.models import TradingAccount, TradingAccountStatus, User
from user_service.state import AppServices
from user_service.trading_accounts import repository, vault
from user_service.trading_accounts.brokers.base import Broker, BrokerAuthError
from user_service.trading_accounts.rights import (
    ALL_PERMISSIONS,
    UNCONFIRMED_LINK_TTL,
    AccountAccess,
    account_frozen,
    account_not_found,
    effective_permissions,
    load_access,
    require_not_frozen,
    require_permission,
)
from user_service.trading_accounts.schemas import (
    AccountOut,
    CredentialsIn,
    LinkIn,
    OwnerOut,
    VerificationOut,
)
from user_service.trading_accounts.vault import Credentials
from user_service.users import repository as users_repository

_CAS_ATTEMPTS = 3


def _changed() -> Conflict:
    return Conflict(
        "The account's credentials changed while the broker was being asked; try again.",
        code="trading_account_changed",
    )


def user_actor(user: User) -> str:
    """The ``actor`` of audit rows and events caused by a user's request."""
    return f"user:{user.id}"


def broker_for(services: AppServices, name: str) -> Broker:
    """This instance's adapter for ``name`` (503 ``broker_not_configured`` when it has none)."""
    broker = services.brokers.get(name)
    if broker is None:
        raise ServiceUnavailable(
            f"The broker '{name}' is not configured on this instance.", code="broker_not_configured"
        )
    return broker


async def _drop_unconfirmed_links(
    db: AsyncSession,
    links: Sequence[TradingAccount],
    event_type: str,
    *,
    actor: str,
    context: RequestContext | None,
    details: dict[str, Any],
) -> None:
    """Delete links that lost their claim to a broker account, audited in their owners' trails."""
    for stale in links:
        members = await repository.member_ids(db, stale.id)
        await announce(db, event_type, stale, actor=actor, context=context, details=details)
        await repository.delete_account(db, stale.id)
        invalidate_decisions(db, user_ids=[stale.owner_user_id, *members], account_ids=[stale.id])


async def take_over(
    db: AsyncSession, account: TradingAccount, user: User, context: RequestContext
) -> None:
    """The broker confirmed this account's identity: other unconfirmed claims to it end."""
    rivals = await repository.unconfirmed_links(
        db, account.broker, account.user_id_broker, exclude=account.id
    )
    await _drop_unconfirmed_links(
        db,
        rivals,
        "trading_account.link_taken_over",
        actor=user_actor(user),
        context=context,
        details={"reason": "broker_identity_confirmed_elsewhere", "by_account": str(account.id)},
    )


def account_out(access: AccountAccess) -> AccountOut:
    account = access.account
    return AccountOut(
        account_id=str(account.id),
        broker=account.broker,
        user_id_broker=account.user_id_broker,
        status=account.status,
        created_at=account.created_at,
        role=access.role,
        permissions=list(access.permissions),
        api_key_masked=account.api_key_masked,
        verified_at=account.verified_at,
        access_token_expires_at=account.access_token_expires_at,
        frozen=access.frozen,
        expires_at=access.expires_at,
    )


async def announce(
    db: AsyncSession,
    event_type: str,
    account: TradingAccount,
    *,
    actor: str,
    context: RequestContext | None,
    details: dict[str, Any] | None = None,
    risk_score: int = 0,
) -> None:
    """Audit row (in the owner's trail) and outbox event, in the change's transaction.

    Never a secret: ids, statuses and permission names only.
    """
    facts = {
        "account_id": str(account.id),
        "broker": account.broker,
        # So a trail reads "ZX1234", not a UUID, also after the account is unlinked.
        "user_id_broker": account.user_id_broker,
        **(details or {}),
    }
    await audit.record(
        db,
        event_type,
        context=context,
        user_id=account.owner_user_id,
        actor=actor,
        risk_score=risk_score,
        details=facts,
    )
    emit(
        db,
        event_type,
        aggregate_type="trading_account",
        aggregate_id=account.id,
        payload={
            **facts,
            "owner_user_id": str(account.owner_user_id),
            "user_id_broker": account.user_id_broker,
            "status": account.status,
            "actor": actor,
        },
    )


async def open_vault(
    db: AsyncSession,
    services: AppServices,
    account: TradingAccount,
    *,
    actor: str,
    context: RequestContext | None,
) -> Credentials:
    """Open the vault; a blob that does not open is audited (kept) as a possible tampering."""
    try:
        return await vault.open_credentials(
            services.key_provider, account.id, account.credentials_sealed
        )
    except vault.CredentialsUnreadable as exc:
        await audit.record(
            db,
            "trading_account.credentials_unreadable",
            context=context,
            user_id=account.owner_user_id,
            actor=actor,
            risk_score=80,
            details={
                "account_id": str(account.id),
                "broker": account.broker,
                "user_id_broker": account.user_id_broker,
            },
        )
        exc.commit = True
        raise


async def compare_and_set(
    db: AsyncSession,
    services: AppServices,
    account_id: uuid.UUID,
    expected_blob: bytes | None,
    used: Credentials,
    values: dict[str, Any],
    *,
    same_token: bool,
) -> TradingAccount:
    """Write ``values`` if the credentials the broker saw are still the stored ones.

    A blob that differs only because a master-key rotation re-wrapped it (or, for a login
    exchange, because another token was stored meanwhile) still counts as the same.
    """
    for _ in range(_CAS_ATTEMPTS):
        try:
            updated = await repository.update_if_unchanged(db, account_id, expected_blob, **values)
        except IntegrityError:
            # Confirming a broker identity that another link confirmed first (a partial
            # unique index): that link keeps it.
            raise _already_linked() from None
        if updated:
            account = await repository.get(db, account_id)
            if account is None:  # pragma: no cover - deleted between two statements
                raise account_not_found()
            return account
        current = await repository.get(db, account_id)
        if current is None:
            raise account_not_found()
        if current.credentials_sealed is None:
            raise _changed()
        now_stored = await vault.open_credentials(
            services.key_provider, account_id, current.credentials_sealed
        )
        if (now_stored.api_key, now_stored.api_secret) != (used.api_key, used.api_secret) or (
            same_token and now_stored.access_token != used.access_token
        ):
            raise _changed()
        expected_blob = current.credentials_sealed
    raise _changed()


def with_account(access: AccountAccess, account: TradingAccount) -> AccountAccess:
    """The caller's access to ``account`` as re-read after a compare-and-set."""
    return dataclasses.replace(access, account=account)


async def link(
    db: AsyncSession, services: AppServices, user: User, body: LinkIn, context: RequestContext
) -> AccountOut:
    """Seal the credentials under a new account id; the account waits for verification."""
    if not user.email_verified:
        raise Forbidden(
            "Verify your email address before linking a trading account.",
            code="email_not_verified",
        )
    if user.frozen:
        raise account_frozen(
            "Your account is frozen: unfreeze it before linking a trading account."
        )
    broker_for(services, body.broker)
    # Only a link whose broker identity was confirmed blocks another: an unconfirmed one
    # (anyone can type a trader's Kite user id) never locks the real owner out.
    if await repository.confirmed_for_broker_user(db, body.broker, body.user_id_broker):
        raise _already_linked()
    now = utcnow()
    await _drop_unconfirmed_links(
        db,
        await repository.unconfirmed_links(
            db, body.broker, body.user_id_broker, created_before=now - UNCONFIRMED_LINK_TTL
        ),
        "trading_account.link_expired",
        actor="system",
        context=None,
        details={"reason": "broker_identity_not_confirmed_within_24h"},
    )
    account_id = uuid.uuid4()
    credentials = Credentials(body.api_key, body.api_secret, body.access_token)
    account = TradingAccount(
        id=account_id,
        owner_user_id=user.id,
        broker=body.broker,
        user_id_broker=body.user_id_broker,
        status=TradingAccountStatus.PENDING_VERIFICATION,
        api_key_masked=vault.mask_api_key(body.api_key),
        credentials_sealed=await vault.seal(services.key_provider, account_id, credentials),
        created_at=now,
        updated_at=now,
    )
    if not await repository.insert(db, account):
        raise _already_linked()
    await announce(
        db,
        "trading_account.linked",
        account,
        actor=user_actor(user),
        context=context,
        details={"user_id_broker": account.user_id_broker, "access_token": bool(body.access_token)},
    )
    return account_out(AccountAccess(account, "owner", ALL_PERMISSIONS))


def _already_linked() -> Conflict:
    return Conflict(
        "This broker account is already linked to the User Service.",
        code="trading_account_already_linked",
    )


async def list_accounts(
    db: AsyncSession, user: User, *, limit: int, cursor: str | None
) -> tuple[list[AccountOut], str | None]:
    after = _decode_position(cursor)
    now = utcnow()
    rows = await repository.page_visible(
        db,
        user.id,
        after=after,
        limit=limit + 1,
        unconfirmed_since=now - UNCONFIRMED_LINK_TTL,
        now=now,
    )
    owners = await users_repository.get_many(
        db,
        [
            account.owner_user_id
            for account, _, _ in rows[:limit]
            if account.owner_user_id != user.id
        ],
    )
    items = []
    for account, membership, owner_frozen in rows[:limit]:
        frozen = user.frozen or owner_frozen
        if account.owner_user_id == user.id:
            access = AccountAccess(account, "owner", ALL_PERMISSIONS, frozen=frozen)
        else:
            granted = membership.permissions if membership else []
            access = AccountAccess(
                account,
                "member",
                effective_permissions(granted),
                frozen=frozen,
                expires_at=membership.expires_at if membership else None,
            )
        out = account_out(access)
        if (owner := owners.get(account.owner_user_id)) is not None:
            out.owner = OwnerOut(name=owner.name, email=owner.email)
        items.append(out)
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1][0]
        next_cursor = encode_cursor({"after": last.created_at.isoformat(), "id": str(last.id)})
    return items, next_cursor


def _decode_position(cursor: str | None) -> tuple[dt.datetime, uuid.UUID] | None:
    position = decode_cursor(cursor)
    if position is None:
        return None
    try:
        created_at = dt.datetime.fromisoformat(str(position["after"]))
        account_id = uuid.UUID(str(position["id"]))
    except (KeyError, ValueError) as exc:
        raise BadRequest("The cursor is not valid.", code="invalid_cursor") from exc
    if created_at.tzinfo is None:
        raise BadRequest("The cursor is not valid.", code="invalid_cursor")
    return created_at, account_id


async def get_account(db: AsyncSession, user: User, account_id: uuid.UUID) -> AccountOut:
    return account_out(await load_access(db, account_id, user))


async def rotate_credentials(
    db: AsyncSession,
    services: AppServices,
    user: User,
    account_id: uuid.UUID,
    body: CredentialsIn,
    context: RequestContext,
) -> AccountOut:
    """Re-seal new credentials (fresh data key); the account must be verified again."""
    access = await load_access(db, account_id, user)
    require_permission(access, "manage")
    require_not_frozen(access, user)
    account = access.account
    previous_status = account.status
    credentials = Credentials(body.api_key, body.api_secret, body.access_token)
    account.credentials_sealed = await vault.seal(services.key_provider, account.id, credentials)
    account.api_key_masked = vault.mask_api_key(body.api_key)
    account.status = TradingAccountStatus.PENDING_VERIFICATION
    account.verified_at = None
    account.access_token_expires_at = None
    account.updated_at = utcnow()
    await db.flush()
    await announce(
        db,
        "trading_account.credentials_rotated",
        account,
        actor=user_actor(user),
        context=context,
        details={"previous_status": previous_status, "access_token": bool(body.access_token)},
    )
    return account_out(access)


async def verify(
    db: AsyncSession,
    services: AppServices,
    user: User,
    account_id: uuid.UUID,
    context: RequestContext,
) -> VerificationOut:
    """Ask the broker whose access token this is: ``active``, ``invalid`` or ``expired``.

    A rejected token is ``expired`` when these credentials were verified before (the daily
    flush), ``invalid`` when they never worked. A token of another broker user is dropped
    and the account is ``invalid``. Broker faults (502/504) change nothing.
    """
    access = await load_access(db, account_id, user)
    require_permission(access, "manage")
    require_not_frozen(access, user)
    account = access.account
    broker = broker_for(services, account.broker)
    expected_blob = account.credentials_sealed
    credentials = await open_vault(db, services, account, actor=user_actor(user), context=context)
    if not credentials.access_token:
        raise Conflict(
            "This account has no access token yet: complete the broker login first "
            "(GET …/kite/login-url, then POST …/kite/session).",
            code="broker_login_required",
        )
    previous_status = account.status
    was_verified = account.verified_at is not None
    known_expiry = account.access_token_expires_at
    await commit_before_slow_call(db)

    now = utcnow()
    values: dict[str, Any] = {"updated_at": now}
    reason: str | None
    try:
        profile = await broker.fetch_profile(credentials.api_key, credentials.access_token)
    except BrokerAuthError as exc:
        values["status"] = (
            TradingAccountStatus.EXPIRED if was_verified else TradingAccountStatus.INVALID
        )
        reason = "access_token_expired" if was_verified else "credentials_rejected"
        error_type = exc.error_type
    else:
        error_type = None
        if profile.user_id == account.user_id_broker:
            values["status"] = TradingAccountStatus.ACTIVE
            values["verified_at"] = now
            values["identity_verified_at"] = account.identity_verified_at or now
            values["access_token_expires_at"] = known_expiry or broker.access_token_expiry(now)
            reason = None
        else:
            # Someone else's token: never keep it, never release it.
            values["status"] = TradingAccountStatus.INVALID
            values["credentials_sealed"] = await vault.seal(
                services.key_provider, account.id, credentials.with_access_token(None)
            )
            values["access_token_expires_at"] = None
            reason = "broker_user_mismatch"
    await repository.lock_broker_identity(db, account.broker, account.user_id_broker)
    account = await compare_and_set(
        db, services, account.id, expected_blob, credentials, values, same_token=True
    )
    if reason is None:
        await take_over(db, account, user, context)
    await announce(
        db,
        "trading_account.verified",
        account,
        actor=user_actor(user),
        context=context,
        details={
            "previous_status": previous_status,
            "via": "profile",
            "reason": reason,
            "error_type": error_type,
        },
        risk_score=30 if reason == "broker_user_mismatch" else 0,
    )
    return VerificationOut(**account_out(with_account(access, account)).model_dump(), reason=reason)


async def unlink(
    db: AsyncSession,
    services: AppServices,
    user: User,
    account_id: uuid.UUID,
    context: RequestContext,
) -> None:
    """Delete the account: its sealed credentials and every membership go with the row."""
    access = await load_access(db, account_id, user)
    require_permission(access, "manage")
    account = access.account
    members = await repository.member_ids(db, account.id)
    await announce(
        db,
        "trading_account.unlinked",
        account,
        actor=user_actor(user),
        context=context,
        details={"member_user_ids": sorted(str(m) for m in members)},
    )
    await repository.delete_account(db, account.id)
    invalidate_decisions(db, user_ids=[account.owner_user_id, *members], account_ids=[account.id])
