"""Who is calling, for service tokens: ``ServiceClient`` and ``RequireScope(...)`` (docs/api.md §4).

A service token is accepted only where a service is expected (a user access token, an MFA
session token or a refresh token never is), only while its client is enabled and its ``jti``
has not been revoked through RFC 7009.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from user_service.auth.dependencies import bearer_token
from user_service.db import unit_of_work
from user_service.deps import DbSession, RequestCtx, Services
from user_service.exceptions import Forbidden
from user_service.models import OAuthClient
from user_service.oauth.service import (
    authenticate_client,
    client_credentials,
    parse_form,
    service_token_refusal,
)


@dataclass(frozen=True)
class ServiceIdentity:
    client_id: str
    scopes: frozenset[str]
    claims: dict[str, Any]
    expires_at: dt.datetime

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


async def get_service_client(request: Request, services: Services) -> ServiceIdentity:
    """No unit of work: the revocation facts come from the one-second cache, or (on a miss)
    from a read-only session of their own (``service_token_refusal``)."""
    claims = await services.tokens.decode(bearer_token(request), expected="service")
    client_id = str(claims["client_id"])
    refusal = await service_token_refusal(services, None, claims)
    if refusal is not None:
        raise refusal
    scope = claims.get("scope") or ""
    return ServiceIdentity(
        client_id=client_id,
        scopes=frozenset(scope.split()) if isinstance(scope, str) else frozenset(),
        claims=claims,
        expires_at=dt.datetime.fromtimestamp(int(claims["exp"]), dt.UTC),
    )


ServiceClient = Annotated[ServiceIdentity, Depends(get_service_client)]


def RequireScope(scope: str) -> Any:
    """``Annotated`` alias of a service caller that must hold ``scope``."""

    async def dependency(client: ServiceClient) -> ServiceIdentity:
        if not client.has_scope(scope):
            raise Forbidden(f"This endpoint needs the '{scope}' scope.", code="insufficient_scope")
        return client

    return Annotated[ServiceIdentity, Depends(dependency)]


# --- clients authenticating to the OAuth endpoints (RFC 6749 §2.3.1, RFC 7662 §2.1) -----------


@dataclass(frozen=True)
class ClientRequest:
    """An authenticated client and the form it sent (the body is read once, here)."""

    client_id: str
    form: dict[str, str]
    client: OAuthClient | None = None
    scopes: frozenset[str] = frozenset()  # what the caller may do (its token's or its grant's)


async def _form(request: Request) -> dict[str, str]:
    return parse_form(request.headers.get("content-type"), await request.body())


async def get_authenticated_client(
    request: Request, services: Services, db: DbSession, context: RequestCtx
) -> ClientRequest:
    """Client credentials by HTTP Basic or in the form, never both."""
    form = await _form(request)
    credentials = client_credentials(request.headers.get("authorization"), form)
    client = await authenticate_client(db, services, credentials, context)
    return ClientRequest(client.client_id, form, client, frozenset(client.scopes or []))


AuthenticatedClient = Annotated[ClientRequest, Depends(get_authenticated_client)]
"""RFC 6749 §2.3.1: a client proving itself with its secret (the token endpoint)."""


async def get_protected_resource(
    request: Request, services: Services, db: DbSession, context: RequestCtx
) -> ClientRequest:
    """RFC 7662 §2.1 / RFC 7009 §2.1: client credentials, or the client's own service token."""
    scheme = request.headers.get("authorization", "").partition(" ")[0].lower()
    if scheme == "bearer":
        return await _bearer_client(request, services)
    return await get_authenticated_client(request, services, db, context)


ProtectedResourceClient = Annotated[ClientRequest, Depends(get_protected_resource)]
"""A client calling introspection or revocation: its secret or a valid service token."""


async def _bearer_client(request: Request, services: Services) -> ClientRequest:
    identity = await get_service_client(request, services)
    return ClientRequest(identity.client_id, await _form(request), scopes=identity.scopes)


async def get_introspecting_client(
    request: Request, services: Services, context: RequestCtx
) -> ClientRequest:
    """``ProtectedResourceClient`` for introspection, which writes nothing when the caller is
    authenticated: a service token needs no unit of work at all; a secret is checked in one
    (its failure is audited and committed, as on the token endpoint)."""
    scheme = request.headers.get("authorization", "").partition(" ")[0].lower()
    if scheme == "bearer":
        return await _bearer_client(request, services)
    async with unit_of_work(services.sessionmaker) as db:
        return await get_authenticated_client(request, services, db, context)


IntrospectingClient = Annotated[ClientRequest, Depends(get_introspecting_client)]
