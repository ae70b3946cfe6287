"""The admin API's rules: user status and roles, policies, and the first admin (docs/api.md §3).

Every change is audited as ``permission.changed`` (``details.change`` says which: roles,
status, policy_created/updated/deleted), emitted to the outbox (``permission.changed``, or
``user.status_changed``) and invalidates cached decisions once committed.

Two guards keep the platform administrable: a change that would leave no active admin is
refused (``last_admin``), and an admin cannot change their own status here (suspending
yourself would end the very session doing it; ``/v1/users/me/deactivate`` exists for that).
System policies (the seeded ones) are read-only: they are owned by migrations and checked
against ``authz.catalog``; narrow them with a deny, widen them with an allow.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from user_service.admin import repository
from user_service.admin.schemas import AdminUserDetail, AdminUserOut, RolesIn, StatusIn
from user_service.audit import service as audit
from user_service.audit.service import RequestContext
from user_service.auth import password_policy
from user_service.authz import repository as authz_repository
from user_service.authz.invalidation import invalidate_decisions
from user_service.authz.policy_schema import PolicyIn, PolicyOut, parse_policy
from user_service.db import utcnow
from user_service.events.outbox import emit, emit_user_event
from user_service.exceptions import BadRequest, Conflict, NotFound, ValidationFailed
from user_service.kit.pagination import MAX_LIMIT, decode_cursor, encode_cursor
from user_service.kit.validation import cursor_datetime, cursor_str, cursor_uuid
from user_service.mfa import repository as mfa_repository
from user_service.models import Policy, User, UserStatus
from user_service.sessions import service as sessions
from user_service.state import AppServices
from user_service.users import repository as users_repository
from user_service.users import service as users_service
from user_service.users.repository import ADMIN_ROLE


def _actor(admin: User | None) -> str:
    return f"user:{admin.id}" if admin is not None else "cli"


async def _user(db: AsyncSession, user_id: uuid.UUID) -> User:
    user = await users_repository.get_by_id(db, user_id)
    if user is None:
        raise NotFound("No user has this id.", code="user_not_found")
    return user


def _user_out(user: User, roles: list[str]) -> AdminUserOut:
    return AdminUserOut(
        user_id=str(user.id),
        email=user.email,
        name=user.name,
        status=user.status,
        roles=roles,
        email_verified=user.email_verified,
        created_at=user.created_at,
        updated_at=user.updated_at,
    )


# --- users ------------------------------------------------------------------------------------


async def list_users(
    db: AsyncSession, *, q: str | None, status: UserStatus | None, limit: int, cursor: str | None
) -> tuple[list[AdminUserOut], str | None]:
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}.", code="invalid_limit")
    position = decode_cursor(cursor)
    before = None
    if position is not None:
        before = (cursor_datetime(position, "c"), cursor_uuid(position, "i"))
    rows = list(await repository.page_users(db, q=q, status=status, before=before, limit=limit + 1))
    page = rows[:limit]
    roles = await repository.roles_of(db, [user.id for user in page])
    next_cursor = None
    if len(rows) > limit:
        last = page[-1]
        next_cursor = encode_cursor({"c": last.created_at.isoformat(), "i": str(last.id)})
    return [_user_out(user, roles[user.id]) for user in page], next_cursor


async def user_detail(db: AsyncSession, user_id: uuid.UUID) -> AdminUserDetail:
    user = await _user(db, user_id)
    summary = _user_out(user, await users_repository.role_names(db, user.id))
    return AdminUserDetail(
        **summary.model_dump(),
        phone=user.phone,
        timezone=user.timezone,
        locale=user.locale,
        mfa_enabled=await mfa_repository.is_enabled(db, user.id),
        active_sessions=await repository.count_active_sessions(db, user.id, utcnow()),
        trading_accounts=await users_repository.trading_account_ids(db, user.id),
        frozen=user.frozen_at is not None,
        frozen_at=user.frozen_at,
        frozen_reason=user.frozen_reason,
        frozen_by=user.frozen_by,
    )


async def freeze_user(
    db: AsyncSession,
    services: AppServices,
    staff: User,
    user_id: uuid.UUID,
    reason: str,
    context: RequestContext,
) -> AdminUserDetail:
    """Support or compliance freezes an account (a reported theft, an investigation)."""
    from user_service.users import freeze  # users.freeze builds on sessions and accounts

    user = await _user(db, user_id)
    await freeze.freeze(
        db, services, user, context, via="admin", actor=f"user:{staff.id}", reason=reason
    )
    return await user_detail(db, user_id)


async def unfreeze_user(
    db: AsyncSession,
    services: AppServices,
    admin: User,
    user_id: uuid.UUID,
    reason: str,
    context: RequestContext,
) -> AdminUserDetail:
    """An admin lifts a freeze, with a reason; never their own (that needs their factors)."""
    from user_service.users import freeze

    if user_id == admin.id:
        raise Conflict(
            "Admins unfreeze their own account from Security, with their password and "
            "second factor.",
            code="cannot_unfreeze_self",
        )
    user = await _user(db, user_id)
    await freeze.unfreeze(
        db, services, user, context, via="admin", actor=f"user:{admin.id}", reason=reason
    )
    return await user_detail(db, user_id)


async def change_status(
    db: AsyncSession,
    services: AppServices,
    admin: User,
    user_id: uuid.UUID,
    body: StatusIn,
    context: RequestContext,
) -> AdminUserDetail:
    """Suspending or deactivating revokes every session at once (docs/api.md §3)."""
    if user_id == admin.id:
        raise Conflict(
            "Admins cannot change their own status here; use /v1/users/me/deactivate.",
            code="cannot_change_own_status",
        )
    user = await _user(db, user_id)
    previous = user.status
    if body.status == previous:
        return await user_detail(db, user_id)
    roles = await users_repository.role_names(db, user.id)
    if previous == "active" and ADMIN_ROLE in roles:
        await users_service.ensure_another_admin(db, user)
    user.status = body.status
    user.updated_at = utcnow()
    await db.flush()
    revoked = 0
    if body.status != UserStatus.ACTIVE:
        revoked = await sessions.revoke_user_sessions(db, user.id, reason=f"{body.status}_by_admin")
    details = {
        "change": "status",
        "previous_status": previous,
        "status": body.status,
        "reason": body.reason,
        "sessions_revoked": revoked,
    }
    await audit.record(
        db,
        "permission.changed",
        context=context,
        user_id=user.id,
        actor=_actor(admin),
        details=details,
    )
    emit_user_event(db, "user.status_changed", user.id, changed_by=str(admin.id), **details)
    invalidate_decisions(db, user_ids=[user.id])
    return await user_detail(db, user_id)


async def _apply_roles(
    db: AsyncSession,
    user: User,
    wanted: list[str],
    *,
    admin: User | None,
    context: RequestContext | None,
) -> list[str]:
    """Set the user's roles to ``wanted``; audit, emit and invalidate when they change."""
    wanted = sorted(set(wanted))
    known = await users_repository.roles_by_name(db, wanted)
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise ValidationFailed(f"Unknown role(s): {', '.join(unknown)}.", code="unknown_role")
    previous = await users_repository.role_names(db, user.id)
    if previous == wanted:
        return previous
    if ADMIN_ROLE in previous and ADMIN_ROLE not in wanted and user.status == UserStatus.ACTIVE:
        await users_service.ensure_another_admin(db, user)
    await users_repository.set_roles(
        db, user.id, [known[name] for name in wanted], granted_by=_actor(admin)
    )
    details = {"change": "roles", "previous_roles": previous, "roles": wanted}
    await audit.record(
        db,
        "permission.changed",
        context=context,
        user_id=user.id,
        actor=_actor(admin),
        details=details,
    )
    emit_user_event(db, "permission.changed", user.id, changed_by=_actor(admin), **details)
    invalidate_decisions(db, user_ids=[user.id])
    return wanted


async def set_roles(
    db: AsyncSession, admin: User, user_id: uuid.UUID, body: RolesIn, context: RequestContext
) -> AdminUserDetail:
    user = await _user(db, user_id)
    await _apply_roles(db, user, body.roles, admin=admin, context=context)
    return await user_detail(db, user_id)


# --- policies ---------------------------------------------------------------------------------


async def list_policies(
    db: AsyncSession, *, limit: int, cursor: str | None
) -> tuple[list[PolicyOut], str | None]:
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}.", code="invalid_limit")
    position = decode_cursor(cursor)
    after = cursor_str(position, "after") if position else None
    rows = list(await authz_repository.page_policies(db, after_name=after, limit=limit + 1))
    page = [PolicyOut.model_validate(row) for row in rows[:limit]]
    next_cursor = encode_cursor({"after": page[-1].name}) if len(rows) > limit else None
    return page, next_cursor


async def _policy(db: AsyncSession, policy_id: uuid.UUID) -> Policy:
    policy = await authz_repository.get_policy(db, policy_id)
    if policy is None:
        raise NotFound("No policy has this id.", code="policy_not_found")
    return policy


async def get_policy(db: AsyncSession, policy_id: uuid.UUID) -> PolicyOut:
    return PolicyOut.model_validate(await _policy(db, policy_id))


def _read_only(policy: Policy) -> None:
    if policy.is_system:
        raise Conflict(
            f"'{policy.name}' is a system policy and cannot be changed or deleted; add a deny "
            "policy to narrow it or an allow policy to widen it.",
            code="system_policy_read_only",
        )


async def _name_free(db: AsyncSession, name: str, except_id: uuid.UUID | None = None) -> None:
    if await authz_repository.policy_name_taken(db, name, except_id=except_id):
        raise Conflict(f"A policy named {name!r} exists.", code="policy_name_taken")


def _policy_changed(
    db: AsyncSession,
    change: str,
    policy: Policy,
    admin: User,
    details: dict[str, Any],
) -> dict[str, Any]:
    payload = {"change": change, "policy_id": str(policy.id), "name": policy.name, **details}
    emit(
        db,
        "permission.changed",
        aggregate_type="policy",
        aggregate_id=policy.id,
        payload={**payload, "changed_by": str(admin.id)},
    )
    invalidate_decisions(db)  # every decision may depend on any policy
    return payload


async def create_policy(
    db: AsyncSession, admin: User, data: Mapping[str, Any], context: RequestContext
) -> PolicyOut:
    """Validated whole before anything is written: a malformed policy is never half-applied."""
    document = parse_policy(data).to_document()
    await _name_free(db, document["name"])
    now = utcnow()
    policy = Policy(id=uuid.uuid4(), is_system=False, created_at=now, updated_at=now, **document)
    try:
        await authz_repository.add_policy(db, policy)
    except IntegrityError as exc:  # a concurrent create with the same name
        raise Conflict(f"A policy named {policy.name!r} exists.", code="policy_name_taken") from exc
    details = _policy_changed(db, "policy_created", policy, admin, {"policy": document})
    await audit.record(
        db, "permission.changed", context=context, actor=_actor(admin), details=details
    )
    return PolicyOut.model_validate(policy)


async def replace_policy(
    db: AsyncSession,
    admin: User,
    policy_id: uuid.UUID,
    data: Mapping[str, Any],
    context: RequestContext,
) -> PolicyOut:
    """PUT replaces the policy whole (fields left out take their defaults)."""
    policy = await _policy(db, policy_id)
    _read_only(policy)
    new: PolicyIn = parse_policy(data)
    document = new.to_document()
    await _name_free(db, document["name"], except_id=policy.id)
    previous = PolicyOut.model_validate(policy).to_document()
    previous = {key: previous[key] for key in document}
    for key, value in document.items():
        setattr(policy, key, value)
    policy.updated_at = utcnow()
    await db.flush()
    details = _policy_changed(
        db, "policy_updated", policy, admin, {"previous": previous, "policy": document}
    )
    await audit.record(
        db, "permission.changed", context=context, actor=_actor(admin), details=details
    )
    return PolicyOut.model_validate(policy)


async def delete_policy(
    db: AsyncSession, admin: User, policy_id: uuid.UUID, context: RequestContext
) -> None:
    policy = await _policy(db, policy_id)
    _read_only(policy)
    document = PolicyOut.model_validate(policy).to_document()
    await authz_repository.delete_policy(db, policy.id)
    details = _policy_changed(db, "policy_deleted", policy, admin, {"previous": document})
    await audit.record(
        db, "permission.changed", context=context, actor=_actor(admin), details=details
    )


# --- the first admin (CLI) --------------------------------------------------------------------


@dataclass(frozen=True)
class AdminGrant:
    user: User
    created: bool
    roles: list[str]


async def create_admin(
    db: AsyncSession, services: AppServices, email: str, password: str | None, name: str
) -> AdminGrant:
    """Create the user (password policy applies, email taken as verified: an operator vouches
    for it) or promote an existing one; either way they hold ``user`` and ``admin``."""
    user = await users_repository.get_by_email(db, email)
    created = user is None
    if user is None:
        if password is None:
            raise ValidationFailed("A password is needed to create a user.", code="weak_password")
        password_policy.enforce(password, services.password_rules, (email, name))
        now = utcnow()
        user = User(
            id=uuid.uuid4(),
            email=email,
            password_hash=await services.hasher.hash(password),
            name=name,
            status=UserStatus.ACTIVE,
            email_verified_at=now,
        )
        db.add(user)
        await db.flush()
        await audit.record(db, "user.registered", user_id=user.id, actor="cli")
        emit_user_event(db, "user.registered", user.id, email=user.email)
    current = await users_repository.role_names(db, user.id)
    roles = await _apply_roles(db, user, [*current, "user", ADMIN_ROLE], admin=None, context=None)
    return AdminGrant(user, created, roles)
