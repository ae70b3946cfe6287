"""The permission catalog and the wildcard grammar (docs/authorization.md, "Matching")."""

from __future__ import annotations

import pytest

from user_service.authz.catalog import (
    KNOWN_PERMISSIONS,
    RESOURCE_TYPES,
    SEEDED_POLICIES,
    SEEDED_POLICY_GROUPS,
    account_permission_implies,
    compile_pattern,
    pattern_problem,
    permissions_matching,
    validate_permission,
)
from user_service.authz.policy_schema import PolicyIn
from user_service.exceptions import ValidationFailed

MATCHES = [
    ("*", "alerts:create", True),
    ("*", "anything:at:all", True),
    ("alerts:*", "alerts:create", True),
    ("alerts:*", "alertsx:create", False),
    ("alerts:*", "alerts", False),
    ("alerts:*", "alerts:create:extra", False),
    ("alerts:*", "xalerts:create", False),
    ("*:read", "profile:read", True),
    ("*:read", "profile:update", False),
    ("*:read", "a:b:read", False),
    ("client:*", "client:ticker_service", True),
    ("client:*", "user:ticker_service", False),
    ("client:ticker_*", "client:ticker_service", True),
    ("client:ticker_*", "client:alert_service", False),
    ("client:*_service", "client:alert_service", True),
    ("user:4*", "user:42", True),
    ("user:4*", "user:142", False),
    ("trading_account:*", "trading_account:7f3c-9a", True),
    ("alert:1.2", "alert:1x2", False),
    ("alert:1.2", "alert:1.2", True),
    ("a-b:c*d", "a-b:cxyzd", True),
    ("a-b:c*d", "a-b:c:d", False),
    ("role:admin", "role:admin", True),
    ("role:admin", "role:administrator", False),
    ("role:admin", "role:Admin", False),
]


@pytest.mark.parametrize(
    ("pattern", "value", "expected"), MATCHES, ids=[f"{p}~{v}" for p, v, _ in MATCHES]
)
def test_wildcards_are_segment_aware(pattern: str, value: str, expected: bool) -> None:
    assert compile_pattern(pattern)(value) is expected


@pytest.mark.parametrize(
    "value", ["alerts:[a]", "alerts:?", "alerts:a?c"], ids=["brackets", "question", "mid-question"]
)
def test_fnmatch_metacharacters_have_no_meaning_in_values(value: str) -> None:
    # such values never equal a pattern made of the allowed characters except through '*'
    assert compile_pattern("alerts:*")(value) is True
    assert compile_pattern("alerts:a")(value) is False


BAD_PATTERNS = [
    ("", "empty"),
    ("alerts:**", "double-star"),
    ("alerts:[ab]", "brackets"),
    ("alerts:?", "question-mark"),
    ("alerts create", "space"),
    ("alerts:", "trailing-colon"),
    (":alerts", "leading-colon"),
    ("alerts::read", "doubled-colon"),
    ("a*b*c*d*e*f", "too-many-stars"),
    ("x" * 201, "too-long"),
    ("alerts:ré", "non-ascii"),
    ("alerts/read", "slash"),
]


@pytest.mark.parametrize("pattern", [p for p, _ in BAD_PATTERNS], ids=[i for _, i in BAD_PATTERNS])
def test_malformed_patterns_are_refused(pattern: str) -> None:
    assert pattern_problem(pattern) is not None
    with pytest.raises(ValueError, match="pattern"):
        compile_pattern(pattern)


@pytest.mark.parametrize("permission", sorted(KNOWN_PERMISSIONS))
def test_every_known_permission_validates_and_is_documented(permission: str) -> None:
    assert validate_permission(permission) == permission
    assert KNOWN_PERMISSIONS[permission].endswith(".")
    assert permission.split(":")[0] in RESOURCE_TYPES


@pytest.mark.parametrize(
    ("permission", "allow_patterns", "code"),
    [
        ("alerts:archive", False, "unknown_permission"),
        ("alertz:read", True, "unknown_permission"),
        ("alerts:*", False, "unknown_permission"),
        ("alertz:*", True, "unknown_permission"),
        ("*:fly", True, "unknown_permission"),
        ("alerts:**", True, "invalid_policy"),
        ("alerts:*:x", True, "invalid_policy"),
        ("ALERTS:READ", False, "unknown_permission"),
        ("", False, "unknown_permission"),
    ],
    ids=[
        "unknown-verb",
        "typo-namespace",
        "pattern-where-exact-needed",
        "pattern-over-unknown-namespace",
        "pattern-matching-nothing",
        "double-star",
        "three-segments",
        "case-matters",
        "empty",
    ],
)
def test_unknown_permissions_are_refused_with_stable_codes(
    permission: str, allow_patterns: bool, code: str
) -> None:
    with pytest.raises(ValidationFailed) as info:
        validate_permission(permission, allow_patterns=allow_patterns)
    assert info.value.code == code
    assert info.value.status_code == 422


@pytest.mark.parametrize("pattern", ["*", "alerts:*", "*:read", "trading_account:*", "al*:cr*"])
def test_patterns_over_known_types_are_accepted_in_policies(pattern: str) -> None:
    assert validate_permission(pattern, allow_patterns=True) == pattern


def test_permissions_matching_lists_what_a_scope_grants() -> None:
    assert permissions_matching("alerts:*") == {
        "alerts:create",
        "alerts:read",
        "alerts:update",
        "alerts:delete",
    }


@pytest.mark.parametrize(
    ("held", "required", "expected"),
    [
        ("manage", "trade", True),
        ("manage", "view", True),
        ("trade", "view", True),
        ("trade", "trade", True),
        ("view", "trade", False),
        ("trade", "manage", False),
        ("admin", "view", False),
    ],
)
def test_account_permissions_imply_weaker_ones(held: str, required: str, expected: bool) -> None:
    assert account_permission_implies(held, required) is expected


def test_seeded_policies_are_valid_unique_and_grouped_by_spec_concern() -> None:
    policies = [PolicyIn.model_validate(p) for p in SEEDED_POLICIES]
    names = [p.name for p in policies]
    assert len(set(names)) == len(names) == 9
    assert len(SEEDED_POLICY_GROUPS) == 5
    grouped = [name for group in SEEDED_POLICY_GROUPS.values() for name in group]
    assert sorted(grouped) == sorted(names)
    # the data round-trips unchanged, so it can be copied into a migration as is
    assert [p.to_document() for p in policies] == [dict(p) for p in SEEDED_POLICIES]
