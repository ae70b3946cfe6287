"""Who may do what with a trading account (docs/trading-accounts.md, "Who may do what").

The owner holds every permission; a member holds the closure of what they were granted
(``manage`` ⊇ ``trade`` ⊇ ``view``, as the authorization engine reads it). Anything about an
account the caller neither owns nor shares is a 404, never a 403. A freeze only lets access
shrink.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from user_service.authz.catalog import ACCOUNT_PERMISSIONS, account_permission_implies
from user_service.db import utcnow
from user_service.exceptions import Conflict, Forbidden, NotFound
from user_service.models import TradingAccount, TradingAccountMembership, User
from user_service.trading_accounts import repository

ALL_PERMISSIONS: tuple[str, ...] = tuple(ACCOUNT_PERMISSIONS)
# A link whose broker identity nobody confirmed (Kite login or profile check) lapses after
# this long, and is taken over at once by a link that confirms it (no squatting).
UNCONFIRMED_LINK_TTL = dt.timedelta(hours=24)


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


def account_not_found() -> NotFound:
    return NotFound("No such trading account.", code="trading_account_not_found")


def require_permission(access: AccountAccess, permission: str) -> None:
    if not access.allows(permission):
        raise Forbidden(
            f"This needs the '{permission}' permission on the trading account.",
            code="account_permission_required",
        )


async def load_access(db: AsyncSession, account_id: uuid.UUID, user: User) -> AccountAccess:
    """The account if ``user`` owns it or holds a live grant on it; 404 otherwise (no
    existence leak: an expired grant is like none)."""
    now = utcnow()
    account = await repository.get(db, account_id)
    if account is None or _lapsed(account, now):
        raise account_not_found()
    if account.owner_user_id == user.id:
        return AccountAccess(account, "owner", ALL_PERMISSIONS, frozen=user.frozen)
    membership = await repository.get_membership(db, account_id, user.id)
    if membership is None or not grant_live(membership, now):
        raise account_not_found()
    frozen = user.frozen or await repository.owner_frozen(db, account.owner_user_id)
    return AccountAccess(
        account,
        "member",
        effective_permissions(membership.permissions),
        frozen=frozen,
        expires_at=membership.expires_at,
    )


def grant_live(membership: TradingAccountMembership, now: dt.datetime) -> bool:
    """An ended grant is like none: no access, no listing, no release on its behalf."""
    return membership.expires_at is None or membership.expires_at > now


def account_frozen(message: str = "Trading on this account is frozen.") -> Conflict:
    return Conflict(message, code="account_frozen", extra={"status": "frozen"})


def require_not_frozen(access: AccountAccess, user: User) -> None:
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
