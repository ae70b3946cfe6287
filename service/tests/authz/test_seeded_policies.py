"""The seeded policies end to end: the platform's everyday questions (docs/api.md §3, issue 4)."""

from __future__ import annotations

import pytest

from tests.authz.builders import NOW, seeded, user
from user_service.authz.catalog import KNOWN_PERMISSIONS
from user_service.authz.evaluator import Decision, Request, Resource, Subject

POLICIES = seeded()


def decide(subject: Subject, action: str, resource: Resource | None = None) -> Decision:
    return POLICIES.evaluate(Request(subject, action, resource, NOW))


def alert(owner: str, alert_id: str = "a1") -> Resource:
    return Resource("alerts", alert_id, owner_id=owner)


def shared_account(*member_permissions: str) -> Resource:
    return Resource.trading_account(
        "acct-1", owner_id="owner", member_permissions=member_permissions
    )


ALICE = user("alice")
TICKER = Subject.client("ticker_service", scopes={"quotes:subscribe", "credentials:read"})
ALERTS_SVC = Subject.client("alert_service", scopes={"alerts:*", "authz:check"})

SCENARIOS = [
    # id, subject, action, resource, allowed, code, matched policy
    (
        "own-alert-read",
        ALICE,
        "alerts:read",
        alert("alice"),
        True,
        "allowed_by_policy",
        "users-own-resources",
    ),
    (
        "own-alert-delete",
        ALICE,
        "alerts:delete",
        alert("alice"),
        True,
        "allowed_by_policy",
        "users-own-resources",
    ),
    (
        "own-alerts-collection",
        ALICE,
        "alerts:read",
        None,
        True,
        "allowed_by_policy",
        "users-own-resources",
    ),
    (
        "create-alert",
        ALICE,
        "alerts:create",
        None,
        True,
        "allowed_by_policy",
        "users-own-resources",
    ),
    (
        "someone-elses-alert",
        ALICE,
        "alerts:read",
        alert("bob"),
        False,
        "condition_failed:resource_owner",
        "users-own-resources",
    ),
    (
        "someone-elses-alert-collection",
        ALICE,
        "alerts:read",
        Resource("alerts", owner_id="bob"),
        False,
        "condition_failed:resource_owner",
        "users-own-resources",
    ),
    (
        "alert-of-unknown-owner",
        ALICE,
        "alerts:update",
        Resource("alerts", "a9"),
        False,
        "condition_failed:resource_owner",
        "users-own-resources",
    ),
    (
        "own-profile",
        ALICE,
        "profile:update",
        Resource("profile", "alice", owner_id="alice"),
        True,
        "allowed_by_policy",
        "users-own-resources",
    ),
    (
        "own-positions",
        ALICE,
        "positions:read",
        None,
        True,
        "allowed_by_policy",
        "users-own-resources",
    ),
    ("quotes", ALICE, "quotes:subscribe", None, True, "allowed_by_policy", "users-own-resources"),
    ("user-not-admin", ALICE, "users:read", None, False, "no_matching_policy", None),
    ("user-no-audit", ALICE, "audit:read", None, False, "no_matching_policy", None),
    (
        "user-no-credentials",
        ALICE,
        "credentials:read",
        shared_account(),
        False,
        "no_matching_policy",
        None,
    ),
    (
        "suspended-own-alert",
        user("alice", status="suspended"),
        "alerts:read",
        alert("alice"),
        False,
        "denied_by_policy",
        "deny-non-active-users",
    ),
    (
        "deactivated-profile",
        user("alice", status="deactivated"),
        "profile:read",
        None,
        False,
        "denied_by_policy",
        "deny-non-active-users",
    ),
    (
        "status-unknown-fails-closed",
        user("alice", status=None),
        "alerts:read",
        alert("alice"),
        False,
        "denied_by_policy",
        "deny-non-active-users",
    ),
    (
        "suspended-admin",
        user("root", "admin", status="suspended"),
        "users:manage",
        None,
        False,
        "denied_by_policy",
        "deny-non-active-users",
    ),
    # trading accounts
    (
        "owner-views",
        user("owner"),
        "trading_account:view",
        shared_account(),
        True,
        "allowed_by_policy",
        "users-trading-account-view",
    ),
    (
        "view-member-views",
        user("m"),
        "trading_account:view",
        shared_account("view"),
        True,
        "allowed_by_policy",
        "users-trading-account-view",
    ),
    (
        "stranger-views",
        user("x"),
        "trading_account:view",
        shared_account(),
        False,
        "condition_failed:account_permission",
        "users-trading-account-view",
    ),
    (
        "view-member-trades",
        user("m", mfa_age=60),
        "trading_account:trade",
        shared_account("view"),
        False,
        "condition_failed:account_permission",
        "users-trading-account-trade",
    ),
    (
        "trade-member-fresh-mfa",
        user("m", mfa_age=60),
        "trading_account:trade",
        shared_account("trade"),
        True,
        "allowed_by_policy",
        "users-trading-account-trade",
    ),
    (
        "manage-member-fresh-mfa",
        user("m", mfa_age=60),
        "trading_account:trade",
        shared_account("manage"),
        True,
        "allowed_by_policy",
        "users-trading-account-trade",
    ),
    (
        "trade-member-stale-mfa",
        user("m", mfa_age=600),
        "trading_account:trade",
        shared_account("trade"),
        False,
        "condition_failed:mfa_within",
        "users-trading-account-trade",
    ),
    (
        "owner-without-mfa",
        user("owner"),
        "trading_account:trade",
        shared_account(),
        False,
        "condition_failed:mfa_within",
        "users-trading-account-trade",
    ),
    (
        "owner-fresh-mfa",
        user("owner", mfa_age=5),
        "trading_account:trade",
        shared_account(),
        True,
        "allowed_by_policy",
        "users-trading-account-trade",
    ),
    (
        "trade-member-manages",
        user("m"),
        "trading_account:manage",
        shared_account("trade"),
        False,
        "condition_failed:account_permission",
        "users-trading-account-manage",
    ),
    (
        "manage-member-manages",
        user("m"),
        "trading_account:manage",
        shared_account("manage"),
        True,
        "allowed_by_policy",
        "users-trading-account-manage",
    ),
    (
        "suspended-owner-trades",
        user("owner", status="suspended", mfa_age=5),
        "trading_account:trade",
        shared_account(),
        False,
        "denied_by_policy",
        "deny-non-active-users",
    ),
    # compliance
    (
        "compliance-audit",
        user("c", "compliance"),
        "audit:read",
        None,
        True,
        "allowed_by_policy",
        "compliance-audit-read",
    ),
    (
        "compliance-audit-entry",
        user("c", "compliance"),
        "audit:read",
        Resource("audit", "e1"),
        True,
        "allowed_by_policy",
        "compliance-audit-read",
    ),
    # services
    (
        "ticker-quotes",
        TICKER,
        "quotes:subscribe",
        None,
        True,
        "allowed_by_policy",
        "services-on-their-scopes",
    ),
    (
        "ticker-credentials",
        TICKER,
        "credentials:read",
        shared_account(),
        True,
        "allowed_by_policy",
        "services-on-their-scopes",
    ),
    (
        "ticker-alerts",
        TICKER,
        "alerts:read",
        None,
        False,
        "condition_failed:scope",
        "services-on-their-scopes",
    ),
    (
        "ticker-trade",
        TICKER,
        "trading_account:trade",
        shared_account(),
        False,
        "condition_failed:scope",
        "services-on-their-scopes",
    ),
    (
        "alert-service-pattern-scope",
        ALERTS_SVC,
        "alerts:delete",
        alert("bob"),
        True,
        "allowed_by_policy",
        "services-on-their-scopes",
    ),
    (
        "alert-service-authz-check",
        ALERTS_SVC,
        "authz:check",
        None,
        True,
        "allowed_by_policy",
        "services-on-their-scopes",
    ),
    (
        "alert-service-no-credentials",
        ALERTS_SVC,
        "credentials:read",
        shared_account(),
        False,
        "condition_failed:scope",
        "services-on-their-scopes",
    ),
]


@pytest.mark.parametrize(
    ("subject", "action", "resource", "allowed", "code", "matched"),
    [s[1:] for s in SCENARIOS],
    ids=[s[0] for s in SCENARIOS],
)
def test_seeded_policy_decisions(
    subject: Subject,
    action: str,
    resource: Resource | None,
    allowed: bool,
    code: str,
    matched: str | None,
) -> None:
    decision = decide(subject, action, resource)
    assert (decision.allowed, decision.code, decision.matched_policy) == (
        allowed,
        code,
        matched,
    ), decision.reason
    if matched is not None:
        assert matched in decision.reason


def test_stale_step_up_reason_names_mfa_within() -> None:
    decision = decide(user("m", mfa_age=600), "trading_account:trade", shared_account("trade"))
    assert "mfa_within" in decision.reason
    assert "users-trading-account-trade" in decision.reason
    assert "600 s ago" in decision.reason
    assert decision.cacheable is False


@pytest.mark.parametrize("action", sorted(KNOWN_PERMISSIONS))
@pytest.mark.parametrize(
    "resource",
    [None, Resource("alerts", "a1", owner_id="bob"), shared_account()],
    ids=["no-resource", "someone-elses-alert", "someone-elses-account"],
)
def test_admin_is_allowed_everything(action: str, resource: Resource | None) -> None:
    decision = decide(user("root", "admin"), action, resource)
    assert decision.allowed, decision.reason
    assert decision.matched_policy == "admin-everything"


@pytest.mark.parametrize("action", sorted(set(KNOWN_PERMISSIONS) - {"audit:read"}))
def test_compliance_reads_audit_and_nothing_else(action: str) -> None:
    decision = decide(user("c", "compliance"), action)
    assert not decision.allowed
    assert decision.code == "no_matching_policy"


@pytest.mark.parametrize("action", sorted(set(KNOWN_PERMISSIONS) - {"quotes:subscribe"}))
def test_a_client_with_one_scope_gets_only_that(action: str) -> None:
    decision = decide(Subject.client("ticker_service", scopes={"quotes:subscribe"}), action)
    assert not decision.allowed
    assert decision.code == "condition_failed:scope"
