"""Who may ask the policy decision point: a user (about themselves) or a service holding
``authz:check`` (about a user, or itself) — the principals of ``auth/dependencies.py``. A
database fault while checking the caller is already a decision fault: 503
``decision_unavailable``, never a guess.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from quantagro_auth.principals import ServicePrincipal

from user_service.auth.dependencies import BearerCaller, SignedInUser, live_service, signed_in
from user_service.authz.service import DATABASE_ERRORS, decision_unavailable
from user_service.db import read_only
from user_service.deps import services_of
from user_service.exceptions import Forbidden

CHECK_SCOPE = "authz:check"


async def pdp_caller(request: Request, token: str) -> SignedInUser | ServicePrincipal:
    """No unit of work (a decision writes nothing): a service caller is checked against the
    one-second cache (a read-only session on a miss), a user caller in a read-only session."""
    services = services_of(request)
    principal = await services.tokens.verify(token, "any")
    try:
        if isinstance(principal, ServicePrincipal):
            service = await live_service(services, principal)
            if not service.has_scope(CHECK_SCOPE):
                raise Forbidden(
                    f"Asking for decisions needs the '{CHECK_SCOPE}' scope.",
                    code="insufficient_scope",
                )
            return service
        async with read_only(services.sessionmaker) as db:
            return await signed_in(db, principal)
    except DATABASE_ERRORS as exc:
        raise decision_unavailable() from exc


PdpCaller = Annotated[SignedInUser | ServicePrincipal, Depends(BearerCaller(pdp_caller))]
"""A user access token, or a service token holding ``authz:check``."""
