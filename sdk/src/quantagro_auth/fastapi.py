"""FastAPI integration (the ``fastapi`` extra): dependencies, WebSocket auth and a guard.

Wire it once::

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AuthClient.from_discovery(USERS_URL, client_id=ID, client_secret=KEY) as a:
            install(app, a)
            yield

Then put auth in the signature: ``user: CurrentUser``, ``service: CurrentService``,
``Depends(require_permission("alerts:create"))``, ``Depends(require_scope("positions:read"))``,
``Depends(dual_auth(lookup_api_key))``. Errors are ``{"detail", "code"}``; 401s carry
``WWW-Authenticate: Bearer`` (RFC 6750 §3).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import Depends, FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocketDisconnect, WebSocketState

from quantagro_auth.client import AuthClient
from quantagro_auth.decisions import Decision, Resource
from quantagro_auth.errors import (
    AuthError,
    AuthServiceUnavailable,
    InsufficientPermission,
    InsufficientScope,
    MissingToken,
    StepUpRequired,
    TokenError,
    TokenExpired,
    TokenInvalid,
    TokenKindMismatch,
    TokenRevoked,
)
from quantagro_auth.events import call
from quantagro_auth.principals import ServicePrincipal, UserPrincipal

log = logging.getLogger("quantagro_auth.fastapi")

STATE_ATTRIBUTE = "quantagro_auth"
POLICY_VIOLATION = 1008  # RFC 6455 §7.4.1
TRY_AGAIN_LATER = 1013
P = TypeVar("P")


# -- wiring -----------------------------------------------------------------------------------


def auth_exception_handlers() -> dict[Any, Any]:
    """``FastAPI(exception_handlers=auth_exception_handlers())``: every :class:`AuthError` as
    ``{"detail", "code"}`` with its status (401 with ``WWW-Authenticate``, 403, 503).

    Pass it when the app is created: Starlette builds its exception middleware on the first
    request or lifespan start, so a handler added later (in a lifespan) is never called.
    """
    return {AuthError: _handle_auth_error}


def install(app: FastAPI, client: AuthClient) -> None:
    """Make ``client`` the app's AuthClient (call it in the lifespan, once the client exists).

    Registers the error handler too when the app has not started yet; when it has, the
    handler must already be there (``auth_exception_handlers()``), or auth errors would
    surface as 500s — refused here with an explanation instead.
    """
    setattr(app.state, STATE_ATTRIBUTE, client)
    if AuthError in app.exception_handlers:
        return
    if app.middleware_stack is None:
        app.add_exception_handler(AuthError, _handle_auth_error)  # type: ignore[arg-type]
        return
    raise RuntimeError(
        "install() ran after the app started, too late to register the AuthError handler: "
        "create the app with FastAPI(..., exception_handlers=auth_exception_handlers())."
    )


def get_auth_client(connection: HTTPConnection) -> AuthClient:
    client = getattr(connection.app.state, STATE_ATTRIBUTE, None)
    if not isinstance(client, AuthClient):
        raise RuntimeError("Call quantagro_auth.fastapi.install(app, client) at start-up.")
    return client


Auth = Annotated[AuthClient, Depends(get_auth_client)]


def error_response(exc: AuthError) -> JSONResponse:
    headers: dict[str, str] = {}
    if isinstance(exc, MissingToken):
        headers["WWW-Authenticate"] = "Bearer"
    elif isinstance(exc, TokenError):
        description = exc.message.replace('"', "'")
        headers["WWW-Authenticate"] = (
            f'Bearer error="invalid_token", error_description="{description}"'
        )
    elif isinstance(exc, InsufficientScope):
        headers["WWW-Authenticate"] = 'Bearer error="insufficient_scope"'
    return JSONResponse(
        {"detail": exc.message, "code": exc.code}, status_code=exc.status_code, headers=headers
    )


async def _handle_auth_error(request: Request, exc: AuthError) -> JSONResponse:
    return error_response(exc)


# -- HTTP dependencies ------------------------------------------------------------------------


def bearer_token(connection: HTTPConnection) -> str | None:
    """The bearer token of ``Authorization``; ``None`` when there is no such header.

    A header that is present but not ``Bearer <token>`` is refused (RFC 6750 §2.1).
    """
    header = connection.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise TokenInvalid("The Authorization header must be 'Bearer <token>'.")
    return token


async def current_user(request: Request, auth: Auth) -> UserPrincipal:
    token = bearer_token(request)
    if token is None:
        raise MissingToken()
    return await auth.verify(token, expected="user")


async def current_service(request: Request, auth: Auth) -> ServicePrincipal:
    token = bearer_token(request)
    if token is None:
        raise MissingToken()
    return await auth.verify(token, expected="service")


CurrentUser = Annotated[UserPrincipal, Depends(current_user)]
CurrentService = Annotated[ServicePrincipal, Depends(current_service)]


def require_scope(*scopes: str) -> Callable[..., Awaitable[ServicePrincipal]]:
    """A dependency: a service token holding every one of ``scopes`` (else 403)."""

    async def dependency(service: CurrentService) -> ServicePrincipal:
        if not service.has_scope(*scopes):
            raise InsufficientScope(f"This needs the scope(s): {' '.join(scopes)}.")
        return service

    return dependency


ResourceArg = Resource | Callable[[Request], Resource | None] | None


STEP_UP_CODE = "condition_failed:mfa_within"
"""The PDP's code when only a recent second factor is missing (docs/authorization.md)."""
FROZEN_POLICY = "deny-frozen-trading"


def denial_error(decision: Decision) -> InsufficientPermission:
    """The 403 for a denial, with a code a client can act on: ``step_up_required`` (ask for
    a code, step up, retry), ``account_frozen`` (the trader froze trading), else the PDP's."""
    if decision.code == STEP_UP_CODE:
        return StepUpRequired(decision.reason or None)
    if decision.policy == FROZEN_POLICY:
        return InsufficientPermission(decision.reason or None, code="account_frozen")
    return InsufficientPermission(
        decision.reason or None, code=decision.code or "permission_denied"
    )


def require_permission(
    permission: str, resource: ResourceArg = None
) -> Callable[..., Awaitable[UserPrincipal]]:
    """A dependency: the current user, allowed ``permission`` by the PDP.

    ``resource`` is ``"type"``/``"type:id"``, ``{"type", "id", "owner_id"}``, or a function of
    the request returning one (e.g. from path parameters). 403 on a denial, 503 when the PDP
    cannot answer (fail closed).
    """

    async def dependency(request: Request, user: CurrentUser, auth: Auth) -> UserPrincipal:
        target = resource(request) if callable(resource) else resource
        decision = await auth.check(permission, target, token=user.token)
        if decision.allowed:
            return user
        if decision.unavailable:
            raise AuthServiceUnavailable(decision.reason, code="decision_unavailable")
        raise denial_error(decision)

    return dependency


@dataclass(frozen=True)
class DualAuthResult(Generic[P]):
    """Who called during the API-key migration, and how."""

    auth_method: Literal["jwt", "api_key"]
    user: UserPrincipal | None
    legacy: P | None

    @property
    def principal(self) -> UserPrincipal | P:
        if self.user is not None:
            return self.user
        assert self.legacy is not None
        return self.legacy


def dual_auth(
    api_key_lookup: Callable[[str], Awaitable[P | None]], *, header: str = "X-API-Key"
) -> Callable[..., Awaitable[DualAuthResult[P]]]:
    """A dependency accepting a user JWT or a legacy API key (JWT preferred when both).

    A JWT that is sent but invalid is refused, never downgraded to the API key.
    ``api_key_lookup`` returns the service's own principal for a valid key, else ``None``.
    """

    async def dependency(request: Request, auth: Auth) -> DualAuthResult[P]:
        token = bearer_token(request)
        if token is not None:
            return DualAuthResult("jwt", await auth.verify(token, expected="user"), None)
        api_key = request.headers.get(header)
        if api_key:
            legacy = await api_key_lookup(api_key)
            if legacy is None:
                raise TokenInvalid("The API key is not valid.", code="invalid_api_key")
            return DualAuthResult("api_key", None, legacy)
        raise MissingToken(f"Send 'Authorization: Bearer <token>' or '{header}'.")

    return dependency


# -- WebSockets -------------------------------------------------------------------------------

MISSING = "Missing authentication token"
EXPIRED = "Authentication token expired"
INVALID = "Invalid authentication token"
SERVICE_TOKEN = "Service tokens are not accepted here"
SESSION_REVOKED = "Session revoked"
USER_DISABLED = "User disabled"
UNAVAILABLE = "Authentication service unavailable"


def close_reason(exc: AuthError) -> str:
    """The 1008 close reason (at most 123 bytes, RFC 6455 §5.5.1) for an auth failure."""
    if isinstance(exc, MissingToken):
        return MISSING
    if isinstance(exc, TokenExpired):
        return EXPIRED
    if isinstance(exc, TokenRevoked):
        return USER_DISABLED if exc.reason == "user_disabled" else SESSION_REVOKED
    if isinstance(exc, TokenKindMismatch) and exc.actual == "service":
        return SERVICE_TOKEN
    if isinstance(exc, AuthServiceUnavailable):
        return UNAVAILABLE
    return INVALID


def websocket_token(ws: WebSocket) -> tuple[str | None, bool]:
    """``(token, via_subprotocol)`` from a ``bearer, <token>`` subprotocol pair, else
    ``?token=``."""
    protocols = [str(p).strip() for p in ws.scope.get("subprotocols") or ()]
    lowered = [p.lower() for p in protocols]
    if "bearer" in lowered:
        index = lowered.index("bearer")
        token = protocols[index + 1] if index + 1 < len(protocols) else None
        return (token or None), True
    return (ws.query_params.get("token") or None), False


async def close_websocket(
    ws: WebSocket, reason: str, *, code: int = POLICY_VIOLATION, subprotocol: str | None = None
) -> None:
    """Accept if needed (a close before accept becomes HTTP 403 in uvicorn), then close."""
    with contextlib.suppress(RuntimeError, WebSocketDisconnect, OSError):
        if ws.application_state == WebSocketState.CONNECTING:
            await ws.accept(subprotocol=subprotocol)
        if ws.application_state == WebSocketState.CONNECTED:
            await ws.close(code=code, reason=reason)


async def websocket_principal(
    ws: WebSocket, *, client: AuthClient | None = None
) -> UserPrincipal | None:
    """Authenticate a WebSocket handshake and accept it; ``None`` after refusing it.

    The token comes from ``Sec-WebSocket-Protocol: bearer, <token>`` (then the ``bearer``
    subprotocol is selected) or from ``?token=``. On failure the socket is accepted, then
    closed with 1008 and a reason (1013 when the keys cannot be fetched).
    """
    auth = client or get_auth_client(ws)
    token, via_subprotocol = websocket_token(ws)
    subprotocol = "bearer" if via_subprotocol else None
    try:
        if token is None:
            raise MissingToken()
        principal = await auth.verify(token, expected="user")
    except AuthError as exc:
        code = TRY_AGAIN_LATER if isinstance(exc, AuthServiceUnavailable) else POLICY_VIOLATION
        await close_websocket(ws, close_reason(exc), code=code, subprotocol=subprotocol)
        return None
    await ws.accept(subprotocol=subprotocol)
    return principal


MessageCallback = Callable[[Any], Awaitable[None] | None]


class WebSocketGuard:
    """Closes a WebSocket with 1008 when its session is revoked, its user disabled, or its
    token expires without renewal; see :func:`guard_websocket`."""

    def __init__(
        self,
        ws: WebSocket,
        principal: UserPrincipal,
        client: AuthClient,
        *,
        read_messages: bool = False,
        on_message: MessageCallback | None = None,
        acknowledge_renewals: bool = True,
    ) -> None:
        self.ws = ws
        self.principal = principal
        self._client = client
        self._read_messages = read_messages
        self._on_message = on_message
        self._acknowledge = acknowledge_renewals
        self._watch = client.revocations.watch(principal)
        self._host: asyncio.Task[Any] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self.close_reason: str | None = None
        self.disconnected = False

    @property
    def expires_at(self) -> dt.datetime:
        return self.principal.expires_at

    # -- renewal -------------------------------------------------------------------------

    async def renew(self, token: str) -> UserPrincipal:
        """Accept a renewed access token of the same user; raises :class:`AuthError`."""
        principal = await self._client.verify(token, expected="user")
        if principal.user_id != self.principal.user_id:
            raise TokenInvalid("The renewed token belongs to another user.")
        if principal.session_id != self._watch.session_id:
            self._watch.move_to(principal.session_id)
        self.principal = principal
        return principal

    async def _handle(self, message: Any) -> bool:
        """Consume ``{"type": "renew", "token": "..."}``; ``True`` when it was one."""
        if not (isinstance(message, dict) and message.get("type") == "renew"):
            return False
        token = message.get("token")
        try:
            if not isinstance(token, str) or not token:
                raise MissingToken()
            principal = await self.renew(token)
        except AuthError as exc:
            await self._close(close_reason(exc))
            raise WebSocketDisconnect(POLICY_VIOLATION, close_reason(exc)) from None
        if self._acknowledge:
            await self.ws.send_json(
                {"type": "renewed", "expires_at": int(principal.expires_at.timestamp())}
            )
        return True

    async def receive_json(self) -> Any:
        """The next JSON message that is not a renewal."""
        while True:
            message = await self.ws.receive_json()
            if not await self._handle(message):
                return message

    async def receive_text(self) -> str:
        """The next text message that is not a renewal."""
        while True:
            text = await self.ws.receive_text()
            try:
                message = json.loads(text) if text.startswith("{") else None
            except ValueError:
                message = None
            if not await self._handle(message):
                return text

    # -- watching --------------------------------------------------------------------------

    async def _watcher(self) -> None:
        while True:
            remaining = (self.expires_at - dt.datetime.now(dt.UTC)).total_seconds()
            if remaining <= 0:
                await self._stop(EXPIRED)
                return
            try:
                await asyncio.wait_for(self._watch.fired.wait(), timeout=remaining)
            except TimeoutError:
                continue  # re-check: a renewal may have moved the expiry
            reason = USER_DISABLED if self._watch.reason == "user_disabled" else SESSION_REVOKED
            await self._stop(reason)
            return

    async def _reader(self) -> None:
        try:
            while True:
                message = await self.receive_text()
                if self._on_message is not None:
                    try:
                        data: Any = json.loads(message)
                    except ValueError:
                        data = message
                    await call(self._on_message, data)
        except WebSocketDisconnect:
            self.disconnected = True
            await self._stop(None)
        except RuntimeError:  # the socket was closed under us
            await self._stop(None)

    async def _stop(self, reason: str | None) -> None:
        """End the guarded block: the host task closes the socket in ``__aexit__``."""
        if self._stopping:
            return
        self._stopping = True
        self.close_reason = reason
        if self._host is not None and not self._host.done():
            self._host.cancel()
            await asyncio.sleep(1.0)
        if reason is not None:  # the block ignored the cancellation: close from here
            await self._close(reason)

    async def _close(self, reason: str) -> None:
        self.close_reason = self.close_reason or reason
        await close_websocket(self.ws, reason)

    async def __aenter__(self) -> WebSocketGuard:
        self._host = asyncio.current_task()
        self._tasks.append(asyncio.create_task(self._watcher()))
        if self._read_messages:
            self._tasks.append(asyncio.create_task(self._reader()))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        self._watch.close()
        ours = self._stopping and exc_type is asyncio.CancelledError
        if ours and self._host is not None:
            self._host.uncancel()
        if self.close_reason is not None:
            await self._close(self.close_reason)
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        return ours


def guard_websocket(
    ws: WebSocket,
    principal: UserPrincipal,
    *,
    client: AuthClient | None = None,
    read_messages: bool = False,
    on_message: MessageCallback | None = None,
    acknowledge_renewals: bool = True,
) -> WebSocketGuard:
    """``async with guard_websocket(ws, principal) as guard:`` — the block is cancelled and the
    socket closed with 1008 within moments of a revocation, a disable, or the token's expiry.

    The client renews by sending ``{"type": "renew", "token": "<new access token>"}``: read
    messages through ``guard.receive_json()`` / ``guard.receive_text()``, or pass
    ``read_messages=True`` (and ``on_message``) to let the guard read them, which also ends the
    block when the client disconnects. A renewal is acknowledged with ``{"type": "renewed",
    "expires_at": <epoch s>}`` unless ``acknowledge_renewals=False``; an invalid one closes
    the socket with 1008.
    """
    return WebSocketGuard(
        ws,
        principal,
        client or get_auth_client(ws),
        read_messages=read_messages,
        on_message=on_message,
        acknowledge_renewals=acknowledge_renewals,
    )


__all__ = [
    "Auth",
    "CurrentService",
    "CurrentUser",
    "DualAuthResult",
    "WebSocketGuard",
    "auth_exception_handlers",
    "bearer_token",
    "close_reason",
    "close_websocket",
    "current_service",
    "current_user",
    "dual_auth",
    "error_response",
    "get_auth_client",
    "guard_websocket",
    "install",
    "require_permission",
    "require_scope",
    "websocket_principal",
]
