"""Who asks the policy decision point: a user (about themselves) or a service with
``authz:check`` (about a user, or itself). A database fault while authenticating the caller
is already a decision fault: 503 ``decision_unavailable``, never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from user_service.auth.dependencies import Authenticated, bearer_token, get_current_user
from user_service.authz.service import DATABASE_ERRORS, decision_unavailable
from user_service.db import read_only
from user_service.deps import Services
from user_service.exceptions import Forbidden
from user_service.oauth.dependencies import ServiceIdentity, get_service_client

CHECK_SCOPE = "authz:check"


@dataclass(frozen=True)
class PdpCaller:
    user: Authenticated | None = None
    service: ServiceIdentity | None = None


def _is_service_token(claims: dict[str, object]) -> bool:
    return "client_id" in claims and "sid" not in claims


async def get_pdp_caller(request: Request, services: Services) -> PdpCaller:
    """No unit of work (a decision writes nothing): a service caller is checked against the
    one-second cache (a read-only session on a miss), a user caller in a read-only session.
    The token is routed by its verified claims (``TokenService.decode`` remembers them)."""
    token = bearer_token(request)
    try:
        if _is_service_token(await services.tokens.decode(token, expected="any")):
            client = await get_service_client(request, services)
            if not client.has_scope(CHECK_SCOPE):
                raise Forbidden(
                    f"Asking for decisions needs the '{CHECK_SCOPE}' scope.",
                    code="insufficient_scope",
                )
            return PdpCaller(service=client)
        async with read_only(services.sessionmaker) as db:
            return PdpCaller(user=await get_current_user(request, services, db))
    except DATABASE_ERRORS as exc:
        raise decision_unavailable() from exc


PdpClient = Annotated[PdpCaller, Depends(get_pdp_caller)]
"""A user access token, or a service token holding ``authz:check``."""
