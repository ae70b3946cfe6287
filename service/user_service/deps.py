"""FastAPI dependencies shared by every domain: the unit of work and the request context.

Dependencies that other dependencies use, and that run on every request, read the app's
services with ``services_of(request)`` rather than by depending on ``Services``: FastAPI solves
each nested dependency again on every request before it looks in its cache, about 8 µs a
level here (docs/performance.md). Endpoints take ``Services`` as usual.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from user_service.audit.service import RequestContext
from user_service.kit.ip import client_ip
from user_service.state import AppServices


def services_of(request: Request) -> AppServices:
    services: AppServices = request.app.state.services
    return services


async def get_services(request: Request) -> AppServices:
    # ``async def``: FastAPI runs a plain ``def`` dependency in a worker thread, a hop that
    # cost more than the whole cached request (docs/performance.md).
    return services_of(request)


Services = Annotated[AppServices, Depends(get_services)]


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    async with services_of(request).unit_of_work() as session:
        yield session


# scope="function": the commit happens when the endpoint returns, before the response is sent,
# so a client never sees a success whose transaction could still fail.
DbSession = Annotated[AsyncSession, Depends(get_db, scope="function")]


def request_context(request: Request) -> RequestContext:
    """Who is on the other end of the connection: the client IP (through trusted proxies),
    its user agent and device fingerprint, for the audit trail and risk scoring."""
    peer = request.client.host if request.client else None
    # A proxy may split X-Forwarded-For over several header lines: read them all, in order.
    forwarded = ",".join(request.headers.getlist("x-forwarded-for")) or None
    ip = client_ip(peer, forwarded, services_of(request).trusted_proxies)
    return RequestContext(
        ip=ip,
        user_agent=request.headers.get("user-agent"),
        device_fingerprint=request.headers.get("x-device-fingerprint"),
    )


async def get_request_context(request: Request) -> RequestContext:
    return request_context(request)


RequestCtx = Annotated[RequestContext, Depends(get_request_context)]
