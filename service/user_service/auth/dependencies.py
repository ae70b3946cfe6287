"""Who is calling (docs/api.md §4): the principals, and the dependencies endpoints put in their
signature. An endpoint with none of them is public, on purpose.

The ``Authorization: Bearer`` header is read in one place, ``_BearerScheme`` (a FastAPI
security scheme, so the OpenAPI document declares it on every operation that asks for a
caller), and the
token is verified locally by ``TokenService.verify`` into the SDK's frozen ``UserPrincipal``
or ``ServicePrincipal``. Then the credential must still be live, under one set of rules for
every path (``_refusal``, ``service_token_refusal``):

* ``CurrentUser`` — a ``SignedInUser``: the principal with its session and user rows, read in
  the request's unit of work (for endpoints that change them);
* ``CurrentSession`` — a ``LiveSession`` from the one-second cache of ``auth/cache.py``, with
  no unit of work (for read-only endpoints);
* ``ServiceCaller``, ``RequireScope("…")`` — a ``ServicePrincipal`` whose client is enabled and
  whose ``jti`` was not revoked (RFC 7009), also cached for a second;
* ``RequireRole("…")`` — a ``CurrentUser`` holding one of the roles, read from the database
  on every request, so a demoted admin loses the admin API at once.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Request
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.params import Depends as DependsParam
from fastapi.params import Security as SecurityParam
from fastapi.security.base import SecurityBase
from quantagro_auth.principals import ServicePrincipal, UserPrincipal
from sqlalchemy.ext.asyncio import AsyncSession

from user_service.auth.cache import client_owner, user_owner
from user_service.db import read_only, utcnow
from user_service.deps import DbSession, services_of
from user_service.exceptions import Forbidden, Unauthorized
from user_service.models import User, UserSession
from user_service.oauth import repository as oauth_repository
from user_service.sessions import repository as sessions_repository
from user_service.state import AppServices
from user_service.users import repository as users_repository
from user_service.users.schemas import UserOut


class _BearerScheme(SecurityBase):
    """``Authorization: Bearer <token>`` (RFC 6750 §2.1), declared in the OpenAPI document as
    ``HTTPBearer`` declares it, and read in the same one dependency that refuses it: FastAPI
    solves every nested dependency again on each request (docs/performance.md), so reading
    the header with ``HTTPBearer`` and refusing it in a second dependency cost a level."""

    def __init__(self) -> None:
        self.model = HTTPBearerModel(
            bearerFormat="JWT",
            description="A user's access token (from login) or a service token "
            "(client credentials).",
        )
        self.scheme_name = "bearer"

    @staticmethod
    def token(request: Request) -> str | None:
        """The token of a ``Bearer`` header; ``None`` when absent or of another scheme."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip()
        return token if scheme.lower() == "bearer" and token else None


class _OptionalBearer(_BearerScheme):
    async def __call__(self, request: Request) -> str | None:
        return self.token(request)


def required_token(request: Request) -> str:
    """The bearer token, or 401: ``not_authenticated`` without an ``Authorization`` header,
    ``invalid_token`` when it is not ``Bearer <token>``."""
    token = _BearerScheme.token(request)
    if token is not None:
        return token
    if request.headers.get("authorization"):
        raise Unauthorized("Use an 'Authorization: Bearer <token>' header.", code="invalid_token")
    raise Unauthorized("Authentication is required.", code="not_authenticated")


class _RequiredBearer(_BearerScheme):
    async def __call__(self, request: Request) -> str:
        return required_token(request)


BearerToken = Annotated[str, Depends(_RequiredBearer())]
"""The caller's bearer token; 401 without one."""

T = TypeVar("T")


class BearerCaller(_BearerScheme, Generic[T]):
    """A caller dependency that is its own security scheme: it reads the bearer token (401
    without one) and resolves it with ``resolve`` in one FastAPI level, where a dependency on
    ``BearerToken`` would take two (the hot paths: users/me, decisions, service callers)."""

    def __init__(self, resolve: Callable[[Request, str], Awaitable[T]]) -> None:
        super().__init__()
        self.resolve = resolve

    async def __call__(self, request: Request) -> T:
        return await self.resolve(request, required_token(request))


BearerTokenIfAny = Annotated[str | None, Depends(_OptionalBearer())]
"""The bearer token when the caller sent one (``None`` otherwise), for endpoints that also
accept another credential (a cookie, a client secret)."""

BEARER_OPTIONAL: dict[str, Any] = {"security": [{}]}
"""``openapi_extra`` of an operation that reads ``BearerTokenIfAny`` as one way among others
(a cookie, a client secret): the empty requirement says the bearer token is optional."""


# --- users --------------------------------------------------------------------------------------


def _ids(principal: UserPrincipal) -> tuple[uuid.UUID, uuid.UUID]:
    try:
        return uuid.UUID(principal.session_id), uuid.UUID(principal.user_id)
    except ValueError as exc:
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


@dataclass(frozen=True, slots=True)
class SignedInUser:
    """A user principal whose session and user rows were just read, and found live."""

    principal: UserPrincipal
    user: User
    session: UserSession


async def signed_in(db: AsyncSession, principal: UserPrincipal) -> SignedInUser:
    """The principal's rows, read in ``db``; 401 when the session or the user may not call."""
    session_id, user_id = _ids(principal)
    found = await sessions_repository.session_with_user(db, session_id)
    refusal = _refusal(found, user_id, utcnow())
    if refusal is not None:
        raise refusal
    assert found is not None
    session, user = found
    return SignedInUser(principal, user, session)


async def current_user(request: Request, token: BearerToken, db: DbSession) -> SignedInUser:
    return await signed_in(db, await services_of(request).tokens.verify(token, "user"))


CurrentUser = Annotated[SignedInUser, Depends(current_user)]


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


async def current_session(request: Request, token: str) -> LiveSession:
    services = services_of(request)
    session_id, user_id = _ids(await services.tokens.verify(token, "user"))
    live = await live_session(services, session_id, user_id)
    if isinstance(live, Unauthorized):
        raise live
    return live


CurrentSession = Annotated[LiveSession, Depends(BearerCaller(current_session))]
"""``CurrentUser`` for read-only endpoints: no unit of work, the session's facts cached ≤ 1 s."""


def RequireRole(*roles: str) -> DependsParam:  # reads as the gate it is
    """``Annotated[SignedInUser, RequireRole("admin")]``: a user holding one of ``roles``."""
    wanted = frozenset(roles)

    async def dependency(auth: CurrentUser, db: DbSession) -> SignedInUser:
        held = await users_repository.role_names(db, auth.user.id)
        if wanted.isdisjoint(held):
            raise Forbidden(
                f"This needs the role {' or '.join(sorted(wanted))}.", code="role_required"
            )
        return auth

    return DependsParam(dependency)


# --- services -----------------------------------------------------------------------------------


async def service_token_refusal(
    services: AppServices, db: AsyncSession | None, principal: ServicePrincipal
) -> Unauthorized | None:
    """Why a verified service token may not be used (revoked, client gone or disabled), or
    ``None``; a positive answer is cached for a second (``auth/cache.py``). Without ``db``
    (callers that write nothing) a read-only session is opened only on a cache miss."""
    client_id, jti = principal.client_id, str(principal.claims["jti"])
    cache = services.auth_cache
    key = ("service_token", jti)
    if cache is None:
        return await _read_service_token_refusal(services, db, client_id, jti)
    if cache.get(key) == client_id or await cache.get_after_read(key) == client_id:
        return None
    ticket = cache.ticket()
    with cache.reading(key):
        refusal = await _read_service_token_refusal(services, db, client_id, jti)
    if refusal is None:
        cache.put(key, client_owner(client_id), client_id, ticket)
    return refusal


async def _read_service_token_refusal(
    services: AppServices, db: AsyncSession | None, client_id: str, jti: str
) -> Unauthorized | None:
    if db is not None:
        return await _service_token_refusal(db, client_id, jti)
    async with read_only(services.sessionmaker) as session:
        return await _service_token_refusal(session, client_id, jti)


async def _service_token_refusal(db: AsyncSession, client_id: str, jti: str) -> Unauthorized | None:
    if await oauth_repository.is_revoked(db, jti):
        return Unauthorized("This service token has been revoked.", code="token_revoked")
    client = await oauth_repository.get_client(db, client_id)
    if client is None or client.disabled_at is not None:
        return Unauthorized("This client is not active.", code="invalid_client")
    return None


async def live_service(services: AppServices, principal: ServicePrincipal) -> ServicePrincipal:
    """``principal`` if its token may still be used (no unit of work: see above), else 401."""
    refusal = await service_token_refusal(services, None, principal)
    if refusal is not None:
        raise refusal
    return principal


async def service_caller(request: Request, token: str) -> ServicePrincipal:
    services = services_of(request)
    return await live_service(services, await services.tokens.verify(token, "service"))


ServiceCaller = Annotated[ServicePrincipal, Depends(BearerCaller(service_caller))]


def RequireScope(scope: str) -> SecurityParam:  # reads as the gate it is
    """``Annotated[ServicePrincipal, RequireScope("events:read")]``: a service caller holding
    ``scope``, which the OpenAPI document lists on the operation's security requirement."""

    async def dependency(service: ServiceCaller) -> ServicePrincipal:
        if not service.has_scope(scope):
            raise Forbidden(f"This endpoint needs the '{scope}' scope.", code="insufficient_scope")
        return service

    return SecurityParam(dependency, scopes=[scope])
