"""Drop cached authorization decisions when the facts behind them change (docs/api.md §3, issue 4).

Every service that changes a role, a policy, a trading-account membership or a user's status
calls ``invalidate_decisions`` in the same unit of work as the change. Nothing happens until
that transaction commits (a rolled-back change must not invalidate anything, and an
invalidation published before the commit could be refilled from the old rows); then the
decision cache bumps its version on this instance and, with Redis, on every instance through
pub/sub. See docs/authorization.md §12.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from user_service.db import on_commit

_PENDING_KEY = "authz_invalidation"


@dataclass
class Invalidation:
    """What changed in one unit of work; several calls merge into one invalidation."""

    user_ids: set[str] = field(default_factory=set)
    account_ids: set[str] = field(default_factory=set)
    everything: bool = False

    def describe(self) -> dict[str, object]:
        return {
            "everything": self.everything,
            "user_ids": sorted(self.user_ids),
            "account_ids": sorted(self.account_ids),
        }


def invalidate_decisions(
    db: AsyncSession,
    *,
    user_ids: Iterable[uuid.UUID] | None = None,
    account_ids: Iterable[uuid.UUID] | None = None,
) -> None:
    """Invalidate cached decisions once ``db`` commits, on this and every other instance.

    Name the users whose roles or status changed and the trading accounts whose memberships
    changed; with neither (a policy changed) every decision is invalidated. Calling it several
    times in one unit of work publishes a single invalidation.
    """
    pending: Invalidation | None = db.info.get(_PENDING_KEY)
    if pending is None:
        pending = Invalidation()
        db.info[_PENDING_KEY] = pending
        on_commit(db, lambda: _publish(db))
    users = {str(user_id) for user_id in user_ids or ()}
    accounts = {str(account_id) for account_id in account_ids or ()}
    pending.user_ids |= users
    pending.account_ids |= accounts
    if user_ids is None and account_ids is None:
        pending.everything = True


async def _publish(db: AsyncSession) -> None:
    pending: Invalidation | None = db.info.pop(_PENDING_KEY, None)
    services = db.info.get("services")
    cache = getattr(services, "decision_cache", None)
    if pending is None or cache is None:
        return
    await cache.invalidate(pending)
