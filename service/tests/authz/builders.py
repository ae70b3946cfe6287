"""Small builders that keep the decision tables readable."""

from __future__ import annotations

import datetime as dt
from typing import Any

from user_service.authz.catalog import SEEDED_POLICIES
from user_service.authz.evaluator import CompiledPolicies, Subject, compile_policies
from user_service.authz.policy_schema import PolicyIn

NOW = dt.datetime(2026, 3, 2, 9, 15, tzinfo=dt.UTC)


def policy(name: str = "pol", **fields: Any) -> PolicyIn:
    """A valid policy: allow role:user everything on everything unless told otherwise."""
    data: dict[str, Any] = {
        "name": name,
        "effect": "allow",
        "subjects": ["role:user"],
        "actions": ["alerts:read"],
        "resources": ["*"],
    }
    data.update(fields)
    return PolicyIn.model_validate(data)


def user(
    user_id: str = "u1",
    *roles: str,
    status: str | None = "active",
    mfa: bool = False,
    mfa_age: float | None = None,
) -> Subject:
    """A user; ``mfa_age`` seconds before ``NOW`` sets ``mfa_at`` (and ``mfa``)."""
    mfa_at = None if mfa_age is None else NOW - dt.timedelta(seconds=mfa_age)
    return Subject.user(
        user_id,
        roles=roles or ("user",),
        status=status,
        mfa=mfa or mfa_at is not None,
        mfa_at=mfa_at,
    )


def seeded() -> CompiledPolicies:
    return compile_policies(PolicyIn.model_validate(p) for p in SEEDED_POLICIES)
