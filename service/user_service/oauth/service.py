"""OAuth 2.0 for services: client credentials (RFC 6749 §4.4), introspection (RFC 7662) and
revocation (RFC 7009), and the client registry the CLI manages.

Client secrets are ``qcs_`` + 256 random bits, stored as a SHA-256 digest (``kit.crypto``):
at that entropy a fast hash is already preimage-proof, so bcrypt would only slow every grant
(and hand an attacker a cheap CPU-exhaustion lever) without adding safety. Digests are
compared in constant time, and an unknown client costs the same comparison as a known one.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

import structlog
from quantagro_auth.principals import ServicePrincipal
from sqlalchemy.ext.asyncio import AsyncSession

from user_service.audit import service as audit
from user_service.audit.service import RequestContext
from user_service.auth.dependencies import LiveSession, live_session, service_token_refusal
from user_service.authz.catalog import KNOWN_PERMISSIONS
from user_service.db import utcnow
from user_service.exceptions import Unauthorized, ValidationFailed
from user_service.kit import crypto
from user_service.models import OAuthClient
from user_service.oauth import repository
from user_service.oauth.schemas import IntrospectionOut, OAuthError, invalid_client, invalid_request
from user_service.state import AppServices
from user_service.tokens.access_tokens import IssuedToken

log = structlog.get_logger(__name__)

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
CLIENT_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,63}$")
_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")  # RFC 6749 §3.3 scope-token
_MAX_FORM_BYTES = 16_384
_DUMMY_DIGEST = crypto.hash_token("qcs_no-such-client")


# --- the request: form body and client authentication (RFC 6749 §2.3.1, §3.2) -----------------


def parse_form(content_type: str | None, body: bytes) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body; repeated parameters are refused and
    parameters without a value count as omitted (RFC 6749 §3.1, §3.2)."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != FORM_CONTENT_TYPE:
        raise invalid_request(f"The body must be {FORM_CONTENT_TYPE}.")
    if len(body) > _MAX_FORM_BYTES:
        raise invalid_request("The request body is too large.")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        raise invalid_request("The form body is malformed.") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise invalid_request(f"The parameter '{name}' is given more than once.")
        form[name] = value
    return {name: value for name, value in form.items() if value != ""}


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    client_secret: str
    method: str  # client_secret_basic | client_secret_post


def _basic_credentials(header: str) -> ClientCredentials:
    """RFC 6749 §2.3.1: id and secret are form-encoded, joined by ':', then base64-encoded."""
    try:
        decoded = base64.b64decode(header.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid_client("The Basic credentials are malformed.") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise invalid_client("The Basic credentials are malformed.")
    return ClientCredentials(unquote_plus(client_id), unquote_plus(secret), "client_secret_basic")


def client_credentials(authorization: str | None, form: dict[str, str]) -> ClientCredentials | None:
    """The credentials the client presented, by exactly one method (RFC 6749 §2.3)."""
    basic: ClientCredentials | None = None
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "basic":
            raise invalid_client("Authenticate with HTTP Basic or client_id/client_secret.")
        basic = _basic_credentials(value)
    if basic is not None:
        if "client_secret" in form:
            raise invalid_request("Use only one client authentication method.")
        if "client_id" in form and form["client_id"] != basic.client_id:
            raise invalid_request("client_id does not match the Basic credentials.")
        return basic
    if "client_secret" in form:
        if "client_id" not in form:
            raise invalid_request("client_secret needs a client_id.")
        return ClientCredentials(form["client_id"], form["client_secret"], "client_secret_post")
    return None


async def authenticate_client(
    db: AsyncSession,
    services: AppServices,
    credentials: ClientCredentials | None,
    context: RequestContext,
) -> OAuthClient:
    """Check the client's secret; failures are audited and rate-limited per IP.

    The limit is per IP, not per client: a per-client limit would let anyone lock a service
    out of its own identity with a few wrong secrets, while guessing a 256-bit secret is
    hopeless from any number of addresses.
    """
    if credentials is None:
        raise invalid_client("Client authentication is required.")
    rule = services.settings.rate_limit_client_auth
    limit_key = f"client-auth-ip:{context.ip}"
    # Counted before the secret is compared, so a parallel burst gets at most the limit;
    # a client that authenticates gives its attempt back (only failures count).
    limit = await services.rate_limiter.acquire(rule, limit_key)
    if not limit.allowed:
        raise OAuthError(
            "temporarily_unavailable",
            "Too many failed client authentications. Try again later.",
            429,
            code="rate_limited",
            headers={"Retry-After": str(limit.retry_after)},
            extra={"retry_after": limit.retry_after},
        )
    client_id = credentials.client_id
    client = (
        await repository.get_client(db, client_id) if CLIENT_ID_PATTERN.match(client_id) else None
    )
    expected = client.secret_hash if client is not None and client.secret_hash else _DUMMY_DIGEST
    matches = crypto.constant_time_equals(crypto.hash_token(credentials.client_secret), expected)
    if client is not None and client.secret_hash and matches and client.disabled_at is None:
        await services.rate_limiter.refund(limit)
        return client
    reason = (
        "unknown_client"
        if client is None
        else "disabled"
        if client.disabled_at is not None
        else "no_secret"
        if not client.secret_hash
        else "wrong_secret"
    )
    await audit.record(
        db,
        "client.auth_failed",
        context=context,
        actor=f"client:{client_id[:64]}" if client is not None else "anonymous",
        risk_score=50,
        details={"client_id": client_id[:64], "reason": reason, "method": credentials.method},
    )
    raise invalid_client(commit=True)


# --- RFC 6749 §4.4: the client credentials grant ----------------------------------------------


def granted_scopes(client: OAuthClient, requested: str | None) -> list[str]:
    """RFC 6749 §3.3: all granted scopes by default, else a subset of them (``invalid_scope``)."""
    granted = [scope for scope in client.scopes if isinstance(scope, str)]
    if requested is None:
        scopes = granted
    else:
        parts = requested.split(" ")
        if any(not _SCOPE_TOKEN.match(part) for part in parts):
            raise OAuthError("invalid_scope", "The scope parameter is malformed.")
        unknown = sorted(set(parts) - set(granted))
        if unknown:
            raise OAuthError(
                "invalid_scope",
                f"Scope not granted to this client: {' '.join(unknown)}.",
            )
        scopes = list(dict.fromkeys(parts))
    if not scopes:
        raise OAuthError("invalid_scope", "This client has no scopes to grant.")
    return scopes


async def issue_token(
    services: AppServices, client: OAuthClient, form: dict[str, str]
) -> tuple[IssuedToken, list[str]]:
    grant_type = form.get("grant_type")
    if grant_type is None:
        raise invalid_request("grant_type is required.")
    if grant_type != "client_credentials":
        raise OAuthError(
            "unsupported_grant_type", "Only the client_credentials grant is supported here."
        )
    scopes = granted_scopes(client, form.get("scope"))
    token = await services.tokens.issue_service_token(
        client_id=client.client_id, scopes=scopes, now=utcnow()
    )
    log.info("service_token_issued", client_id=client.client_id, scope=" ".join(scopes))
    return token, scopes


# --- RFC 7662: introspection ------------------------------------------------------------------

INACTIVE = IntrospectionOut(active=False)


def _token_param(form: dict[str, str]) -> str:
    token = form.get("token")
    if token is None:
        raise invalid_request("The token parameter is required.")
    return token


async def introspect(
    db: AsyncSession | None, services: AppServices, form: dict[str, str]
) -> IntrospectionOut:
    """RFC 7662 §2.2: ``{"active": false}`` for anything invalid, expired or revoked, without
    saying which; for user tokens the session must still be live and the user active."""
    token = _token_param(form)
    try:
        principal = await services.tokens.verify(token, "any")
    except Unauthorized:
        return INACTIVE
    claims = principal.claims
    common: dict[str, Any] = {
        key: claims.get(key) for key in ("exp", "iat", "nbf", "sub", "aud", "iss", "jti")
    }
    if isinstance(principal, ServicePrincipal):
        if await service_token_refusal(services, db, principal) is not None:
            return INACTIVE
        return IntrospectionOut(
            active=True,
            token_use="service",
            token_type="bearer",
            scope=str(claims.get("scope") or ""),
            client_id=principal.client_id,
            **common,
        )
    try:
        session_id, user_id = uuid.UUID(principal.session_id), uuid.UUID(principal.user_id)
    except ValueError:
        return INACTIVE
    live = await live_session(services, session_id, user_id)
    if not isinstance(live, LiveSession):
        return INACTIVE
    roles = claims.get("roles")
    return IntrospectionOut(
        active=True,
        token_use="user",
        token_type="bearer",
        username=live.profile.email,
        sid=str(session_id),
        roles=[str(role) for role in roles] if isinstance(roles, list) else [],
        mfa=claims.get("mfa") is True,
        **common,
    )


# --- RFC 7009: revocation ---------------------------------------------------------------------


async def revoke(
    db: AsyncSession,
    services: AppServices,
    client_id: str,
    form: dict[str, str],
    context: RequestContext,
) -> None:
    """RFC 7009 §2.2: always 200. Only the caller's own, still valid service tokens are
    revoked; anything else (unknown, expired, another client's, a user token) is a no-op,
    so the endpoint reveals nothing about tokens the caller does not hold."""
    token = _token_param(form)
    try:
        principal = await services.tokens.verify(token, "service")
    except Unauthorized:
        return
    if principal.client_id != client_id:
        log.warning("token_revocation_refused", client_id=client_id, reason="not_own_token")
        return
    jti = str(principal.claims["jti"])
    revoked = await repository.revoke_token(
        db, jti=jti, client_id=client_id, expires_at=principal.expires_at, now=utcnow()
    )
    if revoked:
        await audit.record(
            db,
            "client.token_revoked",
            context=context,
            actor=f"client:{client_id}",
            details={"client_id": client_id, "jti": jti},
        )


# --- the client registry (CLI) ----------------------------------------------------------------


def _valid_scopes(scopes: Sequence[str]) -> list[str]:
    unknown = sorted({scope for scope in scopes if scope not in KNOWN_PERMISSIONS})
    if unknown:
        raise ValidationFailed(
            f"Unknown scope(s): {', '.join(unknown)}. Scopes are permissions: "
            f"{', '.join(sorted(KNOWN_PERMISSIONS))}.",
            code="unknown_permission",
        )
    if not scopes:
        raise ValidationFailed("Give at least one --scope.", code="invalid_scope")
    return list(dict.fromkeys(scopes))


def _new_secret(client: OAuthClient, now: dt.datetime) -> str:
    secret = crypto.new_token(crypto.CLIENT_SECRET_PREFIX)
    client.secret_hash = crypto.hash_token(secret)
    client.secret_rotated_at = now
    return secret


async def create_client(
    db: AsyncSession, client_id: str, scopes: Sequence[str], *, name: str | None = None
) -> tuple[OAuthClient, str]:
    """A new client with its first secret; the secret is returned once and never stored."""
    if not CLIENT_ID_PATTERN.match(client_id):
        raise ValidationFailed(
            "A client name is 2-64 characters of a-z, 0-9, '_', '.', '-' (e.g. risk_service).",
            code="invalid_client_name",
        )
    if await repository.get_client(db, client_id) is not None:
        raise ValidationFailed(f"A client named {client_id!r} exists.", code="client_exists")
    now = utcnow()
    client = OAuthClient(
        id=uuid.uuid4(),
        client_id=client_id,
        name=name or client_id,
        scopes=_valid_scopes(scopes),
        created_at=now,
    )
    secret = _new_secret(client, now)
    await repository.add_client(db, client)
    await audit.record(
        db,
        "client.created",
        actor="cli",
        details={"client_id": client_id, "scopes": client.scopes},
    )
    return client, secret


async def rotate_secret(db: AsyncSession, client_id: str) -> tuple[OAuthClient, str]:
    """Replace the secret at once (the old one stops working); tokens already issued live on
    until they expire (at most ``SERVICE_TOKEN_TTL_SECONDS``) unless revoked."""
    client = await repository.get_client(db, client_id)
    if client is None:
        raise ValidationFailed(f"No client named {client_id!r}.", code="client_not_found")
    secret = _new_secret(client, utcnow())
    await db.flush()
    await audit.record(db, "client.secret_rotated", actor="cli", details={"client_id": client_id})
    return client, secret


async def list_clients(db: AsyncSession) -> Sequence[OAuthClient]:
    return await repository.list_clients(db)
