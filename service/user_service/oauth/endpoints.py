"""``/v1/oauth``: token (RFC 6749 §4.4), introspect (RFC 7662), revoke (RFC 7009).

Bodies are ``application/x-www-form-urlencoded`` as the RFCs require; errors follow RFC 6749
§5.2 (``error``, ``error_description``) and also carry the service-wide ``code``/``detail``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from user_service.auth.dependencies import BEARER_OPTIONAL
from user_service.deps import DbSession, RequestCtx, Services
from user_service.oauth import service
from user_service.oauth.dependencies import (
    AuthenticatedClient,
    IntrospectingClient,
    ProtectedResourceClient,
)
from user_service.oauth.schemas import NO_STORE, IntrospectionOut, TokenOut

router = APIRouter(prefix="/v1/oauth", tags=["oauth"])
INTROSPECT_SCOPE = "tokens:introspect"


def _form_body(fields: dict[str, str], required: list[str]) -> dict[str, Any]:
    properties = {name: {"type": "string", "description": text} for name, text in fields.items()}
    schema = {"type": "object", "properties": properties, "required": required}
    return {
        "requestBody": {
            "required": True,
            "content": {service.FORM_CONTENT_TYPE: {"schema": schema}},
        }
    }


_CLIENT_AUTH = {
    "client_id": "with client_secret, when not using HTTP Basic",
    "client_secret": "with client_id, when not using HTTP Basic",
}
_OAUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "invalid_request, invalid_scope, unsupported_grant_type"},
    401: {"description": "invalid_client (WWW-Authenticate: Basic)"},
    429: {"description": "too many failed client authentications from this address"},
}


def _no_store(response: Response) -> None:
    response.headers.update(NO_STORE)


@router.post(
    "/token",
    response_model=TokenOut,
    responses=_OAUTH_ERRORS,
    openapi_extra=_form_body(
        {
            "grant_type": "client_credentials",
            "scope": "space-separated subset of the client's scopes (default: all)",
            **_CLIENT_AUTH,
        },
        ["grant_type"],
    ),
)
async def token(caller: AuthenticatedClient, services: Services, response: Response) -> TokenOut:
    """RFC 6749 §4.4: a service token for the authenticated client; no refresh token."""
    issued, scopes = await service.issue_token(services, caller.client, caller.form)
    _no_store(response)
    return TokenOut(access_token=issued.token, expires_in=issued.expires_in, scope=" ".join(scopes))


@router.post(
    "/introspect",
    response_model=IntrospectionOut,
    response_model_exclude_none=True,
    responses=_OAUTH_ERRORS,
    openapi_extra=_form_body(
        {"token": "the token to describe", "token_type_hint": "ignored", **_CLIENT_AUTH},
        ["token"],
    )
    | BEARER_OPTIONAL,
)
async def introspect(caller: IntrospectingClient, services: Services) -> Response:
    """RFC 7662: is this token active, and what does it carry? Only for clients holding
    ``tokens:introspect``; any other authenticated client learns nothing (``active: false``)."""
    answer = (
        await service.introspect(None, services, caller.form)  # reads only, from the cache
        if INTROSPECT_SCOPE in caller.scopes
        else service.INACTIVE
    )
    # Built as an IntrospectionOut already: rendered once (without the fields that are None),
    # not validated again by FastAPI's response model (which documents it).
    return Response(
        answer.model_dump_json(exclude_none=True), media_type="application/json", headers=NO_STORE
    )


@router.post(
    "/revoke",
    responses=_OAUTH_ERRORS,
    openapi_extra=_form_body(
        {"token": "the service token to revoke", "token_type_hint": "ignored", **_CLIENT_AUTH},
        ["token"],
    )
    | BEARER_OPTIONAL,
)
async def revoke(
    caller: ProtectedResourceClient,
    db: DbSession,
    services: Services,
    context: RequestCtx,
    response: Response,
) -> dict[str, Any]:
    """RFC 7009: revoke one of the caller's own service tokens; 200 whatever the token was."""
    await service.revoke(db, services, caller.client_id, caller.form, context)
    _no_store(response)
    return {}
