"""Sharing a trading account: members, their grants, leaving (docs/trading-accounts.md,
"Bounded sharing").
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from user_service.audit.service import RequestContext
from user_service.authz.invalidation import invalidate_decisions
from user_service.db import utcnow
from user_service.exceptions import (
    Conflict,
    Forbidden,
    NotFound,
    RateLimited,
    ValidationFailed,
)
from user_service.models import TradingAccountMembership, User, UserStatus
from user_service.state import AppServices
from user_service.trading_accounts import repository
from user_service.trading_accounts.accounts import announce, user_actor
from user_service.trading_accounts.rights import (
    AccountAccess,
    effective_permissions,
    grant_live,
    load_access,
    require_not_frozen,
    require_permission,
)
from user_service.trading_accounts.schemas import MemberIn, MemberOut
from user_service.users import repository as users_repository

MAX_GRANT_DAYS = 365
"""A grant with an end may end at most this far ahead (bounded sharing)."""
MIN_GRANT_SECONDS = 60
"""An end sooner than this is refused: it would be gone before anyone could use it."""


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
    require_permission(access, "manage")
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
    if access.role == "owner" or existing is None or not grant_live(existing, now):
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
    require_permission(access, "manage")
    require_not_frozen(access, user)
    account = access.account
    limit = await services.rate_limiter.hit(
        services.settings.rate_limit_account_member_add, f"account-member-add:{user.id}"
    )
    if not limit.allowed:
        raise RateLimited(limit.retry_after)
    now = utcnow()
    _check_grant(access, body.permissions, body.expires_at, now)
    member = await users_repository.get_by_email(db, body.email)
    if member is None or not member.email_verified or member.status != UserStatus.ACTIVE:
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
    if membership is not None and not grant_live(membership, now):
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
    await announce(
        db, event_type, account, actor=user_actor(user), context=context, details=details
    )
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
        require_permission(access, "manage")
    if member_user_id == account.owner_user_id:
        raise Conflict(
            "The owner is not a member; unlink the account instead.", code="owner_not_removable"
        )
    existing = await repository.get_membership(db, account.id, member_user_id)
    if existing is None or not grant_live(existing, now):
        raise NotFound("This user is not a member of the account.", code="member_not_found")
    if member_user_id != user.id:
        _require_may_change(access, existing, now)
    await repository.delete_membership(db, account.id, member_user_id)
    await announce(
        db,
        "trading_account.member_removed",
        account,
        actor=user_actor(user),
        context=context,
        details={
            "member_user_id": str(member_user_id),
            "permissions": list(effective_permissions(existing.permissions)),
            "expires_at": existing.expires_at.isoformat() if existing.expires_at else None,
            "left": member_user_id == user.id,
        },
    )
    invalidate_decisions(db, user_ids=[member_user_id], account_ids=[account.id])
