"""/v1/trading-accounts: a trader's linked broker accounts (docs/trading-accounts.md).

Every route needs a signed-in user (``CurrentUser``); what the user may do with one account
(owner, or member with ``view``/``trade``/``manage``) is decided in ``rights``. Responses
never carry a secret, and none of them may be cached (``Cache-Control: no-store``).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from user_service.auth.dependencies import CurrentUser
from user_service.deps import DbSession, RequestCtx, Services
from user_service.sessions.cookies import no_store
from user_service.trading_accounts import accounts, kite_login, sharing
from user_service.trading_accounts.schemas import (
    AccountOut,
    AccountPage,
    CredentialsIn,
    KiteLoginUrlOut,
    KiteSessionIn,
    LinkIn,
    MemberIn,
    MemberOut,
    MembersOut,
    VerificationOut,
)

router = APIRouter(
    prefix="/v1/trading-accounts", tags=["trading accounts"], dependencies=[Depends(no_store)]
)


@router.get("", response_model=AccountPage)
async def list_accounts(
    auth: CurrentUser,
    db: DbSession,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
) -> AccountPage:
    """Accounts the user owns or that are shared with them, with their role and permissions."""
    items, next_cursor = await accounts.list_accounts(db, auth.user, limit=limit, cursor=cursor)
    return AccountPage(items=items, next_cursor=next_cursor)


@router.post("", response_model=AccountOut, status_code=status.HTTP_201_CREATED)
async def link_account(
    body: LinkIn, auth: CurrentUser, services: Services, db: DbSession, context: RequestCtx
) -> AccountOut:
    """Link a broker account; it is ``pending_verification`` until the broker confirms it."""
    return await accounts.link(db, services, auth.user, body, context)


@router.get("/{account_id}", response_model=AccountOut)
async def get_account(account_id: uuid.UUID, auth: CurrentUser, db: DbSession) -> AccountOut:
    return await accounts.get_account(db, auth.user, account_id)


@router.delete("/{account_id}", status_code=status.HTTP_204_NO_CONTENT)
async def unlink_account(
    account_id: uuid.UUID,
    auth: CurrentUser,
    services: Services,
    db: DbSession,
    context: RequestCtx,
) -> Response:
    """Unlink: the sealed credentials and every membership are deleted."""
    await accounts.unlink(db, services, auth.user, account_id, context)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/{account_id}/credentials", response_model=AccountOut)
async def rotate_credentials(
    account_id: uuid.UUID,
    body: CredentialsIn,
    auth: CurrentUser,
    services: Services,
    db: DbSession,
    context: RequestCtx,
) -> AccountOut:
    """Replace the credentials; the account goes back to ``pending_verification``."""
    return await accounts.rotate_credentials(db, services, auth.user, account_id, body, context)


@router.get("/{account_id}/kite/login-url", response_model=KiteLoginUrlOut)
async def kite_login_url(
    account_id: uuid.UUID,
    auth: CurrentUser,
    services: Services,
    db: DbSession,
    context: RequestCtx,
) -> KiteLoginUrlOut:
    """Kite's login page for the account's app; the redirect comes back with ``account_id``."""
    return await kite_login.kite_login_url(db, services, auth.user, account_id, context)


@router.post("/{account_id}/kite/session", response_model=VerificationOut)
async def kite_session(
    account_id: uuid.UUID,
    body: KiteSessionIn,
    auth: CurrentUser,
    services: Services,
    db: DbSession,
    context: RequestCtx,
) -> VerificationOut:
    """Exchange Kite's ``request_token`` for the day's access token; the account turns active."""
    return await kite_login.exchange_kite_session(
        db, services, auth.user, account_id, body.request_token, context
    )


@router.post("/{account_id}/verify", response_model=VerificationOut)
async def verify_account(
    account_id: uuid.UUID,
    auth: CurrentUser,
    services: Services,
    db: DbSession,
    context: RequestCtx,
) -> VerificationOut:
    """Ask the broker: ``active``, ``invalid`` or ``expired`` (broker faults change nothing)."""
    return await accounts.verify(db, services, auth.user, account_id, context)


@router.get("/{account_id}/members", response_model=MembersOut)
async def list_members(account_id: uuid.UUID, auth: CurrentUser, db: DbSession) -> MembersOut:
    return MembersOut(items=await sharing.list_members(db, auth.user, account_id))


@router.post(
    "/{account_id}/members",
    response_model=MemberOut,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "An existing member's permissions were changed"}},
)
async def add_member(
    account_id: uuid.UUID,
    body: MemberIn,
    response: Response,
    auth: CurrentUser,
    services: Services,
    db: DbSession,
    context: RequestCtx,
) -> MemberOut:
    """Share with a user by email (201), or set an existing member's permissions (200)."""
    member, created = await sharing.add_member(db, services, auth.user, account_id, body, context)
    if not created:
        response.status_code = status.HTTP_200_OK
    return member


@router.delete("/{account_id}/members/me", status_code=status.HTTP_204_NO_CONTENT)
async def leave_account(
    account_id: uuid.UUID, auth: CurrentUser, db: DbSession, context: RequestCtx
) -> Response:
    """Leave an account shared with you (the same as removing your own user id)."""
    await sharing.remove_member(db, auth.user, account_id, auth.user.id, context)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/{account_id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_member(
    account_id: uuid.UUID,
    user_id: uuid.UUID,
    auth: CurrentUser,
    db: DbSession,
    context: RequestCtx,
) -> Response:
    """Stop sharing with a member (or, for your own user id, leave the account)."""
    await sharing.remove_member(db, auth.user, account_id, user_id, context)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
