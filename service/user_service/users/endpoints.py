"""/v1/users/me: profile, preferences and the user's own audit trail."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import StringConstraints

from user_service.audit import service as audit
from user_service.auth.dependencies import CurrentSession, CurrentUser
from user_service.deps import DbSession, RequestCtx, Services
from user_service.events.outbox import emit_user_event
from user_service.kit.validation import UtcDateTime
from user_service.models import AuthEvent
from user_service.sessions.cookies import clear_refresh_cookie, no_store
from user_service.users import freeze, service
from user_service.users.export import export_user
from user_service.users.schemas import (
    ActionTokenIn,
    AuditEventOut,
    AuditPage,
    DeactivateIn,
    DeactivateOut,
    FreezeIn,
    FreezeOut,
    PreferencesBody,
    PreferencesOut,
    UnfreezeIn,
    UserOut,
    UserUpdate,
)

EventTypeFilter = Annotated[str, StringConstraints(min_length=1, max_length=64)]

router = APIRouter(prefix="/v1/users", tags=["users"])


@router.get("/me", response_model=UserOut)
async def me(session: CurrentSession) -> UserOut:
    return session.profile


@router.patch("/me", response_model=UserOut)
async def update_me(
    body: UserUpdate, auth: CurrentUser, db: DbSession, context: RequestCtx
) -> UserOut:
    changed = service.apply_update(auth.user, body)
    if changed:
        await db.flush()
        await audit.record(
            db, "user.updated", context=context, user_id=auth.user.id, details={"fields": changed}
        )
        emit_user_event(db, "user.updated", auth.user.id, fields=changed)
    return await service.user_out(db, auth.user)


@router.get("/me/preferences", response_model=PreferencesOut)
async def get_preferences(auth: CurrentUser, db: DbSession) -> PreferencesOut:
    return PreferencesOut(preferences=await service.get_preferences(db, auth.user))


@router.put("/me/preferences", response_model=PreferencesOut)
async def put_preferences(
    body: PreferencesBody, auth: CurrentUser, db: DbSession
) -> PreferencesOut:
    return PreferencesOut(
        preferences=await service.put_preferences(db, auth.user, body.preferences)
    )


def audit_event_out(event: AuthEvent, include_user: bool = False) -> AuditEventOut:
    return AuditEventOut(
        event_id=event.id,
        event_type=event.event_type,
        occurred_at=event.occurred_at,
        actor=event.actor,
        user_id=str(event.user_id) if include_user and event.user_id else None,
        ip=event.ip_masked,
        user_agent=event.user_agent,
        risk_score=event.risk_score,
        details=event.details,
    )


@router.get("/me/audit", response_model=AuditPage)
async def my_audit(
    auth: CurrentUser,
    db: DbSession,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    event_type: Annotated[list[EventTypeFilter] | None, Query(max_length=20)] = None,
    since: UtcDateTime | None = None,
    until: UtcDateTime | None = None,
) -> AuditPage:
    """The user's own trail, newest first. ``event_type`` may repeat (any of them matches) and
    each may end in ``.*`` (``?event_type=login.*&event_type=password.changed``)."""
    events, next_cursor = await audit.page_events(
        db,
        user_id=auth.user.id,
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


@router.get("/me/export")
async def export_me(
    response: Response, auth: CurrentUser, db: DbSession, context: RequestCtx
) -> dict[str, Any]:
    """Everything held about you (GDPR Art. 15/20), without any secret."""
    no_store(response)
    await audit.record(db, "user.exported", context=context, user_id=auth.user.id)
    return await export_user(db, auth.user)


@router.post("/me/deactivate", response_model=DeactivateOut)
async def deactivate_me(
    body: DeactivateIn,
    response: Response,
    auth: CurrentUser,
    services: Services,
    db: DbSession,
    context: RequestCtx,
) -> DeactivateOut:
    """Close your own account: needs the password; every session is revoked."""
    revoked = await service.deactivate(db, services, auth.user, body.password, context)
    clear_refresh_cookie(response, services.settings)
    return DeactivateOut(status=auth.user.status, sessions_revoked=revoked)


@router.post("/me/freeze", response_model=FreezeOut)
async def freeze_me(
    body: FreezeIn,
    response: Response,
    auth: CurrentUser,
    services: Services,
    db: DbSession,
    context: RequestCtx,
) -> FreezeOut:
    """Emergency freeze ("my phone was stolen"): every session, this one included, is signed
    out and nothing happens on your trading accounts until you unfreeze (docs/freeze.md)."""
    result = await freeze.freeze_self(
        db, services, auth.user, context, password=body.password, code=body.code
    )
    clear_refresh_cookie(response, services.settings)
    return FreezeOut(
        frozen=True,
        frozen_at=result.frozen_at,
        sessions_revoked=result.sessions_revoked,
        status="frozen",
    )


@router.post("/me/unfreeze", response_model=FreezeOut)
async def unfreeze_me(
    body: UnfreezeIn, auth: CurrentUser, services: Services, db: DbSession, context: RequestCtx
) -> FreezeOut:
    """Password and a second factor; without two-factor authentication, the password and then
    the link e-mailed to you (``status: confirmation_sent``)."""
    result = await freeze.unfreeze_self(
        db, services, auth.user, context, password=body.password, code=body.code
    )
    if result is None:
        return FreezeOut(frozen=True, frozen_at=auth.user.frozen_at, status="confirmation_sent")
    return FreezeOut(frozen=False, frozen_at=None, status="unfrozen")


@router.post("/me/unfreeze/confirm", response_model=FreezeOut)
async def confirm_unfreeze_me(
    body: ActionTokenIn, auth: CurrentUser, services: Services, db: DbSession, context: RequestCtx
) -> FreezeOut:
    """The e-mailed unfreeze link, opened while signed in as the same user."""
    await freeze.confirm_unfreeze(db, services, auth.user, body.token, context)
    return FreezeOut(frozen=False, frozen_at=None, status="unfrozen")


freeze_link_router = APIRouter(prefix="/v1/auth", tags=["users"])


@freeze_link_router.post("/freeze", response_model=FreezeOut)
async def freeze_by_link(
    body: ActionTokenIn, services: Services, db: DbSession, context: RequestCtx
) -> FreezeOut:
    """Public on purpose: the single-use link of a new-sign-in e-mail is the credential, and
    the phone holding the session may be gone. Answers the same for every bad token."""
    result = await freeze.freeze_by_link(db, services, body.token, context)
    return FreezeOut(
        frozen=True,
        frozen_at=result.frozen_at,
        sessions_revoked=result.sessions_revoked,
        status="frozen",
    )
