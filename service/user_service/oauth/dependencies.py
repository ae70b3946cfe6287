"""Clients calling the OAuth endpoints (RFC 6749 §2.3.1, RFC 7662 §2.1, RFC 7009 §2.1): by their
secret (HTTP Basic or the form, never both) or, for introspection and revocation, by one of
their own service tokens — the ``ServicePrincipal`` of ``auth/dependencies.py``, who is calling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Request
from quantagro_auth.principals import ServicePrincipal
from sqlalchemy.ext.asyncio import AsyncSession

from user_service.auth.dependencies import BearerTokenIfAny, live_service
from user_service.deps import DbSession, request_context, services_of
from user_service.models import OAuthClient
from user_service.oauth.service import authenticate_client, client_credentials, parse_form

C = TypeVar("C", bound=OAuthClient | ServicePrincipal)


@dataclass(frozen=True)
class ClientForm(Generic[C]):
    """An OAuth endpoint's form (the body is read once, here) and the client that sent it:
    the ``OAuthClient`` row it proved with its secret, or the principal of its service token."""

    form: dict[str, str]
    client: C

    @property
    def client_id(self) -> str:
        return self.client.client_id

    @property
    def scopes(self) -> frozenset[str]:
        """What the caller may do: its token's scopes, or its grant's."""
        if isinstance(self.client, ServicePrincipal):
            return self.client.scopes
        return frozenset(self.client.scopes or [])


async def _form(request: Request) -> dict[str, str]:
    return parse_form(request.headers.get("content-type"), await request.body())


async def authenticated_client(request: Request, db: AsyncSession) -> ClientForm[OAuthClient]:
    """Client credentials by HTTP Basic or in the form, never both."""
    form = await _form(request)
    credentials = client_credentials(request.headers.get("authorization"), form)
    services, context = services_of(request), request_context(request)
    return ClientForm(form, await authenticate_client(db, services, credentials, context))


async def get_authenticated_client(request: Request, db: DbSession) -> ClientForm[OAuthClient]:
    return await authenticated_client(request, db)


AuthenticatedClient = Annotated[ClientForm[OAuthClient], Depends(get_authenticated_client)]
"""RFC 6749 §2.3.1: a client proving itself with its secret (the token endpoint)."""


async def _bearer_client(
    request: Request, token: str
) -> ClientForm[OAuthClient | ServicePrincipal]:
    services = services_of(request)
    principal = await live_service(services, await services.tokens.verify(token, "service"))
    return ClientForm(await _form(request), principal)


async def get_protected_resource(
    request: Request, bearer: BearerTokenIfAny, db: DbSession
) -> ClientForm[OAuthClient | ServicePrincipal]:
    """RFC 7662 §2.1 / RFC 7009 §2.1: client credentials, or the client's own service token."""
    if bearer is not None:
        return await _bearer_client(request, bearer)
    client = await authenticated_client(request, db)
    return ClientForm(client.form, client.client)


ProtectedResourceClient = Annotated[
    ClientForm[OAuthClient | ServicePrincipal], Depends(get_protected_resource)
]
"""A client calling introspection or revocation: its secret or a valid service token."""


async def get_introspecting_client(
    request: Request, bearer: BearerTokenIfAny
) -> ClientForm[OAuthClient | ServicePrincipal]:
    """``ProtectedResourceClient`` for introspection, which writes nothing when the caller is
    authenticated: a service token needs no unit of work at all; a secret is checked in one
    (its failure is audited and committed, as on the token endpoint)."""
    if bearer is not None:
        return await _bearer_client(request, bearer)
    async with services_of(request).unit_of_work() as db:
        client = await authenticated_client(request, db)
    return ClientForm(client.form, client.client)


IntrospectingClient = Annotated[
    ClientForm[OAuthClient | ServicePrincipal], Depends(get_introspecting_client)
]
