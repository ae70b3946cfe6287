"""Properties that must hold for any policy set, not only the ones we thought of."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tests.authz.builders import NOW
from user_service.authz.catalog import compile_pattern
from user_service.authz.evaluator import Request, Resource, Subject, compile_policies
from user_service.authz.policy_schema import PolicyIn

SUBJECTS = [
    "*",
    "role:user",
    "role:admin",
    "role:*",
    "user:u1",
    "user:u*",
    "client:*",
    "client:svc",
]
ACTIONS = ["*", "alerts:*", "alerts:read", "*:read", "trading_account:trade", "quotes:subscribe"]
RESOURCES = ["*", "alerts", "alerts:*", "alerts:a1", "trading_account:*", "quotes"]
CONDITIONS: list[dict[str, Any]] = [
    {"type": "resource_owner"},
    {"type": "account_permission", "permission": "trade"},
    {"type": "mfa_present"},
    {"type": "mfa_within", "seconds": 300},
    {"type": "user_status", "in": ["active"]},
    {"type": "user_not_active"},
    {"type": "scope"},
]


@st.composite
def policy_data(draw: st.DrawFn, effect: str | None = None) -> dict[str, Any]:
    conditions = draw(
        st.lists(st.sampled_from(CONDITIONS), max_size=3, unique_by=lambda c: c["type"])
    )
    return {
        "effect": effect or draw(st.sampled_from(["allow", "deny"])),
        "subjects": draw(st.lists(st.sampled_from(SUBJECTS), min_size=1, max_size=3, unique=True)),
        "actions": draw(st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=3, unique=True)),
        "resources": draw(
            st.lists(st.sampled_from(RESOURCES), min_size=1, max_size=3, unique=True)
        ),
        "conditions": conditions,
        "priority": draw(st.integers(-5, 5)),
        "enabled": draw(st.booleans()),
    }


def build(datas: list[dict[str, Any]], prefix: str = "p") -> list[PolicyIn]:
    policies = []
    for index, data in enumerate(datas):
        try:
            policies.append(PolicyIn.model_validate({"name": f"{prefix}-{index}", **data}))
        except ValidationError:
            assume(False)  # a policy the admin API would refuse
    return policies


subjects = st.one_of(
    st.builds(
        lambda uid, roles, status, age: Subject.user(
            uid,
            roles=roles,
            status=status,
            mfa=age is not None,
            mfa_at=None if age is None else NOW - dt.timedelta(seconds=age),
        ),
        st.sampled_from(["u1", "u2"]),
        st.frozensets(st.sampled_from(["user", "admin", "compliance"])),
        st.sampled_from(["active", "suspended", "deactivated", None]),
        st.one_of(st.none(), st.integers(-100, 1000)),
    ),
    st.builds(
        lambda scopes: Subject.client("svc", scopes=scopes),
        st.frozensets(st.sampled_from(["alerts:*", "alerts:read", "quotes:subscribe", "*"])),
    ),
)
resources = st.one_of(
    st.none(),
    st.builds(
        lambda owner, rid: Resource("alerts", rid, owner_id=owner),
        st.sampled_from([None, "u1", "u2"]),
        st.sampled_from([None, "a1", "a2"]),
    ),
    st.builds(
        lambda owner, perms: Resource.trading_account(
            "t1", owner_id=owner, member_permissions=perms
        ),
        st.sampled_from(["u1", "u2"]),
        st.frozensets(st.sampled_from(["view", "trade", "manage"])),
    ),
)
requests = st.builds(
    lambda subject, action, resource: Request(subject, action, resource, NOW),
    subjects,
    st.sampled_from(
        [
            "alerts:read",
            "alerts:delete",
            "quotes:subscribe",
            "trading_account:trade",
            "audit:read",
            "policies:manage",
        ]
    ),
    resources,
)

policy_sets = st.lists(policy_data(), max_size=6)


@settings(max_examples=200, deadline=None)
@given(policy_sets, policy_data(effect="deny"), requests)
def test_adding_a_deny_never_turns_a_deny_into_an_allow(
    base: list[dict[str, Any]], extra: dict[str, Any], query: Request
) -> None:
    policies = build(base)
    before = compile_policies(policies).evaluate(query)
    after = compile_policies([*policies, *build([extra], "extra")]).evaluate(query)
    assert not (after.allowed and not before.allowed)


@settings(max_examples=200, deadline=None)
@given(policy_sets, policy_data(effect="allow"), requests)
def test_adding_an_allow_never_turns_an_allow_into_a_deny(
    base: list[dict[str, Any]], extra: dict[str, Any], query: Request
) -> None:
    policies = build(base)
    before = compile_policies(policies).evaluate(query)
    after = compile_policies([*policies, *build([extra], "extra")]).evaluate(query)
    assert not (before.allowed and not after.allowed)


@settings(max_examples=200, deadline=None)
@given(policy_sets, requests, st.randoms(use_true_random=False))
def test_the_decision_does_not_depend_on_policy_order(
    base: list[dict[str, Any]], query: Request, rnd: Any
) -> None:
    policies = build(base)
    shuffled = list(policies)
    rnd.shuffle(shuffled)
    assert compile_policies(policies).evaluate(query) == compile_policies(shuffled).evaluate(query)


@settings(max_examples=100, deadline=None)
@given(policy_sets, requests)
def test_disabling_a_policy_is_the_same_as_removing_it(
    base: list[dict[str, Any]], query: Request
) -> None:
    policies = build(base)
    enabled_only = [p for p in policies if p.enabled]
    assert compile_policies(policies).evaluate(query) == compile_policies(enabled_only).evaluate(
        query
    )


@settings(max_examples=100, deadline=None)
@given(policy_sets, requests)
def test_priority_only_changes_which_policy_is_reported(
    base: list[dict[str, Any]], query: Request
) -> None:
    policies = build(base)
    flat = [p.model_copy(update={"priority": 0}) for p in policies]
    assert (
        compile_policies(policies).evaluate(query).allowed
        == compile_policies(flat).evaluate(query).allowed
    )


segment = st.text("abcxyz_.-0123456789", min_size=1, max_size=6)
value = st.lists(segment, min_size=1, max_size=3).map(":".join)


@given(value, value)
def test_a_pattern_without_wildcards_matches_only_itself(pattern: str, other: str) -> None:
    assert compile_pattern(pattern)(other) is (pattern == other)


@given(st.lists(segment, min_size=2, max_size=4), st.data())
def test_a_starred_segment_matches_any_segment_but_never_crosses_a_colon(
    segments: list[str], data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(segments) - 1))
    pattern = ":".join("*" if i == index else s for i, s in enumerate(segments))
    assert compile_pattern(pattern)(":".join(segments))
    longer = [*segments[:index], "x", "y", *segments[index + 1 :]]
    assert not compile_pattern(pattern)(":".join(longer))
