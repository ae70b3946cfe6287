"""Trading accounts: link, list, Kite login, verify, rotate, share, unlink, release
(docs/trading-accounts.md).

Status machine (docs/trading-accounts.md)::

    link / rotate ──▶ pending_verification ──kite session or verify──▶ active
                                  │                                     │ token flushed (06:00 IST)
                                  └──verify rejected──▶ invalid          ▼
                                                         expired ◀──verify rejected / release
    any status ──kite session (same broker user)──▶ active;  unlink ──▶ (row deleted)

Who may do what: the owner holds every permission; a member holds the closure of what they
were granted (``manage`` ⊇ ``trade`` ⊇ ``view``, as the authorization engine reads it).
Anything about an account the caller neither owns nor shares is a 404, never a 403.

Broker calls never run inside a database transaction (on SQLite every transaction holds the
write lock); what they conclude is written with compare-and-set on the sealed credentials,
so a rotation or unlink that happened meanwhile wins.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import structlog
from quantagro_auth.principals import ServicePrincipal
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from user_service.audit import service as audit
from user_service.audit.service import RequestContext
from user_service.authz.catalog import ACCOUNT_PERMISSIONS, account_permission_implies
from user_service.authz.invalidation import invalidate_decisions
from user_service.db import on_commit, utcnow
from user_service.events.outbox import emit
from user_service.exceptions import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    ValidationFailed,
)
from user_service.kit.pagination import decode_cursor, encode_cursor
from user_service.metrics import CREDENTIALS_RELEASED
from user_service.models import TradingAccount, TradingAccountMembership, User
from user_service.state import AppServices
from user_service.trading_accounts import repository, vault
from user_service.trading_accounts.broker import Broker, BrokerAuthError
from user_service.trading_accounts.schemas import (
    AccountOut,
    CredentialsIn,
    KiteLoginUrlOut,
    LinkIn,
    MemberIn,
    MemberOut,
    OwnerOut,
    ReleasedCredentialsOut,
    VerificationOut,
)
from user_service.trading_accounts.vault import Credentials
from user_service.users import repository as users_repository

log = structlog.get_logger(__name__)

PENDING = "pending_verification"
# A link whose broker identity nobody confirmed (Kite login or profile check) lapses after
# this long, and is taken over at once by a link that confirms it (no squatting).
UNCONFIRMED_LINK_TTL = dt.timedelta(hours=24)
ACTIVE = "active"
INVALID = "invalid"
EXPIRED = "expired"
ALL_PERMISSIONS: tuple[str, ...] = tuple(ACCOUNT_PERMISSIONS)
REDIRECT_PARAM = "account_id"
"""Sent through Kite's ``redirect_params``: the frontend's callback learns which account."""
_CAS_ATTEMPTS = 3
MAX_GRANT_DAYS = 365
"""A grant with an end may end at most this far ahead (bounded sharing)."""
MIN_GRANT_SECONDS = 60
"""An end sooner than this is refused: it would be gone before anyone could use it."""


@dataclass(frozen=True)
class AccountAccess:
    """An account as one user sees it: their role and effective permissions."""

    account: TradingAccount
    role: Literal["owner", "member"]
    permissions: tuple[str, ...]
    frozen: bool = False
    """The owner, or the caller, froze their account: nothing on it may add or use access."""
    expires_at: dt.datetime | None = None
    """When a member's grant ends (None: until removed; always None for the owner)."""

    def allows(self, permission: str) -> bool:
        return any(account_permission_implies(held, permission) for held in self.permissions)


def effective_permissions(granted: Sequence[str]) -> tuple[str, ...]:
    """The closure of a grant, weakest first: ``["trade"]`` → ``("view", "trade")``."""
    return tuple(
        p for p in ALL_PERMISSIONS if any(account_permission_implies(g, p) for g in granted)
    )


def _not_found() -> NotFound:
    return NotFound("No such trading account.", code="trading_account_not_found")


def _changed() -> Conflict:
    return Conflict(
        "The account's credentials changed while the broker was being asked; try again.",
        code="trading_account_changed",
    )


def _actor(user: User) -> str:
    return f"user:{user.id}"


def _broker(services: AppServices, name: str) -> Broker:
    broker = services.brokers.get(name)
    if broker is None:
        raise ServiceUnavailable(
            f"The broker '{name}' is not configured on this instance.", code="broker_not_configured"
        )
    return broker


def _require(access: AccountAccess, permission: str) -> None:
    if not access.allows(permission):
        raise Forbidden(
            f"This needs the '{permission}' permission on the trading account.",
            code="account_permission_required",
        )


def _require_kite(account: TradingAccount) -> None:
    if account.broker != "kite":
        raise Conflict("This is not a Kite Connect account.", code="wrong_broker")


async def load_access(db: AsyncSession, account_id: uuid.UUID, user: User) -> AccountAccess:
    """The account if ``user`` owns it or holds a live grant on it; 404 otherwise (no
    existence leak: an expired grant is like none)."""
    now = utcnow()
    account = await repository.get(db, account_id)
    if account is None or _lapsed(account, now):
        raise _not_found()
    if account.owner_user_id == user.id:
        return AccountAccess(account, "owner", ALL_PERMISSIONS, frozen=user.frozen)
    membership = await repository.get_membership(db, account_id, user.id)
    if membership is None or not _live(membership, now):
        raise _not_found()
    frozen = user.frozen or await repository.owner_frozen(db, account.owner_user_id)
    return AccountAccess(
        account,
        "member",
        effective_permissions(membership.permissions),
        frozen=frozen,
        expires_at=membership.expires_at,
    )


def _live(membership: TradingAccountMembership, now: dt.datetime) -> bool:
    return membership.expires_at is None or membership.expires_at > now


def account_frozen(message: str = "Trading on this account is frozen.") -> Conflict:
    return Conflict(message, code="account_frozen", extra={"status": "frozen"})


def _require_not_frozen(access: AccountAccess, user: User) -> None:
    """A freeze only lets access shrink: list, read, remove members, leave and unlink stay."""
    if not access.frozen:
        return
    if user.frozen:
        raise account_frozen(
            "Your account is frozen: trading and account changes are paused until you "
            "unfreeze it (Security page)."
        )
    raise account_frozen("The owner of this trading account has frozen it.")


def _lapsed(account: TradingAccount, now: dt.datetime) -> bool:
    """An unconfirmed link past its 24 hours: gone for everyone, deleted by the next link."""
    return account.identity_verified_at is None and account.created_at < now - UNCONFIRMED_LINK_TTL


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
        await _announce(db, event_type, stale, actor=actor, context=context, details=details)
        await repository.delete_account(db, stale.id)
        invalidate_decisions(db, user_ids=[stale.owner_user_id, *members], account_ids=[stale.id])


async def _take_over(
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
        actor=_actor(user),
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


async def _announce(
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


async def _open(
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


async def _end_read_transaction(db: AsyncSession) -> None:
    """End the request's transaction before a broker call.

    A broker may take ``KITE_TIMEOUT_SECONDS`` to answer; an open transaction would pin a
    pooled connection and, on SQLite (``BEGIN IMMEDIATE``), the one write lock for that long.
    Nothing has been written yet, so this only ends a read; the outcome is written afterwards
    with compare-and-set.
    """
    if db.new or db.dirty or db.deleted:
        raise RuntimeError("a broker call must not happen with unflushed changes pending")
    await db.commit()


async def _compare_and_set(
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
                raise _not_found()
            return account
        current = await repository.get(db, account_id)
        if current is None:
            raise _not_found()
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


# --- accounts ---------------------------------------------------------------------------------


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
    _broker(services, body.broker)
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
        status=PENDING,
        api_key_masked=vault.mask_api_key(body.api_key),
        credentials_sealed=await vault.seal(services.key_provider, account_id, credentials),
        created_at=now,
        updated_at=now,
    )
    if not await repository.insert(db, account):
        raise _already_linked()
    await _announce(
        db,
        "trading_account.linked",
        account,
        actor=_actor(user),
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
    _require(access, "manage")
    _require_not_frozen(access, user)
    account = access.account
    previous_status = account.status
    credentials = Credentials(body.api_key, body.api_secret, body.access_token)
    account.credentials_sealed = await vault.seal(services.key_provider, account.id, credentials)
    account.api_key_masked = vault.mask_api_key(body.api_key)
    account.status = PENDING
    account.verified_at = None
    account.access_token_expires_at = None
    account.updated_at = utcnow()
    await db.flush()
    await _announce(
        db,
        "trading_account.credentials_rotated",
        account,
        actor=_actor(user),
        context=context,
        details={"previous_status": previous_status, "access_token": bool(body.access_token)},
    )
    return account_out(access)


async def unlink(
    db: AsyncSession,
    services: AppServices,
    user: User,
    account_id: uuid.UUID,
    context: RequestContext,
) -> None:
    """Delete the account: its sealed credentials and every membership go with the row."""
    access = await load_access(db, account_id, user)
    _require(access, "manage")
    account = access.account
    members = await repository.member_ids(db, account.id)
    await _announce(
        db,
        "trading_account.unlinked",
        account,
        actor=_actor(user),
        context=context,
        details={"member_user_ids": sorted(str(m) for m in members)},
    )
    await repository.delete_account(db, account.id)
    invalidate_decisions(db, user_ids=[account.owner_user_id, *members], account_ids=[account.id])


# --- Kite Connect login and verification ------------------------------------------------------


async def kite_login_url(
    db: AsyncSession,
    services: AppServices,
    user: User,
    account_id: uuid.UUID,
    context: RequestContext,
) -> KiteLoginUrlOut:
    """Kite's login page for the account's app; the account id comes back on the redirect."""
    access = await load_access(db, account_id, user)
    _require(access, "manage")
    _require_not_frozen(access, user)
    account = access.account
    _require_kite(account)
    broker = _broker(services, account.broker)
    credentials = await _open(db, services, account, actor=_actor(user), context=context)
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
    _require(access, "manage")
    _require_not_frozen(access, user)
    account = access.account
    _require_kite(account)
    broker = _broker(services, account.broker)
    expected_blob = account.credentials_sealed
    credentials = await _open(db, services, account, actor=_actor(user), context=context)
    previous_status = account.status
    await _end_read_transaction(db)

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
    account = await _compare_and_set(
        db,
        services,
        account.id,
        expected_blob,
        credentials,
        {
            "credentials_sealed": sealed,
            "status": ACTIVE,
            "verified_at": now,
            "identity_verified_at": account.identity_verified_at or now,
            "access_token_expires_at": session.expires_at,
            "updated_at": now,
        },
        same_token=False,
    )
    await _take_over(db, account, user, context)
    await _announce(
        db,
        "trading_account.verified",
        account,
        actor=_actor(user),
        context=context,
        details={
            "previous_status": previous_status,
            "via": "kite_session",
            "access_token_expires_at": session.expires_at.isoformat(),
        },
    )
    return VerificationOut(**account_out(_with(access, account)).model_dump(), reason=None)


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
    _require(access, "manage")
    _require_not_frozen(access, user)
    account = access.account
    broker = _broker(services, account.broker)
    expected_blob = account.credentials_sealed
    credentials = await _open(db, services, account, actor=_actor(user), context=context)
    if not credentials.access_token:
        raise Conflict(
            "This account has no access token yet: complete the broker login first "
            "(GET …/kite/login-url, then POST …/kite/session).",
            code="broker_login_required",
        )
    previous_status = account.status
    was_verified = account.verified_at is not None
    known_expiry = account.access_token_expires_at
    await _end_read_transaction(db)

    now = utcnow()
    values: dict[str, Any] = {"updated_at": now}
    reason: str | None
    try:
        profile = await broker.fetch_profile(credentials.api_key, credentials.access_token)
    except BrokerAuthError as exc:
        values["status"] = EXPIRED if was_verified else INVALID
        reason = "access_token_expired" if was_verified else "credentials_rejected"
        error_type = exc.error_type
    else:
        error_type = None
        if profile.user_id == account.user_id_broker:
            values["status"] = ACTIVE
            values["verified_at"] = now
            values["identity_verified_at"] = account.identity_verified_at or now
            values["access_token_expires_at"] = known_expiry or broker.access_token_expiry(now)
            reason = None
        else:
            # Someone else's token: never keep it, never release it.
            values["status"] = INVALID
            values["credentials_sealed"] = await vault.seal(
                services.key_provider, account.id, credentials.with_access_token(None)
            )
            values["access_token_expires_at"] = None
            reason = "broker_user_mismatch"
    await repository.lock_broker_identity(db, account.broker, account.user_id_broker)
    account = await _compare_and_set(
        db, services, account.id, expected_blob, credentials, values, same_token=True
    )
    if reason is None:
        await _take_over(db, account, user, context)
    await _announce(
        db,
        "trading_account.verified",
        account,
        actor=_actor(user),
        context=context,
        details={
            "previous_status": previous_status,
            "via": "profile",
            "reason": reason,
            "error_type": error_type,
        },
        risk_score=30 if reason == "broker_user_mismatch" else 0,
    )
    return VerificationOut(**account_out(_with(access, account)).model_dump(), reason=reason)


def _with(access: AccountAccess, account: TradingAccount) -> AccountAccess:
    return dataclasses.replace(access, account=account)


# --- sharing ----------------------------------------------------------------------------------


def member_out(membership: TradingAccountMembership, member: User) -> MemberOut:
    return MemberOut(
        user_id=str(member.id),
        email=member.email,
        name=member.name,
        permissions=list(effective_permissions(membership.permissions)),
        added_by=str(membership.added_by) if membership.added_by else None,
        created_at=membership.created_at,
        expires_at=membership.expires_at,
    )


async def list_members(db: AsyncSession, user: User, account_id: uuid.UUID) -> list[MemberOut]:
    access = await load_access(db, account_id, user)
    _require(access, "manage")
    rows = await repository.members_with_users(db, account_id, now=utcnow())
    return [member_out(membership, member) for membership, member in rows]


def _check_grant(
    access: AccountAccess,
    permissions: Sequence[str],
    expires_at: dt.datetime | None,
    now: dt.datetime,
) -> None:
    """Bounded sharing (docs/trading-accounts.md): only the owner grants ``manage``; a
    ``manage`` member grants ``view``/``trade`` only, never for longer than their own grant."""
    if expires_at is not None:
        if expires_at <= now + dt.timedelta(seconds=MIN_GRANT_SECONDS):
            raise ValidationFailed(
                "The end of the access must be in the future (at least a minute from now).",
                code="invalid_expiry",
                extra={"errors": [{"field": "expires_at", "message": "must be in the future"}]},
            )
        if expires_at > now + dt.timedelta(days=MAX_GRANT_DAYS):
            raise ValidationFailed(
                f"Access can be shared for at most {MAX_GRANT_DAYS} days.",
                code="invalid_expiry",
                extra={
                    "errors": [
                        {"field": "expires_at", "message": f"must be within {MAX_GRANT_DAYS} days"}
                    ]
                },
            )
    for permission in permissions:
        if not access.allows(permission):
            raise Forbidden(
                f"You cannot grant '{permission}': you do not hold it on this account.",
                code="permission_not_held",
            )
    if access.role == "owner":
        return
    if "manage" in permissions:
        raise Forbidden(
            "Only the account's owner can give someone the 'manage' permission.",
            code="owner_only_permission",
        )
    if access.expires_at is not None and (expires_at is None or expires_at > access.expires_at):
        raise Forbidden(
            "Your own access ends at "
            f"{access.expires_at.isoformat()}; you cannot share for longer than that.",
            code="grant_outlives_yours",
            extra={"your_expires_at": access.expires_at.isoformat()},
        )


def _require_may_change(
    access: AccountAccess, existing: TradingAccountMembership | None, now: dt.datetime
) -> None:
    """A ``manage`` member changes and removes only grants below their own level."""
    if access.role == "owner" or existing is None or not _live(existing, now):
        return
    if "manage" in effective_permissions(existing.permissions):
        raise Forbidden(
            "Only the account's owner can change or remove a member who holds 'manage'.",
            code="owner_only_permission",
        )


async def add_member(
    db: AsyncSession,
    services: AppServices,
    user: User,
    account_id: uuid.UUID,
    body: MemberIn,
    context: RequestContext,
) -> tuple[MemberOut, bool]:
    """Share the account (or change a member's grant); ``True`` when newly added.

    The member is named by email and must be an active user with a verified address: an
    unverified address may belong to someone who merely typed it at registration. Unknown,
    unverified and inactive look alike (404 ``user_not_found``), and lookups are rate limited
    per user, which bounds what a sharer can learn about who has an account. The body is the
    whole grant: posting an existing member without ``expires_at`` makes the grant open-ended.
    """
    access = await load_access(db, account_id, user)
    _require(access, "manage")
    _require_not_frozen(access, user)
    account = access.account
    limit = await services.rate_limiter.hit(
        services.settings.rate_limit_account_member_add, f"account-member-add:{user.id}"
    )
    if not limit.allowed:
        raise RateLimited(limit.retry_after)
    now = utcnow()
    _check_grant(access, body.permissions, body.expires_at, now)
    member = await users_repository.get_by_email(db, body.email)
    if member is None or not member.email_verified or member.status != "active":
        raise NotFound(
            "No active user with this verified email address was found.", code="user_not_found"
        )
    if member.id == account.owner_user_id:
        raise Conflict("The owner already holds every permission.", code="member_is_owner")
    permissions = list(effective_permissions(body.permissions))
    membership = await repository.get_membership(db, account.id, member.id)
    _require_may_change(access, membership, now)
    previous: list[str] | None = None
    previous_expiry: dt.datetime | None = None
    if membership is not None and not _live(membership, now):
        # An ended grant is no membership: granting again starts a new one.
        membership.permissions = permissions
        membership.expires_at = body.expires_at
        membership.added_by = user.id
        membership.created_at = now
        membership.updated_at = now
        await db.flush()
        created = True
        event_type = "trading_account.member_added"
    elif membership is None:
        membership = TradingAccountMembership(
            account_id=account.id,
            user_id=member.id,
            permissions=permissions,
            added_by=user.id,
            expires_at=body.expires_at,
            created_at=now,
            updated_at=now,
        )
        await repository.add_membership(db, membership)
        created = True
        event_type = "trading_account.member_added"
    else:
        created = False
        previous = list(membership.permissions)
        previous_expiry = membership.expires_at
        if effective_permissions(previous) == tuple(permissions) and (
            previous_expiry == body.expires_at
        ):
            return member_out(membership, member), False
        membership.permissions = permissions
        membership.expires_at = body.expires_at
        membership.updated_at = now
        await db.flush()
        event_type = "trading_account.member_updated"
    details: dict[str, Any] = {
        "member_user_id": str(member.id),
        "permissions": permissions,
        "expires_at": body.expires_at.isoformat() if body.expires_at else None,
    }
    if previous is not None:
        details["previous_permissions"] = previous
        details["previous_expires_at"] = previous_expiry.isoformat() if previous_expiry else None
    await _announce(db, event_type, account, actor=_actor(user), context=context, details=details)
    invalidate_decisions(db, user_ids=[member.id], account_ids=[account.id])
    return member_out(membership, member), created


async def remove_member(
    db: AsyncSession,
    user: User,
    account_id: uuid.UUID,
    member_user_id: uuid.UUID,
    context: RequestContext,
) -> None:
    """Stop sharing with a member; any member may also remove themselves (leave).

    Allowed while the account is frozen: removing access only shrinks it.
    """
    access = await load_access(db, account_id, user)
    account = access.account
    now = utcnow()
    if member_user_id != user.id:
        _require(access, "manage")
    if member_user_id == account.owner_user_id:
        raise Conflict(
            "The owner is not a member; unlink the account instead.", code="owner_not_removable"
        )
    existing = await repository.get_membership(db, account.id, member_user_id)
    if existing is None or not _live(existing, now):
        raise NotFound("This user is not a member of the account.", code="member_not_found")
    if member_user_id != user.id:
        _require_may_change(access, existing, now)
    await repository.delete_membership(db, account.id, member_user_id)
    await _announce(
        db,
        "trading_account.member_removed",
        account,
        actor=_actor(user),
        context=context,
        details={
            "member_user_id": str(member_user_id),
            "permissions": list(effective_permissions(existing.permissions)),
            "expires_at": existing.expires_at.isoformat() if existing.expires_at else None,
            "left": member_user_id == user.id,
        },
    )
    invalidate_decisions(db, user_ids=[member_user_id], account_ids=[account.id])


# --- release to services ----------------------------------------------------------------------


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
        raise _not_found()
    acted_for: User | None = None
    if on_behalf_of is not None:
        acted_for = await _check_on_behalf_of(db, account, on_behalf_of)
    owner = await users_repository.get_by_id(db, account.owner_user_id)
    if owner is None or owner.status != "active":
        raise _not_active("The account's owner is not active.", account.status)
    if owner.frozen:
        raise account_frozen("The account's owner has frozen it: nothing is released.")
    if acted_for is not None and acted_for.frozen:
        raise account_frozen("The user the service acts for has frozen their account.")
    now = utcnow()
    expiry = account.access_token_expires_at
    if account.status == ACTIVE and expiry is not None and expiry <= now:
        # The broker flushed the token: say so now rather than hand out a dead token.
        account.status = EXPIRED
        account.updated_at = now
        await db.flush()
        await _announce(
            db,
            "trading_account.expired",
            account,
            actor=actor,
            context=context,
            details={"access_token_expires_at": expiry.isoformat()},
        )
        raise _not_active(
            "The account's access token has expired; its owner must log in to the broker.",
            EXPIRED,
            commit=True,
        )
    if account.status != ACTIVE:
        raise _not_active(f"The account is {account.status}, not active.", account.status)
    credentials = await _open(db, services, account, actor=actor, context=context)
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
    if user is None or user.status != "active":
        raise refused
    if account.owner_user_id == user_id:
        return user
    membership = await repository.get_membership(db, account.id, user_id)
    live = membership is not None and _live(membership, utcnow())
    granted = effective_permissions(membership.permissions) if membership and live else ()
    if "trade" not in granted:
        raise refused
    return user
