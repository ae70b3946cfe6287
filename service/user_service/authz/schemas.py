"""Bodies of ``POST /v1/authz/check`` and ``/v1/authz/check-batch`` (docs/authorization.md §11)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from user_service.kit.validation import STRICT_BODY

MAX_BATCH_CHECKS = 50

Permission = Annotated[str, StringConstraints(min_length=1, max_length=100)]
SubjectRef = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class ResourceIn(BaseModel):
    """A resource as an object; ``owner_id`` is a fact the calling service vouches for."""

    model_config = STRICT_BODY

    type: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    id: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    owner_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None


ResourceRef = Annotated[str, StringConstraints(min_length=1, max_length=265)] | ResourceIn
"""``"type"`` / ``"type:id"``, or ``{"type", "id", "owner_id"}``."""


class CheckItem(BaseModel):
    model_config = STRICT_BODY

    permission: Permission
    resource: ResourceRef | None = None


class CheckIn(CheckItem):
    """One question; ``subject`` (a user id) only with a service token holding ``authz:check``."""

    subject: SubjectRef | None = None


class BatchCheckIn(BaseModel):
    """Several questions about one subject, answered in order."""

    model_config = STRICT_BODY

    subject: SubjectRef | None = None
    checks: list[CheckItem] = Field(min_length=1, max_length=MAX_BATCH_CHECKS)


class DecisionOut(BaseModel):
    allowed: bool
    code: str = Field(
        description="stable: allowed_by_policy, denied_by_policy, "
        "condition_failed:<type>, no_matching_policy, resource_not_found"
    )
    reason: str
    policy: str | None = Field(description="the policy that decided, if any")
    permission: str
    resource: str | None = Field(description="the resource as matched ('type' or 'type:id')")
    subject: str = Field(description="'user:<id>' or 'client:<client_id>'")
    ttl: int = Field(description="seconds the answer may be reused; 0: ask every time")
    cached: bool = Field(description="served from the decision cache")


class BatchDecisionOut(BaseModel):
    subject: str
    results: list[DecisionOut]
