"""Drop cached authorization decisions when the facts behind them change (docs/api.md §3, issue 4).

Every service that changes a role, a policy, a trading-account membership or a user's status
calls ``invalidate_decisions`` in the same unit of work as the change. Nothing happens until
that transaction commits (a rolled-back change must not invalidate anything, and an
invalidation published before the commit could be refilled from the old rows); then the
decision cache bumps its version on this instance and, with Redis, on every instance through
pub/sub. See docs/authorization.md §12.

Who opens the unit of work names the publisher (``AppServices.unit_of_work`` names the
instance's decision cache); an invalidation in a unit of work that has none is an error, not
a change the other instances never hear of.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from user_service.db import on_commit

_PENDING_KEY = "authz_invalidation"
_PUBLISHER_KEY = "authz_invalidation_publisher"


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


class Publisher(Protocol):
    """Where a committed invalidation goes: the decision cache (``authz.cache``)."""

    async def invalidate(self, invalidation: Invalidation) -> None: ...


def publish_invalidations_to(db: AsyncSession, publisher: Publisher) -> None:
    """Send the invalidations of the unit of work ``db`` to ``publisher`` once it commits."""
    db.info[_PUBLISHER_KEY] = publisher


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
    publisher: Publisher | None = db.info.get(_PUBLISHER_KEY)
    if publisher is None:
        raise RuntimeError(
            "invalidate_decisions needs a unit of work with a publisher "
            "(AppServices.unit_of_work); without one no instance would hear of the change"
        )
    pending: Invalidation | None = db.info.get(_PENDING_KEY)
    if pending is None:
        pending = Invalidation()
        db.info[_PENDING_KEY] = pending
        on_commit(db, lambda: _publish(db, publisher))
    users = {str(user_id) for user_id in user_ids or ()}
    accounts = {str(account_id) for account_id in account_ids or ()}
    pending.user_ids |= users
    pending.account_ids |= accounts
    if user_ids is None and account_ids is None:
        pending.everything = True


async def _publish(db: AsyncSession, publisher: Publisher) -> None:
    await publisher.invalidate(db.info.pop(_PENDING_KEY))
