"""Who is calling: ``CurrentUser`` for user access tokens (docs/api.md §4 verification rules).

The token is verified locally (no network), then its session is looked up: the service
rejects tokens of revoked or expired sessions on its own endpoints, and of users who are no
longer active. ``CurrentUser`` reads the rows in the request's unit of work (endpoints that
change them need the ORM objects); ``CurrentSession`` answers read-only endpoints from the
one-second cache of ``auth/cache.py`` under the very same rules (``_refusal``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from user_service.auth.cache import user_owner
from user_service.db import read_only, utcnow
from user_service.deps import DbSession, Services
from user_service.exceptions import Unauthorized
from user_service.models import User, UserSession
from user_service.sessions import repository as sessions_repository
from user_service.state import AppServices
from user_service.users.schemas import UserOut


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise Unauthorized("Authentication is required.", code="not_authenticated")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Use an 'Authorization: Bearer <token>' header.", code="invalid_token")
    return token.strip()


@dataclass(frozen=True)
class Authenticated:
    user: User
    session: UserSession
    claims: dict[str, Any]


def _ids(claims: dict[str, Any]) -> tuple[uuid.UUID, uuid.UUID]:
    try:
        return uuid.UUID(claims["sid"]), uuid.UUID(claims["sub"])
    except (ValueError, TypeError, KeyError) as exc:
        raise Unauthorized("The access token is not valid.", code="invalid_token") from exc


def _refusal(
    found: tuple[UserSession, User] | None, user_id: uuid.UUID, now: dt.datetime
) -> Unauthorized | None:
    """Why this session (and its user) may not call us, or ``None``: the one place the rules
    live, for the database path and the cached one alike."""
    if found is None or found[0].user_id != user_id or found[0].revoked_at is not None:
        return Unauthorized("This session has been signed out.", code="session_revoked")
    session, user = found
    if session.expires_at <= now:
        return Unauthorized("This session has expired.", code="session_expired")
    if user.status != "active":
        return Unauthorized("This account is not active.", code="account_inactive")
    return None


async def get_current_user(request: Request, services: Services, db: DbSession) -> Authenticated:
    claims = await services.tokens.decode(bearer_token(request), expected="user")
    session_id, user_id = _ids(claims)
    found = await sessions_repository.session_with_user(db, session_id)
    refusal = _refusal(found, user_id, utcnow())
    if refusal is not None:
        raise refusal
    assert found is not None
    session, user = found
    return Authenticated(user=user, session=session, claims=claims)


CurrentUser = Annotated[Authenticated, Depends(get_current_user)]


@dataclass(frozen=True, slots=True)
class LiveSession:
    """A session found live (and its user active) by a read that began at most a second ago."""

    session_id: uuid.UUID
    user_id: uuid.UUID
    expires_at: dt.datetime
    profile: UserOut


async def live_session(
    services: AppServices, session_id: uuid.UUID, user_id: uuid.UUID
) -> LiveSession | Unauthorized:
    """The session's state from the cache, else from the database (and then cached)."""
    cache = services.auth_cache
    key = ("session", session_id)
    cached: LiveSession | None = None
    if cache is not None:
        cached = cache.get(key) or await cache.get_after_read(key)
    if cached is not None and cached.user_id == user_id:
        if cached.expires_at <= utcnow():
            return Unauthorized("This session has expired.", code="session_expired")
        return cached
    if cache is None:
        return await _read_live_session(services, session_id, user_id)
    ticket = cache.ticket()
    with cache.reading(key):
        live = await _read_live_session(services, session_id, user_id)
    if isinstance(live, LiveSession):
        cache.put(key, user_owner(user_id), live, ticket)
    return live


async def _read_live_session(
    services: AppServices, session_id: uuid.UUID, user_id: uuid.UUID
) -> LiveSession | Unauthorized:
    from user_service.users.service import user_out  # users' endpoints import this module

    async with read_only(services.sessionmaker) as db:
        found = await sessions_repository.session_with_user(db, session_id)
        refusal = _refusal(found, user_id, utcnow())
        if refusal is not None:
            return refusal
        assert found is not None
        session, user = found
        return LiveSession(session_id, user_id, session.expires_at, await user_out(db, user))


@dataclass(frozen=True, slots=True)
class SessionPrincipal:
    session: LiveSession
    claims: dict[str, Any]


async def get_session_principal(request: Request, services: Services) -> SessionPrincipal:
    claims = await services.tokens.decode(bearer_token(request), expected="user")
    session_id, user_id = _ids(claims)
    live = await live_session(services, session_id, user_id)
    if isinstance(live, Unauthorized):
        raise live
    return SessionPrincipal(live, claims)


CurrentSession = Annotated[SessionPrincipal, Depends(get_session_principal)]
"""``CurrentUser`` for read-only endpoints: no unit of work, the session's facts cached ≤ 1 s."""
