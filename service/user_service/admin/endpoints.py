"""``/v1/admin``: users, roles, policies and the audit log across users (docs/api.md §3)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response

from user_service.admin import service
from user_service.admin.dependencies import AdminUser, AuditReader, FreezeOperator
from user_service.admin.schemas import (
    AdminUserDetail,
    FreezeReasonIn,
    PolicyPage,
    RolesIn,
    StatusIn,
    UserPage,
)
from user_service.audit import service as audit
from user_service.authz.policy_schema import PolicyOut
from user_service.deps import DbSession, RequestCtx, Services
from user_service.kit.validation import UtcDateTime
from user_service.models import UserStatus
from user_service.users.endpoints import audit_event_out
from user_service.users.schemas import AuditPage

router = APIRouter(prefix="/v1/admin", tags=["admin"])

Limit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[str | None, Query(max_length=400)]
PolicyBody = Annotated[
    dict[str, Any],
    Body(
        description="A policy document (docs/authorization.md §3); validated whole, "
        "422 invalid_policy / unknown_permission when malformed."
    ),
]


# --- users ------------------------------------------------------------------------------------


@router.get("/users", response_model=UserPage)
async def list_users(
    admin: AdminUser,
    db: DbSession,
    q: Annotated[str | None, Query(max_length=200, description="part of email or name")] = None,
    status: UserStatus | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> UserPage:
    items, next_cursor = await service.list_users(
        db, q=q, status=status, limit=limit, cursor=cursor
    )
    return UserPage(items=items, next_cursor=next_cursor)


@router.get("/users/{user_id}", response_model=AdminUserDetail)
async def get_user(user_id: uuid.UUID, admin: AdminUser, db: DbSession) -> AdminUserDetail:
    return await service.user_detail(db, user_id)


@router.patch("/users/{user_id}/status", response_model=AdminUserDetail)
async def change_status(
    user_id: uuid.UUID,
    body: StatusIn,
    admin: AdminUser,
    db: DbSession,
    services: Services,
    context: RequestCtx,
) -> AdminUserDetail:
    """Suspending or deactivating revokes every session of the user."""
    return await service.change_status(db, services, admin.user, user_id, body, context)


@router.post("/users/{user_id}/freeze", response_model=AdminUserDetail)
async def freeze_user(
    user_id: uuid.UUID,
    body: FreezeReasonIn,
    staff: FreezeOperator,
    db: DbSession,
    services: Services,
    context: RequestCtx,
) -> AdminUserDetail:
    """Emergency freeze on the user's behalf (roles admin or compliance; docs/freeze.md)."""
    return await service.freeze_user(db, services, staff.user, user_id, body.reason, context)


@router.post("/users/{user_id}/unfreeze", response_model=AdminUserDetail)
async def unfreeze_user(
    user_id: uuid.UUID,
    body: FreezeReasonIn,
    admin: AdminUser,
    db: DbSession,
    services: Services,
    context: RequestCtx,
) -> AdminUserDetail:
    """Lift a freeze (role admin), with a reason; audited and e-mailed to the user."""
    return await service.unfreeze_user(db, services, admin.user, user_id, body.reason, context)


@router.put("/users/{user_id}/roles", response_model=AdminUserDetail)
async def set_roles(
    user_id: uuid.UUID, body: RolesIn, admin: AdminUser, db: DbSession, context: RequestCtx
) -> AdminUserDetail:
    """Replace the user's roles; takes effect on the next decision."""
    return await service.set_roles(db, admin.user, user_id, body, context)


# --- policies ---------------------------------------------------------------------------------


@router.get("/policies", response_model=PolicyPage)
async def list_policies(
    admin: AdminUser, db: DbSession, limit: Limit = 100, cursor: Cursor = None
) -> PolicyPage:
    items, next_cursor = await service.list_policies(db, limit=limit, cursor=cursor)
    return PolicyPage(items=items, next_cursor=next_cursor)


@router.post("/policies", response_model=PolicyOut, status_code=201)
async def create_policy(
    body: PolicyBody, admin: AdminUser, db: DbSession, context: RequestCtx
) -> PolicyOut:
    return await service.create_policy(db, admin.user, body, context)


@router.get("/policies/{policy_id}", response_model=PolicyOut)
async def get_policy(policy_id: uuid.UUID, admin: AdminUser, db: DbSession) -> PolicyOut:
    return await service.get_policy(db, policy_id)


@router.put("/policies/{policy_id}", response_model=PolicyOut)
async def replace_policy(
    policy_id: uuid.UUID, body: PolicyBody, admin: AdminUser, db: DbSession, context: RequestCtx
) -> PolicyOut:
    """Replace a policy whole; system policies are read-only (409)."""
    return await service.replace_policy(db, admin.user, policy_id, body, context)


@router.delete("/policies/{policy_id}", status_code=204)
async def delete_policy(
    policy_id: uuid.UUID, admin: AdminUser, db: DbSession, context: RequestCtx
) -> Response:
    await service.delete_policy(db, admin.user, policy_id, context)
    return Response(status_code=204)


# --- audit ------------------------------------------------------------------------------------


@router.get("/audit", response_model=AuditPage, response_model_exclude_none=True)
async def audit_log(
    reader: AuditReader,
    db: DbSession,
    user_id: uuid.UUID | None = None,
    event_type: Annotated[str | None, Query(max_length=64)] = None,
    since: UtcDateTime | None = None,
    until: UtcDateTime | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> AuditPage:
    """The audit log across users, newest first (roles admin and compliance)."""
    events, next_cursor = await audit.page_events(
        db,
        user_id=user_id,
        event_type=event_type,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    )
    return AuditPage(
        items=[audit_event_out(event, include_user=True) for event in events],
        next_cursor=next_cursor,
    )
