"""Policies as the admin API accepts and returns them (docs/authorization.md).

Validation is strict and complete before anything is stored, so a malformed policy is refused
whole and never half-applied (issue 4). Custom error types carry the stable codes
(``unknown_permission``, ``invalid_policy``); ``parse_policy`` turns a failed validation into
one ``ValidationFailed`` the error handler renders. Semantics live in docs/authorization.md.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from user_service.authz.catalog import (
    ESCALATION_PERMISSIONS,
    RESOURCE_TYPES,
    SUBJECT_KINDS,
    compile_pattern,
    pattern_problem,
    validate_permission,
)
from user_service.exceptions import ValidationFailed
from user_service.models import UserStatus

MAX_ENTRIES = 50
MAX_CONDITIONS = 10
NAME_PATTERN = r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$"

_STRICT = ConfigDict(extra="forbid", strict=True, frozen=True)


def _invalid(message: str) -> PydanticCustomError:
    """An error with the stable ``invalid_policy`` type; the text is never re-formatted."""
    return PydanticCustomError("invalid_policy", "{message}", {"message": message})


# --- conditions -------------------------------------------------------------------------------


class ResourceOwnerCondition(BaseModel):
    """The resource belongs to the subject user (a bare collection request is their own)."""

    model_config = _STRICT
    type: Literal["resource_owner"] = "resource_owner"


class AccountPermissionCondition(BaseModel):
    """The subject owns the trading account, or is a member holding ``permission`` or more."""

    model_config = _STRICT
    type: Literal["account_permission"] = "account_permission"
    permission: Literal["view", "trade", "manage"]


class MfaPresentCondition(BaseModel):
    """The subject's session proved a second factor at some point."""

    model_config = _STRICT
    type: Literal["mfa_present"] = "mfa_present"


class MfaWithinCondition(BaseModel):
    """The second factor was proven at most ``seconds`` ago (step-up; never cached)."""

    model_config = _STRICT
    type: Literal["mfa_within"] = "mfa_within"
    seconds: int = Field(ge=1, le=86_400)


class UserStatusCondition(BaseModel):
    """The subject user's status is one of ``in`` (clients never satisfy it)."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )
    type: Literal["user_status"] = "user_status"
    # Strict(False): a stored policy is validated from plain JSON values, not members.
    statuses: list[Annotated[UserStatus, Strict(False)]] = Field(
        alias="in", min_length=1, max_length=len(UserStatus)
    )

    @field_validator("statuses")
    @classmethod
    def _no_duplicates(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise _invalid("must not repeat a status")
        return value


class UserNotActiveCondition(BaseModel):
    """The subject user's status is anything but ``active`` (fails closed on new statuses)."""

    model_config = _STRICT
    type: Literal["user_not_active"] = "user_not_active"


class AccountFrozenCondition(BaseModel):
    """The subject user, or the owner of the trading account acted on, used the emergency
    freeze (docs/freeze.md); meant for deny policies on ``trading_account:*``."""

    model_config = _STRICT
    type: Literal["account_frozen"] = "account_frozen"


class ScopeCondition(BaseModel):
    """A client's token scopes grant the requested action (users never satisfy it)."""

    model_config = _STRICT
    type: Literal["scope"] = "scope"


Condition = Annotated[
    ResourceOwnerCondition
    | AccountPermissionCondition
    | MfaPresentCondition
    | MfaWithinCondition
    | UserStatusCondition
    | UserNotActiveCondition
    | ScopeCondition
    | AccountFrozenCondition,
    Field(discriminator="type"),
]

TIME_DEPENDENT_CONDITIONS = frozenset({"mfa_within"})
"""Condition types whose outcome changes with the clock alone: such decisions are not cached."""


# --- entry validation -------------------------------------------------------------------------


def subject_problem(subject: str) -> str | None:
    """Why a subject pattern is refused, or ``None``; only ``role``/``user``/``client`` exist."""
    if subject == "*":
        return None
    problem = pattern_problem(subject)
    if problem is not None:
        return problem
    kind, sep, value = subject.partition(":")
    if not sep:
        return "must be '*' or look like 'role:<name>', 'user:<id>' or 'client:<client_id>'"
    if kind not in SUBJECT_KINDS:
        return f"has unknown subject type {kind!r} (use {', '.join(SUBJECT_KINDS)})"
    if ":" in value:
        return "must contain exactly one ':'"
    return None


def resource_problem(resource: str) -> str | None:
    """Why a resource pattern is refused, or ``None``; the type part must be a known literal."""
    if resource == "*":
        return None
    problem = pattern_problem(resource)
    if problem is not None:
        return problem
    rtype, _, rid = resource.partition(":")
    if rtype not in RESOURCE_TYPES:
        return (
            f"has unknown resource type {rtype!r} (known: {', '.join(sorted(RESOURCE_TYPES))}; "
            "a wildcard is only allowed in the id part, or as '*' alone)"
        )
    if ":" in rid:
        return "must look like '<type>' or '<type>:<id>'"
    return None


def _check_entries(values: list[str], what: str) -> None:
    if len(set(values)) != len(values):
        raise _invalid(f"must not contain duplicate {what}")


def _covers(patterns: list[str], value: str) -> bool:
    return any(compile_pattern(p)(value) for p in patterns)


def _targets_many_users(subject: str) -> bool:
    """True when a subject pattern can reach users beyond one named user (roles, wildcards)."""
    return (
        subject == "*"
        or subject.startswith("role:")
        or (subject.startswith("user:") and "*" in subject)
    )


# --- policies ---------------------------------------------------------------------------------


class PolicyIn(BaseModel):
    """A policy as created or replaced through ``/v1/admin/policies`` (PUT replaces it whole)."""

    model_config = _STRICT

    name: str = Field(min_length=3, max_length=64, pattern=NAME_PATTERN)
    description: str = Field(default="", max_length=1000)
    effect: Literal["allow", "deny"]
    subjects: list[str] = Field(min_length=1, max_length=MAX_ENTRIES)
    actions: list[str] = Field(min_length=1, max_length=MAX_ENTRIES)
    resources: list[str] = Field(min_length=1, max_length=MAX_ENTRIES)
    conditions: list[Condition] = Field(default_factory=list, max_length=MAX_CONDITIONS)
    priority: int = Field(default=0, ge=-1000, le=1000)
    enabled: bool = True

    @field_validator("subjects")
    @classmethod
    def _valid_subjects(cls, value: list[str]) -> list[str]:
        for subject in value:
            problem = subject_problem(subject)
            if problem is not None:
                raise _invalid(f"subject {subject!r} {problem}")
        _check_entries(value, "subjects")
        return value

    @field_validator("actions")
    @classmethod
    def _valid_actions(cls, value: list[str]) -> list[str]:
        for action in value:
            try:
                validate_permission(action, allow_patterns=True)
            except ValidationFailed as exc:
                raise PydanticCustomError(exc.code, "{message}", {"message": exc.message}) from exc
        _check_entries(value, "actions")
        return value

    @field_validator("resources")
    @classmethod
    def _valid_resources(cls, value: list[str]) -> list[str]:
        for resource in value:
            problem = resource_problem(resource)
            if problem is not None:
                raise _invalid(f"resource {resource!r} {problem}")
        _check_entries(value, "resources")
        return value

    @field_validator("conditions")
    @classmethod
    def _one_condition_per_type(cls, value: list[Any]) -> list[Any]:
        types = [condition.type for condition in value]
        if len(set(types)) != len(types):
            raise _invalid("must not repeat a condition type (conditions are all required)")
        return value

    @model_validator(mode="after")
    def _no_wildcard_abuse(self) -> PolicyIn:
        """Refuse the two policies that break the system whatever else is configured.

        An unconditional allow to a wildcard subject that reaches ``users:manage`` or
        ``policies:manage`` lets every user (or every client) make themselves an admin. A deny
        that can reach admins on ``policies:manage`` would lock every admin out of repairing
        it, unless a status condition limits it to non-active users.
        """
        if (
            self.effect == "allow"
            and not self.conditions
            and any("*" in subject for subject in self.subjects)
            and any(_covers(self.actions, p) for p in sorted(ESCALATION_PERMISSIONS))
        ):
            raise _invalid(
                "An allow without conditions that grants users:manage or policies:manage must "
                "name its subjects without wildcards (e.g. 'role:admin'); otherwise everyone "
                "becomes an admin."
            )
        if (
            self.effect == "deny"
            and any(_targets_many_users(subject) for subject in self.subjects)
            and _covers(self.actions, "policies:manage")
            and (_covers(self.resources, "policies") or _covers(self.resources, "policies:x"))
            and not any(_excludes_active_users(condition) for condition in self.conditions)
        ):
            raise _invalid(
                "A deny that reaches roles or many users on 'policies:manage' would lock admins "
                "out of fixing it; narrow its actions or add a 'user_not_active' condition."
            )
        return self

    def to_document(self) -> dict[str, Any]:
        """The JSON form stored in the database and returned by the admin API."""
        return self.model_dump(mode="json", by_alias=True)


def _excludes_active_users(condition: Any) -> bool:
    if isinstance(condition, UserNotActiveCondition):
        return True
    return (
        isinstance(condition, UserStatusCondition) and UserStatus.ACTIVE not in condition.statuses
    )


class PolicyOut(PolicyIn):
    """A stored policy as the admin API returns it (read from the ORM row)."""

    model_config = ConfigDict(extra="ignore", strict=False, from_attributes=True, frozen=True)

    id: uuid.UUID
    is_system: bool = False
    created_at: dt.datetime
    updated_at: dt.datetime


def parse_policy(data: Mapping[str, Any]) -> PolicyIn:
    """Validate an admin-API payload, raising one ``ValidationFailed`` with per-field errors.

    The code is ``unknown_permission`` when every problem is an unknown permission (the
    stable code clients look for) and ``invalid_policy`` otherwise.
    """
    try:
        return PolicyIn.model_validate(dict(data))
    except ValidationError as exc:
        errors = [
            {
                "loc": list(error["loc"]),
                "msg": error["msg"],
                "type": error["type"],
            }
            for error in exc.errors(include_url=False, include_input=False)
        ]
        unknown = all(error["type"] == "unknown_permission" for error in errors)
        code = "unknown_permission" if unknown else "invalid_policy"
        first = errors[0]
        where = ".".join(str(part) for part in first["loc"]) or "policy"
        raise ValidationFailed(
            f"The policy is invalid: {where}: {first['msg']}",
            code=code,
            extra={"errors": errors},
        ) from None
