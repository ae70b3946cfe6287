"""The user's own profile, preferences and audit trail."""

from __future__ import annotations

import copy
import json
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from user_service.audit import service as audit
from user_service.audit.service import RequestContext
from user_service.auth import guessing
from user_service.authz.invalidation import invalidate_decisions
from user_service.events.outbox import emit_user_event
from user_service.exceptions import Conflict, ValidationFailed
from user_service.mfa import repository as mfa_repository
from user_service.models import User, UserPreferences, UserStatus
from user_service.sessions.service import revoke_user_sessions
from user_service.state import AppServices
from user_service.users import repository
from user_service.users.repository import ADMIN_ROLE
from user_service.users.schemas import UserOut, UserUpdate

DEFAULT_PREFERENCES: dict[str, Any] = {
    "theme": "system",
    "default_exchange": "NSE",
    "notifications": {"email": True, "security_alerts": True},
    "dashboard": {"layout": "default"},
}
MAX_PREFERENCES_BYTES = 16_384


async def user_out(db: AsyncSession, user: User) -> UserOut:
    return UserOut(
        user_id=str(user.id),
        email=user.email,
        email_verified=user.email_verified,
        name=user.name,
        phone=user.phone,
        timezone=user.timezone,
        locale=user.locale,
        status=user.status,
        roles=await repository.role_names(db, user.id),
        mfa_enabled=await mfa_repository.is_enabled(db, user.id),
        created_at=user.created_at,
        frozen=user.frozen_at is not None,
        frozen_at=user.frozen_at,
    )


def apply_update(user: User, update: UserUpdate) -> list[str]:
    changed = []
    for field in update.model_fields_set:
        value = getattr(update, field)
        if field in ("name", "timezone", "locale") and value is None:
            raise ValidationFailed(f"{field} cannot be empty.", code="validation_error")
        if getattr(user, field) != value:
            setattr(user, field, value)
            changed.append(field)
    return changed


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


async def get_preferences(db: AsyncSession, user: User) -> dict[str, Any]:
    row = await repository.get_preferences(db, user.id)
    return _merge(DEFAULT_PREFERENCES, row.preferences if row else {})


async def put_preferences(
    db: AsyncSession, user: User, preferences: dict[str, Any]
) -> dict[str, Any]:
    if len(json.dumps(preferences)) > MAX_PREFERENCES_BYTES:
        raise ValidationFailed(
            f"Preferences are limited to {MAX_PREFERENCES_BYTES} bytes of JSON.",
            code="preferences_too_large",
        )
    row = await repository.get_preferences(db, user.id)
    if row is None:
        db.add(UserPreferences(user_id=user.id, preferences=preferences))
    else:
        row.preferences = preferences
    await db.flush()
    return _merge(DEFAULT_PREFERENCES, preferences)


async def ensure_another_admin(db: AsyncSession, target: User) -> None:
    """Refuse a change that would leave no active admin (checked under a lock)."""
    await repository.lock_admin_role(db)
    admins = await repository.active_admin_ids(db)
    if admins <= {target.id}:
        raise Conflict(
            "This change would leave the platform without an active admin; make another "
            "user an admin first.",
            code="last_admin",
        )


async def deactivate(
    db: AsyncSession, services: AppServices, user: User, password: str, context: RequestContext
) -> int:
    attempt = await guessing.confirm_password(
        db, services, user, password, context, failed_event="user.deactivate_failed"
    )
    await guessing.succeeded(services, attempt)
    if ADMIN_ROLE in await repository.role_names(db, user.id):
        await ensure_another_admin(db, user)
    user.status = UserStatus.DEACTIVATED
    await db.flush()
    revoked = await revoke_user_sessions(db, user.id, reason="account_deactivated")
    await audit.record(
        db,
        "user.deactivated",
        context=context,
        user_id=user.id,
        details={"sessions_revoked": revoked},
    )
    emit_user_event(db, "user.deactivated", user.id)
    invalidate_decisions(db, user_ids=[user.id])
    return revoked
