"""GDPR export (Art. 15/20): everything held about the user, and no secret.

Secrets are left out by construction — only named, non-secret columns are read: no password
hash, TOTP secret, backup-code or token hash, and no broker credential (only the masked key).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from user_service.audit.repository import iterate_user_events
from user_service.db import utcnow
from user_service.identities import repository as identities_repository
from user_service.mfa import repository as mfa_repository
from user_service.models import TradingAccount, TradingAccountMembership, User, UserSession
from user_service.users import repository
from user_service.users.service import get_preferences


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


async def export_user(db: AsyncSession, user: User) -> dict[str, Any]:
    user_id: uuid.UUID = user.id
    sessions = (
        await db.execute(select(UserSession).where(UserSession.user_id == user_id))
    ).scalars()
    accounts = (
        await db.execute(
            select(TradingAccount)
            .outerjoin(
                TradingAccountMembership,
                (TradingAccountMembership.account_id == TradingAccount.id)
                & (TradingAccountMembership.user_id == user_id),
            )
            .where(
                or_(
                    TradingAccount.owner_user_id == user_id,
                    TradingAccountMembership.user_id == user_id,
                )
            )
        )
    ).scalars()
    devices = await mfa_repository.totp_devices(db, user_id)
    keys = await mfa_repository.passkeys(db, user_id)
    return {
        "exported_at": utcnow().isoformat(),
        "profile": {
            "user_id": str(user.id),
            "email": user.email,
            "email_verified_at": _iso(user.email_verified_at),
            "name": user.name,
            "phone": user.phone,
            "timezone": user.timezone,
            "locale": user.locale,
            "status": user.status,
            "created_at": _iso(user.created_at),
            "password_changed_at": _iso(user.password_changed_at),
        },
        "roles": await repository.role_names(db, user_id),
        "preferences": await get_preferences(db, user),
        "mfa": {
            "totp_enabled": bool(devices),
            "enabled_at": _iso(
                min((d.confirmed_at for d in devices if d.confirmed_at), default=None)
            ),
            "factors": [
                {"type": "totp", "name": d.name, "created_at": _iso(d.confirmed_at)}
                for d in devices
            ]
            + [{"type": "passkey", "name": k.name, "created_at": _iso(k.created_at)} for k in keys],
        },
        "sessions": [
            {
                "session_id": str(s.id),
                "created_at": _iso(s.created_at),
                "last_active_at": _iso(s.last_active_at),
                "ip": s.ip,
                "user_agent": s.user_agent,
                "device": s.device,
                "revoked_at": _iso(s.revoked_at),
                "revoked_reason": s.revoked_reason,
            }
            for s in sessions
        ],
        "linked_identities": [
            {
                "provider": i.provider,
                "subject": i.subject,
                "email": i.email,
                "created_at": _iso(i.created_at),
                "last_used_at": _iso(i.last_used_at),
            }
            for i in await identities_repository.identities_of(db, user_id)
        ],
        "trading_accounts": [
            {
                "account_id": str(a.id),
                "broker": a.broker,
                "user_id_broker": a.user_id_broker,
                "status": a.status,
                "api_key_masked": a.api_key_masked,
                "role": "owner" if a.owner_user_id == user_id else "member",
                "created_at": _iso(a.created_at),
            }
            for a in accounts
        ],
        "audit_events": [
            {
                "event_id": e.id,
                "event_type": e.event_type,
                "occurred_at": _iso(e.occurred_at),
                "actor": e.actor,
                "ip": e.ip_masked,
                "user_agent": e.user_agent,
                "details": e.details,
            }
            async for e in iterate_user_events(db, user_id)
        ],
    }
