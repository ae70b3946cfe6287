"""Who asks the policy decision point: a user (about themselves) or a service with
``authz:check`` (about a user, or itself). A database fault while authenticating the caller
is already a decision fault: 503 ``decision_unavailable``, never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import jwt
from fastapi import Depends, Request

from user_service.auth.dependencies import Authenticated, bearer_token, get_current_user
from user_service.authz.service import DATABASE_ERRORS, decision_unavailable
from user_service.deps import DbSession, Services
from user_service.exceptions import Forbidden
from user_service.oauth.dependencies import ServiceIdentity, get_service_client

CHECK_SCOPE = "authz:check"


@dataclass(frozen=True)
class PdpCaller:
    user: Authenticated | None = None
    service: ServiceIdentity | None = None


def _is_service_token(token: str) -> bool:
    """Route by the token's shape; the dependency that follows verifies it for real."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return False
    return isinstance(claims, dict) and "client_id" in claims and "sid" not in claims


async def get_pdp_caller(request: Request, services: Services, db: DbSession) -> PdpCaller:
    try:
        if _is_service_token(bearer_token(request)):
            client = await get_service_client(request, services, db)
            if not client.has_scope(CHECK_SCOPE):
                raise Forbidden(
                    f"Asking for decisions needs the '{CHECK_SCOPE}' scope.",
                    code="insufficient_scope",
                )
            return PdpCaller(service=client)
        return PdpCaller(user=await get_current_user(request, services, db))
    except DATABASE_ERRORS as exc:
        raise decision_unavailable() from exc


PdpClient = Annotated[PdpCaller, Depends(get_pdp_caller)]
"""A user access token, or a service token holding ``authz:check``."""
