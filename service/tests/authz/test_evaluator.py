"""The decision rules, one table per rule (docs/authorization.md, "Evaluation")."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest

from tests.authz.builders import NOW, policy, user
from user_service.authz.evaluator import (
    DECISION_TTL_SECONDS,
    Request,
    Resource,
    Subject,
    compile_policies,
    decision_cache_key,
    evaluate,
)
from user_service.authz.policy_schema import PolicyIn
from user_service.exceptions import ValidationFailed


@dataclass(frozen=True)
class Case:
    id: str
    policies: list[PolicyIn]
    request: Request
    allowed: bool
    code: str
    matched: str | None = None


def req(subject: Subject | None = None, action: str = "alerts:read", **kw: Any) -> Request:
    return Request(subject or user(), action, kw.pop("resource", None), kw.pop("now", NOW))


def alert(owner: str | None = "u1", alert_id: str | None = "a1") -> Resource:
    return Resource("alerts", alert_id, owner_id=owner)


def run(case: Case) -> None:
    decision = compile_policies(case.policies).evaluate(case.request)
    assert (decision.allowed, decision.code) == (case.allowed, case.code), decision.reason
    assert decision.matched_policy == case.matched
    if case.matched is not None:
        assert f"'{case.matched}'" in decision.reason


def table(cases: list[Case]) -> Any:
    return pytest.mark.parametrize("case", cases, ids=[c.id for c in cases])


ALLOW = policy("allow-read")
DENY_U1 = policy("deny-u1", effect="deny", subjects=["user:u1"])

PRECEDENCE = [
    Case("single-allow", [ALLOW], req(), True, "allowed_by_policy", "allow-read"),
    Case("deny-overrides-allow", [ALLOW, DENY_U1], req(), False, "denied_by_policy", "deny-u1"),
    Case("deny-first-in-list", [DENY_U1, ALLOW], req(), False, "denied_by_policy", "deny-u1"),
    Case(
        "deny-overrides-higher-priority-allow",
        [
            policy("allow-read", priority=1000),
            policy("deny-u1", effect="deny", subjects=["user:u1"], priority=-1000),
        ],
        req(),
        False,
        "denied_by_policy",
        "deny-u1",
    ),
    Case(
        "deny-other-user-ignored",
        [ALLOW, DENY_U1],
        req(user("u2")),
        True,
        "allowed_by_policy",
        "allow-read",
    ),
    Case("no-policies", [], req(), False, "no_matching_policy"),
    Case("only-deny-no-allow", [DENY_U1], req(user("u2")), False, "no_matching_policy"),
    Case("other-action", [ALLOW], req(action="alerts:delete"), False, "no_matching_policy"),
    Case("other-role", [ALLOW], req(user("u1", "compliance")), False, "no_matching_policy"),
    Case(
        "disabled-allow-ignored", [policy("off", enabled=False)], req(), False, "no_matching_policy"
    ),
    Case(
        "disabled-deny-ignored",
        [ALLOW, policy("deny-off", effect="deny", subjects=["user:u1"], enabled=False)],
        req(),
        True,
        "allowed_by_policy",
        "allow-read",
    ),
    Case(
        "deny-whose-condition-fails-does-not-apply",
        [ALLOW, policy("deny-no-mfa", effect="deny", conditions=[{"type": "mfa_present"}])],
        req(user("u1", mfa=False)),
        True,
        "allowed_by_policy",
        "allow-read",
    ),
    Case(
        "deny-whose-condition-holds-applies",
        [ALLOW, policy("deny-mfa", effect="deny", conditions=[{"type": "mfa_present"}])],
        req(user("u1", mfa=True)),
        False,
        "denied_by_policy",
        "deny-mfa",
    ),
    Case(
        "deny-with-indeterminate-condition-applies",
        [ALLOW, policy("deny-own", effect="deny", conditions=[{"type": "resource_owner"}])],
        req(resource=alert(owner=None)),
        False,
        "denied_by_policy",
        "deny-own",
    ),
    Case(
        "second-allow-rescues-failed-condition",
        [
            policy("a-needs-mfa", conditions=[{"type": "mfa_present"}]),
            policy("b-plain"),
        ],
        req(),
        True,
        "allowed_by_policy",
        "b-plain",
    ),
]


@table(PRECEDENCE)
def test_deny_overrides_allow_and_no_match_denies(case: Case) -> None:
    run(case)


WILDCARDS = [
    Case(
        "user-prefix",
        [policy("wild", subjects=["user:u*"])],
        req(user("u1")),
        True,
        "allowed_by_policy",
        "wild",
    ),
    Case(
        "user-prefix-miss",
        [policy("wild", subjects=["user:x*"])],
        req(user("u1")),
        False,
        "no_matching_policy",
    ),
    Case(
        "any-role",
        [policy("wild", subjects=["role:*"])],
        req(user("u1", "compliance")),
        True,
        "allowed_by_policy",
        "wild",
    ),
    Case(
        "star-subject-matches-clients",
        [policy("wild", subjects=["*"])],
        req(Subject.client("backend")),
        True,
        "allowed_by_policy",
        "wild",
    ),
    Case(
        "client-pattern-not-users",
        [policy("wild", subjects=["client:*"])],
        req(),
        False,
        "no_matching_policy",
    ),
    Case(
        "user-pattern-not-clients",
        [policy("wild", subjects=["user:*"])],
        req(Subject.client("backend")),
        False,
        "no_matching_policy",
    ),
    Case(
        "role-exact-not-prefix",
        [policy("wild", subjects=["role:admin"])],
        req(user("u1", "administrator")),
        False,
        "no_matching_policy",
    ),
    Case(
        "action-namespace-star",
        [policy("wild", actions=["alerts:*"])],
        req(action="alerts:delete"),
        True,
        "allowed_by_policy",
        "wild",
    ),
    Case(
        "action-namespace-star-other-ns",
        [policy("wild", actions=["alerts:*"])],
        req(action="audit:read"),
        False,
        "no_matching_policy",
    ),
    Case(
        "action-verb-star",
        [policy("wild", actions=["*:read"])],
        req(action="audit:read"),
        True,
        "allowed_by_policy",
        "wild",
    ),
    Case(
        "action-verb-star-miss",
        [policy("wild", actions=["*:read"])],
        req(action="alerts:update"),
        False,
        "no_matching_policy",
    ),
    Case(
        "action-star",
        [
            policy(
                "wild", subjects=["role:user"], actions=["*"], conditions=[{"type": "mfa_present"}]
            )
        ],
        req(user("u1", mfa=True), action="users:manage"),
        True,
        "allowed_by_policy",
        "wild",
    ),
    Case(
        "resource-instance-star",
        [policy("wild", resources=["alerts:*"])],
        req(resource=alert()),
        True,
        "allowed_by_policy",
        "wild",
    ),
    Case(
        "resource-instance-star-not-collection",
        [policy("wild", resources=["alerts:*"])],
        req(),
        False,
        "no_matching_policy",
    ),
    Case(
        "bare-type-matches-no-resource",
        [policy("wild", resources=["alerts"])],
        req(),
        True,
        "allowed_by_policy",
        "wild",
    ),
    Case(
        "bare-type-matches-collection",
        [policy("wild", resources=["alerts"])],
        req(resource=Resource("alerts")),
        True,
        "allowed_by_policy",
        "wild",
    ),
    Case(
        "bare-type-not-instance",
        [policy("wild", resources=["alerts"])],
        req(resource=alert()),
        False,
        "no_matching_policy",
    ),
    Case(
        "star-resource-matches-no-resource",
        [policy("wild", resources=["*"])],
        req(),
        True,
        "allowed_by_policy",
        "wild",
    ),
    Case(
        "exact-resource-id",
        [policy("wild", resources=["alerts:a1"])],
        req(resource=alert()),
        True,
        "allowed_by_policy",
        "wild",
    ),
    Case(
        "exact-resource-id-other",
        [policy("wild", resources=["alerts:a10"])],
        req(resource=alert()),
        False,
        "no_matching_policy",
    ),
    Case(
        "resource-id-prefix",
        [policy("wild", resources=["alerts:a*"])],
        req(resource=alert(alert_id="a77")),
        True,
        "allowed_by_policy",
        "wild",
    ),
    Case(
        "other-resource-type",
        [policy("wild", resources=["profile:*"])],
        req(resource=alert()),
        False,
        "no_matching_policy",
    ),
    Case(
        "dot-is-literal",
        [policy("wild", resources=["alerts:a.1"])],
        req(resource=alert(alert_id="ax1")),
        False,
        "no_matching_policy",
    ),
    Case(
        "deny-wildcard-catches-every-id",
        [ALLOW, policy("den", effect="deny", resources=["alerts:*"])],
        req(resource=alert(alert_id="[weird]?")),
        False,
        "denied_by_policy",
        "den",
    ),
]


@table(WILDCARDS)
def test_wildcards_match_subjects_actions_and_resources(case: Case) -> None:
    run(case)


TA = ["trading_account:*"]


def cond(name: str, *conditions: dict[str, Any], **fields: Any) -> list[PolicyIn]:
    fields.setdefault("resources", ["*"])
    if fields["resources"] == TA:
        fields.setdefault("actions", ["trading_account:*"])
    return [policy(name, conditions=list(conditions), **fields)]


OWNER = {"type": "resource_owner"}


def account(owner: str = "owner", *member: str) -> Resource:
    return Resource.trading_account("t1", owner_id=owner, member_permissions=member)


def ta_req(subject: Subject, action: str = "trading_account:view", **kw: Any) -> Request:
    return req(subject, action, resource=kw.pop("resource", account()), **kw)


def ap(permission: str) -> dict[str, Any]:
    return {"type": "account_permission", "permission": permission}


SCOPED = cond("svc", {"type": "scope"}, subjects=["client:*"], actions=["*"])
WITHIN = {"type": "mfa_within", "seconds": 300}

CONDITIONS = [
    # resource_owner
    Case(
        "owner-own-instance",
        cond("cnd", OWNER),
        req(resource=alert("u1")),
        True,
        "allowed_by_policy",
        "cnd",
    ),
    Case(
        "owner-other-instance",
        cond("cnd", OWNER),
        req(resource=alert("u2")),
        False,
        "condition_failed:resource_owner",
        "cnd",
    ),
    Case(
        "owner-unknown-instance",
        cond("cnd", OWNER),
        req(resource=alert(None)),
        False,
        "condition_failed:resource_owner",
        "cnd",
    ),
    Case(
        "owner-own-collection",
        cond("cnd", OWNER),
        req(resource=alert(None, None)),
        True,
        "allowed_by_policy",
        "cnd",
    ),
    Case(
        "owner-other-collection",
        cond("cnd", OWNER),
        req(resource=alert("u2", None)),
        False,
        "condition_failed:resource_owner",
        "cnd",
    ),
    Case("owner-no-resource", cond("cnd", OWNER), req(), True, "allowed_by_policy", "cnd"),
    Case(
        "owner-client",
        cond("cnd", OWNER, subjects=["*"]),
        req(Subject.client("backend"), resource=alert("backend")),
        False,
        "condition_failed:resource_owner",
        "cnd",
    ),
    # account_permission
    Case(
        "account-owner",
        cond("cnd", ap("manage"), resources=TA),
        ta_req(user("owner")),
        True,
        "allowed_by_policy",
        "cnd",
    ),
    Case(
        "account-member-view",
        cond("cnd", ap("view"), resources=TA),
        ta_req(user("m"), resource=account("owner", "view")),
        True,
        "allowed_by_policy",
        "cnd",
    ),
    Case(
        "account-member-trade-implies-view",
        cond("cnd", ap("view"), resources=TA),
        ta_req(user("m"), resource=account("owner", "trade")),
        True,
        "allowed_by_policy",
        "cnd",
    ),
    Case(
        "account-member-manage-implies-trade",
        cond("cnd", ap("trade"), resources=TA),
        ta_req(user("m"), resource=account("owner", "manage")),
        True,
        "allowed_by_policy",
        "cnd",
    ),
    Case(
        "account-member-view-not-trade",
        cond("cnd", ap("trade"), resources=TA),
        ta_req(user("m"), resource=account("owner", "view")),
        False,
        "condition_failed:account_permission",
        "cnd",
    ),
    Case(
        "account-member-trade-not-manage",
        cond("cnd", ap("manage"), resources=TA),
        ta_req(user("m"), resource=account("owner", "trade")),
        False,
        "condition_failed:account_permission",
        "cnd",
    ),
    Case(
        "account-stranger",
        cond("cnd", ap("view"), resources=TA),
        ta_req(user("x")),
        False,
        "condition_failed:account_permission",
        "cnd",
    ),
    Case(
        "account-unknown-permission-ignored",
        cond("cnd", ap("view"), resources=TA),
        ta_req(user("m"), resource=account("owner", "admin")),
        False,
        "condition_failed:account_permission",
        "cnd",
    ),
    Case(
        "account-info-missing",
        cond("cnd", ap("view"), resources=TA),
        ta_req(user("owner"), resource=Resource("trading_account", "t1", owner_id="owner")),
        False,
        "condition_failed:account_permission",
        "cnd",
    ),
    # mfa_present
    Case(
        "mfa-present",
        cond("cnd", {"type": "mfa_present"}),
        req(user(mfa=True)),
        True,
        "allowed_by_policy",
        "cnd",
    ),
    Case(
        "mfa-absent",
        cond("cnd", {"type": "mfa_present"}),
        req(user(mfa=False)),
        False,
        "condition_failed:mfa_present",
        "cnd",
    ),
    # mfa_within
    Case(
        "mfa-within-60s",
        cond("cnd", WITHIN),
        req(user(mfa_age=60)),
        True,
        "allowed_by_policy",
        "cnd",
    ),
    Case(
        "mfa-within-boundary",
        cond("cnd", WITHIN),
        req(user(mfa_age=300)),
        True,
        "allowed_by_policy",
        "cnd",
    ),
    Case(
        "mfa-within-just-late",
        cond("cnd", WITHIN),
        req(user(mfa_age=301)),
        False,
        "condition_failed:mfa_within",
        "cnd",
    ),
    Case(
        "mfa-within-never",
        cond("cnd", WITHIN),
        req(user(mfa=True)),
        False,
        "condition_failed:mfa_within",
        "cnd",
    ),
    Case(
        "mfa-within-small-skew",
        cond("cnd", WITHIN),
        req(user(mfa_age=-30)),
        True,
        "allowed_by_policy",
        "cnd",
    ),
    Case(
        "mfa-within-far-future",
        cond("cnd", WITHIN),
        req(user(mfa_age=-3600)),
        False,
        "condition_failed:mfa_within",
        "cnd",
    ),
    # user_status / user_not_active
    Case(
        "status-in",
        cond("cnd", {"type": "user_status", "in": ["active"]}),
        req(),
        True,
        "allowed_by_policy",
        "cnd",
    ),
    Case(
        "status-not-in",
        cond("cnd", {"type": "user_status", "in": ["active"]}),
        req(user(status="suspended")),
        False,
        "condition_failed:user_status",
        "cnd",
    ),
    Case(
        "status-missing",
        cond("cnd", {"type": "user_status", "in": ["active"]}),
        req(user(status=None)),
        False,
        "condition_failed:user_status",
        "cnd",
    ),
    Case(
        "not-active-suspended",
        cond("cnd", {"type": "user_not_active"}),
        req(user(status="suspended")),
        True,
        "allowed_by_policy",
        "cnd",
    ),
    Case(
        "not-active-active",
        cond("cnd", {"type": "user_not_active"}),
        req(),
        False,
        "condition_failed:user_not_active",
        "cnd",
    ),
    Case(
        "not-active-unknown-status-counts",
        cond("cnd", {"type": "user_not_active"}),
        req(user(status="pending")),
        True,
        "allowed_by_policy",
        "cnd",
    ),
    # scope
    Case(
        "scope-exact",
        SCOPED,
        req(Subject.client("svc", scopes={"alerts:read"})),
        True,
        "allowed_by_policy",
        "svc",
    ),
    Case(
        "scope-pattern",
        SCOPED,
        req(Subject.client("svc", scopes={"alerts:*"}), action="alerts:delete"),
        True,
        "allowed_by_policy",
        "svc",
    ),
    Case(
        "scope-missing",
        SCOPED,
        req(Subject.client("svc", scopes={"quotes:subscribe"})),
        False,
        "condition_failed:scope",
        "svc",
    ),
    Case("scope-none", SCOPED, req(Subject.client("svc")), False, "condition_failed:scope", "svc"),
    Case(
        "scope-malformed-grants-nothing",
        SCOPED,
        req(Subject.client("svc", scopes={"alerts:**", "alerts:[r]*", "*", "alerts:read:x"})),
        False,
        "condition_failed:scope",
        "svc",
    ),
    Case(
        "scope-prefix-is-not-namespace",
        SCOPED,
        req(Subject.client("svc", scopes={"alert*"})),
        False,
        "condition_failed:scope",
        "svc",
    ),
    Case(
        "scope-user-never",
        cond("cnd", {"type": "scope"}),
        req(),
        False,
        "condition_failed:scope",
        "cnd",
    ),
]


@table(CONDITIONS)
def test_each_condition_holds_or_fails(case: Case) -> None:
    run(case)


def test_a_failed_condition_is_named_with_its_facts() -> None:
    policies = cond(
        "trade-step-up", ap("trade"), WITHIN, resources=TA, actions=["trading_account:trade"]
    )
    decision = evaluate(
        policies,
        ta_req(user("owner", mfa_age=600), "trading_account:trade"),
    )
    assert decision.code == "condition_failed:mfa_within"
    assert "mfa_within" in decision.reason
    assert "600 s ago" in decision.reason and "limit 300 s" in decision.reason


def test_the_first_failing_allow_by_priority_then_name_is_reported() -> None:
    policies = [
        policy("zz-mfa", conditions=[{"type": "mfa_present"}], priority=5),
        policy("aa-owner", conditions=[OWNER]),
        policy("bb-status", conditions=[{"type": "user_status", "in": ["suspended"]}]),
    ]
    decision = evaluate(policies, req(resource=alert("u2")))
    assert (decision.code, decision.matched_policy) == ("condition_failed:mfa_present", "zz-mfa")
    decision = evaluate(policies[1:], req(resource=alert("u2")))
    assert decision.matched_policy == "aa-owner"


def test_no_match_reason_names_subject_action_and_resource() -> None:
    decision = evaluate([], req(resource=alert()))
    assert decision.reason == "Denied: no policy allows user u1 to alerts:read on alerts:a1."


CACHE = [
    ("plain-allow", [ALLOW], req(), True),
    ("plain-no-match", [], req(), True),
    (
        "credentials-never",
        [policy("pol", actions=["credentials:read"])],
        req(action="credentials:read"),
        False,
    ),
    (
        "trading-view-never",
        [policy("pol", actions=["trading_account:view"])],
        req(action="trading_account:view"),
        False,
    ),
    ("mfa-within-allow", cond("cnd", WITHIN), req(user(mfa_age=1)), False),
    ("mfa-within-failed", cond("cnd", WITHIN), req(user(mfa_age=1000)), False),
    (
        "mfa-within-deny-not-applying",
        [ALLOW, policy("den", effect="deny", subjects=["user:u1"], conditions=[WITHIN])],
        req(user(mfa_age=1000)),
        False,
    ),
    (
        "mfa-within-untargeted",
        [ALLOW, policy("other", actions=["audit:read"], conditions=[WITHIN])],
        req(),
        True,
    ),
]


@pytest.mark.parametrize(
    ("policies", "request_", "cacheable"),
    [c[1:] for c in CACHE],
    ids=[c[0] for c in CACHE],
)
def test_cacheability(policies: list[PolicyIn], request_: Request, cacheable: bool) -> None:
    decision = evaluate(policies, request_)
    assert decision.cacheable is cacheable
    assert decision.ttl_hint == (DECISION_TTL_SECONDS if cacheable else 0)
    if request_.namespace in {"credentials", "trading_account"}:
        assert decision_cache_key(request_) is None


def test_cache_key_covers_every_input_but_the_clock() -> None:
    base = req(resource=alert())
    same = req(resource=alert(), now=NOW + dt.timedelta(seconds=30))
    assert decision_cache_key(base) == decision_cache_key(same)
    variants = [
        req(user("u1", "user", "admin"), resource=alert()),
        req(user("u1", status="suspended"), resource=alert()),
        req(user("u1", mfa=True), resource=alert()),
        req(user("u2"), resource=alert()),
        req(action="alerts:update", resource=alert()),
        req(resource=alert("u2")),
        req(resource=alert(alert_id="a2")),
        req(),
    ]
    keys = {decision_cache_key(r) for r in [base, *variants]}
    assert len(keys) == len(variants) + 1


BAD_REQUESTS = [
    ("unknown-action", lambda: req(action="alerts:archive"), "unknown_permission"),
    ("pattern-action", lambda: req(action="alerts:*"), "unknown_permission"),
    ("unknown-resource-type", lambda: req(resource=Resource("orders", "1")), "invalid_resource"),
    ("resource-id-with-colon", lambda: req(resource=Resource("alerts", "a:b")), "invalid_resource"),
    ("resource-id-with-star", lambda: req(resource=Resource("alerts", "*")), "invalid_resource"),
    ("resource-id-empty", lambda: req(resource=Resource("alerts", "")), "invalid_resource"),
    ("subject-id-star", lambda: Subject.user("*", status="active"), "invalid_subject"),
    ("subject-kind", lambda: Subject("service", "x"), "invalid_subject"),  # type: ignore[arg-type]
    (
        "role-with-colon",
        lambda: Subject.user("u", roles=["a:b"], status="active"),
        "invalid_subject",
    ),
]


@pytest.mark.parametrize(
    ("build", "code"), [c[1:] for c in BAD_REQUESTS], ids=[c[0] for c in BAD_REQUESTS]
)
def test_malformed_requests_are_refused(build: Any, code: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        build()
    assert info.value.code == code


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Request(user(), "alerts:read", now=dt.datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        Subject.user("u1", status="active", mfa_at=dt.datetime(2026, 1, 1))


def test_duplicate_policy_names_are_refused_at_compile_time() -> None:
    with pytest.raises(ValueError, match="unique"):
        compile_policies([policy("same"), policy("same")])


def test_compiled_policies_count_only_enabled_ones() -> None:
    assert len(compile_policies([policy("on-pol"), policy("off-pol", enabled=False)])) == 1
