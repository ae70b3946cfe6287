"""The decision cache without Redis: versions, what is never stored, bounds; invalidation
merged per unit of work and published only after commit."""

import types
import uuid

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker

from tests.authz.builders import seeded
from user_service.authz import cache as cache_module
from user_service.authz.cache import DecisionCache
from user_service.authz.evaluator import Decision
from user_service.authz.invalidation import (
    Invalidation,
    invalidate_decisions,
    publish_invalidations_to,
)
from user_service.db import unit_of_work

pytestmark = pytest.mark.anyio

ALLOW = Decision(True, "allowed_by_policy", "Allowed.", "p", cacheable=True)
STEP_UP = Decision(False, "condition_failed:mfa_within", "Denied.", "p", cacheable=False)


async def test_a_decision_is_served_until_the_version_moves():
    cache = DecisionCache()
    await cache.put("k", ALLOW, version=cache.version)
    assert await cache.get("k") == (ALLOW, "memory")
    await cache.invalidate(Invalidation(user_ids={"u1"}))
    assert await cache.get("k") is None


async def test_a_decision_read_before_an_invalidation_is_not_stored_after_it():
    cache = DecisionCache()
    version = cache.version  # facts read here ...
    await cache.invalidate(Invalidation(everything=True))  # ... then they change
    await cache.put("k", ALLOW, version=version)
    assert await cache.get("k") is None


async def test_time_dependent_decisions_are_never_stored():
    cache = DecisionCache()
    await cache.put("k", STEP_UP, version=cache.version)
    assert await cache.get("k") is None


async def test_entries_expire_and_the_cache_stays_bounded(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(
        cache_module,
        "time",
        types.SimpleNamespace(monotonic=lambda: clock[0], time=lambda: clock[0]),
    )
    cache = DecisionCache(max_entries=3)
    for key in "abcd":
        await cache.put(key, ALLOW, version=cache.version)
    assert await cache.get("a") is None  # the oldest made room
    assert await cache.get("d") is not None
    clock[0] += 61
    assert await cache.get("d") is None


async def test_the_policy_set_is_reloaded_after_invalidation_and_after_the_ttl(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(
        cache_module,
        "time",
        types.SimpleNamespace(monotonic=lambda: clock[0], time=lambda: clock[0]),
    )
    cache = DecisionCache()
    policies = seeded()
    cache.keep_policy_set(policies, version=cache.version)
    assert cache.policy_set() is policies
    clock[0] += 61
    assert cache.policy_set() is None
    cache.keep_policy_set(policies, version=cache.version)
    await cache.invalidate(Invalidation(everything=True))
    assert cache.policy_set() is None


async def test_a_zero_ttl_disables_the_cache():
    cache = DecisionCache(ttl_seconds=0)
    await cache.put("k", ALLOW, version=cache.version)
    assert cache.usable is False and await cache.get("k") is None


async def test_invalidations_merge_per_unit_of_work_and_wait_for_the_commit():
    cache = DecisionCache()
    user_id, account_id = uuid.uuid4(), uuid.uuid4()
    async with unit_of_work(async_sessionmaker()) as db:
        publish_invalidations_to(db, cache)
        invalidate_decisions(db, user_ids=[user_id])
        invalidate_decisions(db, account_ids=[account_id])
        assert cache.version == 0  # nothing before the commit
    assert cache.version == 1
    assert cache.stats["invalidations"] == 1


async def test_an_invalidation_nobody_would_publish_is_an_error():
    async with unit_of_work(async_sessionmaker()) as db:
        with pytest.raises(RuntimeError, match="publisher"):
            invalidate_decisions(db, user_ids=[uuid.uuid4()])
