"""/v1/internal/trading-accounts: broker credentials for services, never for browsers.

Only a service token with the ``credentials:read`` scope gets through; a user's access token
is refused with 403 ``service_token_required`` (it is a valid identity, just the wrong kind),
a service token without the scope with 403 ``insufficient_scope``. Responses are
``Cache-Control: no-store``; each release is audited (``credentials.released``).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Response
from quantagro_auth.principals import ServicePrincipal, UserPrincipal

from user_service.auth.dependencies import BearerTokenIfAny, RequireScope
from user_service.deps import DbSession, RequestCtx, Services
from user_service.exceptions import Forbidden, Unauthorized
from user_service.sessions.cookies import no_store
from user_service.trading_accounts import release
from user_service.trading_accounts.schemas import ReleasedCredentialsOut, ReleaseIn


async def refuse_user_tokens(token: BearerTokenIfAny, services: Services) -> None:
    """Tell a user token apart from a bad one: 403 rather than the generic 401."""
    if token is None:
        return  # the scope dependency answers 401
    try:
        principal = await services.tokens.verify(token, "any")
    except Unauthorized:
        return
    if isinstance(principal, UserPrincipal):
        raise Forbidden(
            "User tokens cannot fetch broker credentials; this endpoint is for services "
            "holding the 'credentials:read' scope.",
            code="service_token_required",
        )


router = APIRouter(
    prefix="/v1/internal/trading-accounts",
    tags=["internal"],
    dependencies=[Depends(refuse_user_tokens), Depends(no_store)],
)

CredentialsReader = Annotated[ServicePrincipal, RequireScope("credentials:read")]


@router.post("/{account_id}/credentials", response_model=ReleasedCredentialsOut)
async def release_credentials(
    account_id: uuid.UUID,
    client: CredentialsReader,
    services: Services,
    db: DbSession,
    context: RequestCtx,
    response: Response,
    body: ReleaseIn | None = Body(default=None),
) -> ReleasedCredentialsOut:
    """An active account's ``{api_key, api_secret, access_token}``, optionally only when the
    user the service acts for (``on_behalf_of``) owns the account or may trade with it."""
    no_store(response)
    return await release.release_credentials(
        db, services, client, account_id, body.on_behalf_of if body else None, context
    )
