"""Who is calling: ``CurrentUser`` for user access tokens (SPEC §4 verification rules).

The token is verified locally (no network), then its session is looked up: the service
rejects tokens of revoked or expired sessions on its own endpoints, and of users who are no
longer active.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from user_service.db import utcnow
from user_service.deps import DbSession, Services
from user_service.exceptions import Unauthorized
from user_service.models import User, UserSession
from user_service.sessions import repository as sessions_repository


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


async def get_current_user(request: Request, services: Services, db: DbSession) -> Authenticated:
    claims = await services.tokens.decode(bearer_token(request), expected="user")
    try:
        session_id = uuid.UUID(claims["sid"])
        user_id = uuid.UUID(claims["sub"])
    except (ValueError, TypeError, KeyError) as exc:
        raise Unauthorized("The access token is not valid.", code="invalid_token") from exc
    found = await sessions_repository.session_with_user(db, session_id)
    if found is None or found[0].user_id != user_id or found[0].revoked_at is not None:
        raise Unauthorized("This session has been signed out.", code="session_revoked")
    session, user = found
    if session.expires_at <= utcnow():
        raise Unauthorized("This session has expired.", code="session_expired")
    if user.status != "active":
        raise Unauthorized("This account is not active.", code="account_inactive")
    return Authenticated(user=user, session=session, claims=claims)


CurrentUser = Annotated[Authenticated, Depends(get_current_user)]
