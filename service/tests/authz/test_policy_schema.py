"""Policy validation: a malformed policy is refused whole, with a stable code (issue 4)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from user_service.authz.policy_schema import (
    MfaWithinCondition,
    PolicyIn,
    PolicyOut,
    UserStatusCondition,
    parse_policy,
)
from user_service.exceptions import ValidationFailed

VALID: dict[str, Any] = {
    "name": "alert-readers",
    "description": "Users read alerts.",
    "effect": "allow",
    "subjects": ["role:user"],
    "actions": ["alerts:read"],
    "resources": ["alerts:*"],
}


def with_(**changes: Any) -> dict[str, Any]:
    data = dict(VALID)
    for key, value in changes.items():
        if value is ...:
            data.pop(key)
        else:
            data[key] = value
    return data


INVALID: list[tuple[str, dict[str, Any], str, str]] = [
    # id, payload, expected code, a fragment of the error
    ("missing-effect", with_(effect=...), "invalid_policy", "effect"),
    ("bad-effect", with_(effect="permit"), "invalid_policy", "effect"),
    ("extra-field", with_(owner="me"), "invalid_policy", "Extra inputs"),
    ("name-not-slug", with_(name="Alert Readers"), "invalid_policy", "name"),
    ("name-too-short", with_(name="ab"), "invalid_policy", "name"),
    ("name-too-long", with_(name="a" * 65), "invalid_policy", "name"),
    ("description-too-long", with_(description="x" * 1001), "invalid_policy", "description"),
    ("no-subjects", with_(subjects=[]), "invalid_policy", "subjects"),
    ("unknown-subject-type", with_(subjects=["group:traders"]), "invalid_policy", "subject type"),
    ("wildcard-subject-type", with_(subjects=["*:42"]), "invalid_policy", "subject type"),
    ("bare-subject", with_(subjects=["admin"]), "invalid_policy", "role:<name>"),
    ("subject-double-star", with_(subjects=["user:**"]), "invalid_policy", "'**'"),
    ("subject-three-parts", with_(subjects=["user:1:2"]), "invalid_policy", "exactly one"),
    ("subject-bad-chars", with_(subjects=["user:a b"]), "invalid_policy", "letters"),
    ("duplicate-subjects", with_(subjects=["role:user"] * 2), "invalid_policy", "duplicate"),
    ("too-many-subjects", with_(subjects=[f"user:{i}" for i in range(51)]), "invalid_policy", ""),
    ("entry-too-long", with_(subjects=["user:" + "x" * 200]), "invalid_policy", "200"),
    ("unknown-action", with_(actions=["alerts:archive"]), "unknown_permission", "Unknown"),
    ("typo-action-pattern", with_(actions=["alertz:*"]), "unknown_permission", "Unknown"),
    ("action-double-star", with_(actions=["alerts:**"]), "invalid_policy", "'**'"),
    ("action-brackets", with_(actions=["alerts:[rc]*"]), "invalid_policy", "letters"),
    ("no-actions", with_(actions=[]), "invalid_policy", "actions"),
    ("unknown-resource-type", with_(resources=["orders:*"]), "invalid_policy", "resource type"),
    ("wildcard-resource-type", with_(resources=["*:1"]), "invalid_policy", "resource type"),
    ("resource-three-parts", with_(resources=["alerts:1:2"]), "invalid_policy", "<type>:<id>"),
    ("resource-string-not-list", with_(resources="*"), "invalid_policy", "resources"),
    ("priority-as-string", with_(priority="5"), "invalid_policy", "priority"),
    ("priority-out-of-range", with_(priority=10_000), "invalid_policy", "priority"),
    ("enabled-as-string", with_(enabled="yes"), "invalid_policy", "enabled"),
    ("unknown-condition", with_(conditions=[{"type": "ip_in"}]), "invalid_policy", "conditions"),
    (
        "condition-extra-field",
        with_(conditions=[{"type": "mfa_present", "strict": True}]),
        "invalid_policy",
        "Extra",
    ),
    (
        "mfa-within-zero",
        with_(conditions=[{"type": "mfa_within", "seconds": 0}]),
        "invalid_policy",
        "seconds",
    ),
    (
        "mfa-within-over-a-day",
        with_(conditions=[{"type": "mfa_within", "seconds": 86_401}]),
        "invalid_policy",
        "seconds",
    ),
    (
        "account-permission-unknown",
        with_(conditions=[{"type": "account_permission", "permission": "own"}]),
        "invalid_policy",
        "permission",
    ),
    (
        "user-status-unknown",
        with_(conditions=[{"type": "user_status", "in": ["banned"]}]),
        "invalid_policy",
        "in",
    ),
    (
        "user-status-empty",
        with_(conditions=[{"type": "user_status", "in": []}]),
        "invalid_policy",
        "in",
    ),
    (
        "repeated-condition",
        with_(conditions=[{"type": "mfa_present"}, {"type": "mfa_present"}]),
        "invalid_policy",
        "repeat",
    ),
    (
        "allow-everything-to-everyone",
        with_(subjects=["*"], actions=["*"], resources=["*"]),
        "invalid_policy",
        "everyone",
    ),
    (
        "allow-everything-to-all-clients",
        with_(subjects=["client:*"], actions=["*"]),
        "invalid_policy",
        "everyone",
    ),
    (
        "allow-all-actions-spelled-as-star-colon-star",
        with_(subjects=["role:*"], actions=["*:*"]),
        "invalid_policy",
        "everyone",
    ),
    (
        "allow-policy-management-to-all-users",
        with_(subjects=["user:*"], actions=["alerts:read", "policies:manage"]),
        "invalid_policy",
        "everyone",
    ),
    (
        "deny-locking-out-admins",
        with_(effect="deny", subjects=["role:admin"], actions=["*"], resources=["*"]),
        "invalid_policy",
        "lock admins out",
    ),
    (
        "deny-all-users-on-policies",
        with_(effect="deny", subjects=["user:*"], actions=["policies:*"], resources=["policies"]),
        "invalid_policy",
        "lock admins out",
    ),
    (
        "deny-admins-unless-mfa-still-locks-out",
        with_(
            effect="deny",
            subjects=["*"],
            actions=["*"],
            resources=["*"],
            conditions=[{"type": "mfa_present"}],
        ),
        "invalid_policy",
        "lock admins out",
    ),
    (
        "deny-on-status-including-active",
        with_(
            effect="deny",
            subjects=["*"],
            actions=["*"],
            resources=["*"],
            conditions=[{"type": "user_status", "in": ["active", "suspended"]}],
        ),
        "invalid_policy",
        "lock admins out",
    ),
]


@pytest.mark.parametrize(
    ("payload", "code", "fragment"),
    [case[1:] for case in INVALID],
    ids=[case[0] for case in INVALID],
)
def test_malformed_policies_are_refused(payload: dict[str, Any], code: str, fragment: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        parse_policy(payload)
    error = info.value
    assert error.code == code
    assert error.status_code == 422
    assert error.extra["errors"], "per-field errors are reported"
    text = error.message + " ".join(str(e) for e in error.extra["errors"])
    assert fragment in text


VALID_VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("minimal", VALID),
    ("wildcard-subjects", with_(subjects=["*", "client:ticker_*", "user:42", "role:compliance"])),
    ("action-patterns", with_(actions=["alerts:*", "*:read"])),
    ("everyone-reads-everything", with_(subjects=["*"], actions=["*:read"])),
    ("bare-resource-type", with_(resources=["alerts", "quotes"])),
    ("uuid-resource", with_(resources=["trading_account:0f8e2c1a-77b4-4c1e-9d1e-8a3b2c1d0e9f"])),
    ("admin-everything", with_(subjects=["role:admin"], actions=["*"], resources=["*"])),
    (
        "conditional-wildcard-allow",
        with_(subjects=["client:*"], actions=["*"], conditions=[{"type": "scope"}]),
    ),
    (
        "deny-one-user-on-policies",
        with_(effect="deny", subjects=["user:42"], actions=["policies:manage"]),
    ),
    (
        "deny-non-active-by-status",
        with_(
            effect="deny",
            subjects=["*"],
            actions=["*"],
            resources=["*"],
            conditions=[{"type": "user_status", "in": ["suspended", "deactivated"]}],
        ),
    ),
    (
        "deny-trading-without-policies",
        with_(effect="deny", subjects=["role:user"], actions=["trading_account:trade"]),
    ),
    (
        "every-condition-type",
        with_(
            conditions=[
                {"type": "resource_owner"},
                {"type": "account_permission", "permission": "view"},
                {"type": "mfa_present"},
                {"type": "mfa_within", "seconds": 300},
                {"type": "user_status", "in": ["active"]},
                {"type": "scope"},
            ]
        ),
    ),
]


@pytest.mark.parametrize(
    "payload", [v for _, v in VALID_VARIANTS], ids=[i for i, _ in VALID_VARIANTS]
)
def test_well_formed_policies_are_accepted_and_round_trip(payload: dict[str, Any]) -> None:
    parsed = parse_policy(payload)
    assert PolicyIn.model_validate(parsed.to_document()) == parsed


def test_conditions_are_a_discriminated_union_serialised_with_their_wire_names() -> None:
    parsed = parse_policy(
        with_(
            conditions=[
                {"type": "mfa_within", "seconds": 300},
                {"type": "user_status", "in": ["active"]},
            ]
        )
    )
    assert isinstance(parsed.conditions[0], MfaWithinCondition)
    assert isinstance(parsed.conditions[1], UserStatusCondition)
    assert parsed.to_document()["conditions"][1] == {"type": "user_status", "in": ["active"]}


def test_only_unknown_permissions_give_the_unknown_permission_code() -> None:
    with pytest.raises(ValidationFailed) as info:
        parse_policy(with_(actions=["alerts:archive"], subjects=["group:x"]))
    assert info.value.code == "invalid_policy"
    assert {e["type"] for e in info.value.extra["errors"]} == {
        "unknown_permission",
        "invalid_policy",
    }


def test_policy_in_raises_pydantic_errors_for_framework_use() -> None:
    with pytest.raises(ValidationError):
        PolicyIn.model_validate(with_(actions=["nope:nope"]))


def test_policy_out_reads_a_stored_row() -> None:
    import datetime as dt
    import uuid
    from types import SimpleNamespace

    row = SimpleNamespace(
        **VALID,
        id=uuid.uuid4(),
        conditions=[{"type": "resource_owner"}],
        priority=0,
        enabled=True,
        is_system=True,
        created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        updated_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )
    out = PolicyOut.model_validate(row)
    assert out.is_system and out.conditions[0].type == "resource_owner"
    assert out.model_dump(mode="json")["id"] == str(row.id)
