"""``AuthClient``: everything a resource server needs from the User Service, in one object.

Lifecycle::

    async with AuthClient.from_discovery(ISSUER_URL, client_id=..., client_secret=...) as auth:
        principal = await auth.verify(token)

``AuthClient.from_discovery(...)`` can be awaited (``auth = await AuthClient.from_discovery(
...)``, then ``await auth.aclose()``) or used with ``async with``. Either way the discovery
document is read, the JWKS loaded (best effort: verification fetches it later if the service
is down at start) and the event follower started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Generator, Mapping
from types import TracebackType
from typing import Any, Literal, overload

import httpx

from quantagro_auth.credentials import BrokerCredentials
from quantagro_auth.decisions import Decision, DecisionCache, Resource, ask, cache_key
from quantagro_auth.errors import (
    AccountFrozen,
    AuthError,
    AuthServiceUnavailable,
    ConfigurationError,
    InsufficientPermission,
    TokenInvalid,
    TradingAccountNotFound,
    TradingAccountUnavailable,
)
from quantagro_auth.events import EventCallback, EventHub
from quantagro_auth.feeds import HttpEventFeed, RedisEventFeed
from quantagro_auth.jwks import JwksCache
from quantagro_auth.principals import ServicePrincipal, UserPrincipal, principal_from_claims
from quantagro_auth.revocations import DEFAULT_RETENTION, RevocationList
from quantagro_auth.service_tokens import ServiceTokenClient
from quantagro_auth.verification import (
    DEFAULT_AUDIENCE,
    DEFAULT_ISSUER,
    TokenKind,
    TokenVerifier,
)

log = logging.getLogger("quantagro_auth")

DISCOVERY_PATH = "/.well-known/openid-configuration"


class AuthClient:
    """Verify tokens, follow revocations, act as a service; see the package README."""

    def __init__(
        self,
        issuer_url: str,
        *,
        issuer: str = DEFAULT_ISSUER,
        audience: str = DEFAULT_AUDIENCE,
        jwks_uri: str | None = None,
        token_endpoint: str | None = None,
        events_endpoint: str | None = None,
        authz_check_endpoint: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        scope: str | None = None,
        redis_url: str | None = None,
        redis_prefix: str = "qus",
        max_token_lifetime: float = DEFAULT_RETENTION,
        follow_events: bool | None = None,
        events_wait: int = 25,
        timeout: float = 5.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        base = issuer_url.rstrip("/")
        self.issuer_url = base
        self.issuer = issuer
        self.audience = audience
        self.jwks_uri = jwks_uri or f"{base}/v1/.well-known/jwks.json"
        self.token_endpoint = token_endpoint or f"{base}/v1/oauth/token"
        self.events_endpoint = events_endpoint or f"{base}/v1/events"
        self.authz_check_endpoint = authz_check_endpoint or f"{base}/v1/authz/check"
        self.credentials_endpoint = (
            f"{base}/v1/internal/trading-accounts/{{account_id}}/credentials"
        )
        self.timeout = timeout
        self._owns_http = http is None
        self.http = http or httpx.AsyncClient(timeout=timeout, follow_redirects=False)
        self.jwks = JwksCache(self.jwks_uri, self.http)
        self.verifier = TokenVerifier(self.jwks, issuer=issuer, audience=audience)
        self.events = EventHub()
        self.revocations = RevocationList(retention_seconds=max_token_lifetime)
        self.decisions = DecisionCache()
        self._service_tokens = (
            ServiceTokenClient(
                self.http, self.token_endpoint, client_id, client_secret, scope=scope
            )
            if client_id and client_secret
            else None
        )
        self.client_id = client_id
        self.redis_url = redis_url
        self.redis_prefix = redis_prefix
        self.max_token_lifetime = max_token_lifetime
        self.events_wait = events_wait
        self.follow_events = (
            bool(redis_url or self._service_tokens) if follow_events is None else follow_events
        )
        self.feed: HttpEventFeed | RedisEventFeed | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._unsubscribe: list[Callable[[], None]] = []

    def __repr__(self) -> str:
        return f"AuthClient(issuer_url={self.issuer_url!r}, client_id={self.client_id!r})"

    # -- lifecycle -------------------------------------------------------------------------

    @classmethod
    def from_discovery(
        cls,
        issuer_url: str,
        *,
        audience: str = DEFAULT_AUDIENCE,
        client_id: str | None = None,
        client_secret: str | None = None,
        redis_url: str | None = None,
        **options: Any,
    ) -> _Connect:
        """Read ``{issuer_url}/.well-known/openid-configuration`` and start a client.

        Await the result, or use it with ``async with``. ``issuer_url`` is the service's
        base URL; the discovery ``issuer`` (``user_service``) is what tokens carry in ``iss``.
        Other keyword options are those of :class:`AuthClient` (``redis_prefix``, ``scope``,
        ``max_token_lifetime``, ``follow_events``, ``timeout``, ``http``...).
        """
        return _Connect(
            cls,
            issuer_url,
            dict(
                options,
                audience=audience,
                client_id=client_id,
                client_secret=client_secret,
                redis_url=redis_url,
            ),
        )

    async def start(self) -> None:
        """Load the JWKS (best effort) and start following events."""
        try:
            await self.jwks.load()
        except AuthServiceUnavailable:
            log.warning("jwks_unavailable_at_start: %s (verification will retry)", self.jwks_uri)
        self._unsubscribe.append(self.revocations.follow(self.events))
        self._unsubscribe.append(
            self.revocations.on_session_revoked(lambda sid: self.decisions.forget(session_id=sid))
        )
        self._unsubscribe.append(
            self.revocations.on_user_disabled(lambda uid: self.decisions.forget(user_id=uid))
        )
        if not self.follow_events:
            if self._service_tokens is None and self.redis_url is None:
                log.info("revocations_not_followed: no redis_url and no client credentials")
            return
        if self.redis_url:
            self.feed = RedisEventFeed(
                self.redis_url,
                self.events,
                prefix=self.redis_prefix,
                history_seconds=self.max_token_lifetime,
            )
        else:
            tokens = self._require_service_tokens("following events over HTTP")
            self.feed = HttpEventFeed(
                self.http,
                self.events_endpoint,
                self.events,
                tokens.token,
                on_unauthorized=tokens.invalidate,
                wait=self.events_wait,
            )
        feed = self.feed
        self._tasks.append(asyncio.create_task(feed.run(), name="quantagro_auth.events"))
        self._tasks.append(
            asyncio.create_task(self._mark_ready(feed.ready), name="quantagro_auth.ready")
        )

    async def _mark_ready(self, ready: asyncio.Event) -> None:
        await ready.wait()
        self.revocations.ready.set()

    async def wait_until_ready(self, within: float = 10.0) -> bool:
        """Wait (at most ``within`` seconds) until the event follower has caught up."""
        try:
            await asyncio.wait_for(self.revocations.ready.wait(), within)
        except TimeoutError:
            return False
        return True

    async def aclose(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.jwks.aclose()
        if self._owns_http:
            await self.http.aclose()

    async def __aenter__(self) -> AuthClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- verification ----------------------------------------------------------------------

    @overload
    async def verify(self, token: str, *, expected: Literal["user"] = "user") -> UserPrincipal: ...

    @overload
    async def verify(self, token: str, *, expected: Literal["service"]) -> ServicePrincipal: ...

    @overload
    async def verify(
        self, token: str, *, expected: Literal["any"]
    ) -> UserPrincipal | ServicePrincipal: ...

    async def verify(
        self, token: str, *, expected: TokenKind = "user"
    ) -> UserPrincipal | ServicePrincipal:
        """Verify locally (shared rules, cached JWKS) and refuse revoked sessions/users.

        ``expected`` defaults to ``"user"``: a service token is refused unless asked for.
        Raises :class:`TokenInvalid` (or :class:`TokenKindMismatch`), :class:`TokenExpired`,
        :class:`TokenRevoked`, or :class:`AuthServiceUnavailable` when no key was ever fetched.
        """
        claims = await self.verifier.verify(token, expected)
        principal = principal_from_claims(claims, token)
        if isinstance(principal, UserPrincipal):
            self.revocations.check(principal)
        return principal

    # -- service identity ------------------------------------------------------------------

    def _require_service_tokens(self, purpose: str) -> ServiceTokenClient:
        if self._service_tokens is None:
            raise ConfigurationError(f"{purpose} needs client_id and client_secret.")
        return self._service_tokens

    async def service_token(self) -> str:
        """This service's client-credentials access token (cached, renewed before expiry)."""
        return await self._require_service_tokens("A service token").token()

    # -- decisions -------------------------------------------------------------------------

    async def check(
        self,
        permission: str,
        resource: Resource | None = None,
        subject: str | None = None,
        *,
        token: str | None = None,
    ) -> Decision:
        """Ask the PDP; cached per the answer's ``ttl``; fails closed (never raises for what
        the PDP answers, see :mod:`quantagro_auth.decisions`).

        Pass the user's access token as ``token`` to ask about them; pass ``subject`` (a user
        id) to ask with this service's token (scope ``authz:check``); with neither, the
        service asks about itself.
        """
        if subject is not None or token is None:
            self._require_service_tokens("A check with the service's identity")
            as_service = True
        else:
            as_service = False
        key = cache_key(permission, resource, subject, None if as_service else token)
        if key is not None:
            cached = self.decisions.get(key)
            if cached is not None:
                return Decision(
                    allowed=cached.allowed,
                    reason=cached.reason,
                    code=cached.code,
                    ttl=cached.ttl,
                    policy=cached.policy,
                    cached=True,
                )
        user_token = token

        async def bearer() -> str:
            if as_service or user_token is None:
                return await self.service_token()
            return user_token

        decision = await ask(
            self.http,
            self.authz_check_endpoint,
            bearer,
            permission=permission,
            resource=resource,
            subject=subject,
            request_timeout=self.timeout,
        )
        if key is not None:
            self.decisions.put(key, decision)
        return decision

    # -- broker credentials ----------------------------------------------------------------

    async def release_credentials(
        self, account_id: str | uuid.UUID, *, on_behalf_of: str | uuid.UUID | None
    ) -> BrokerCredentials:
        """The trading account's broker credentials, for ``on_behalf_of`` (the trader).

        Never cached or logged. Raises :class:`TradingAccountNotFound` (404),
        :class:`InsufficientPermission` (403: scope, or the user may not trade with it),
        :class:`AccountFrozen` / :class:`TradingAccountUnavailable` (409),
        :class:`AuthServiceUnavailable` (5xx, network).
        """
        tokens = self._require_service_tokens("Releasing credentials")
        url = self.credentials_endpoint.format(account_id=uuid.UUID(str(account_id)))
        body = {"on_behalf_of": str(uuid.UUID(str(on_behalf_of)))} if on_behalf_of else {}
        for attempt in (1, 2):
            try:
                response = await self.http.post(
                    url,
                    json=body,
                    headers={"Authorization": f"Bearer {await tokens.token()}"},
                    timeout=self.timeout,
                )
            except httpx.HTTPError as exc:
                raise AuthServiceUnavailable("The credentials endpoint is unreachable.") from exc
            if response.status_code == 401 and attempt == 1:
                tokens.invalidate()  # e.g. the service token was revoked: get a new one
                continue
            break
        if response.status_code == 200:
            try:
                return BrokerCredentials.from_response(response.json())
            except (ValueError, KeyError, TypeError):
                raise AuthServiceUnavailable(
                    "The credentials endpoint sent an unreadable answer."
                ) from None
        raise _release_error(response)

    # -- events ----------------------------------------------------------------------------

    def on_event(self, callback: EventCallback, *types: str) -> Callable[[], None]:
        """Shortcut for ``client.events.subscribe``."""
        return self.events.subscribe(callback, *types)


def _release_error(response: httpx.Response) -> AuthError:
    try:
        data = response.json()
    except ValueError:
        data = None
    data = data if isinstance(data, Mapping) else {}
    code = str(data.get("code") or "")
    detail = str(data.get("detail") or "") or None
    status = response.status_code
    if status == 404:
        return TradingAccountNotFound(detail, code=code or None)
    if status == 403:
        return InsufficientPermission(detail, code=code or None)
    if status == 409:
        state = data.get("status")
        state = state if isinstance(state, str) else None
        if code == "account_frozen" or state == "frozen":
            return AccountFrozen(detail, code=code or None, status=state)
        return TradingAccountUnavailable(detail, code=code or None, status=state)
    if status == 401:
        return TokenInvalid("The service token was refused by the credentials endpoint.")
    return AuthServiceUnavailable(f"The credentials endpoint answered {status}.")


class _Connect:
    """The result of :meth:`AuthClient.from_discovery`: awaitable, and an async context."""

    def __init__(self, cls: type[AuthClient], issuer_url: str, options: dict[str, Any]) -> None:
        self._cls = cls
        self._issuer_url = issuer_url.rstrip("/")
        self._options = options
        self._client: AuthClient | None = None

    async def _create(self) -> AuthClient:
        options = dict(self._options)
        http: httpx.AsyncClient | None = options.get("http")
        own = http is None
        http = http or httpx.AsyncClient(timeout=options.get("timeout", 5.0))
        try:
            document = await _discover(http, self._issuer_url)
        except BaseException:
            if own:
                await http.aclose()
            raise
        options["http"] = http
        client = self._cls(
            self._issuer_url,
            issuer=str(document["issuer"]),
            jwks_uri=str(document["jwks_uri"]),
            token_endpoint=_optional(document, "token_endpoint"),
            events_endpoint=_optional(document, "events_endpoint"),
            authz_check_endpoint=_optional(document, "authz_check_endpoint"),
            **options,
        )
        client._owns_http = own
        await client.start()
        return client

    def __await__(self) -> Generator[Any, None, AuthClient]:
        return self._create().__await__()

    async def __aenter__(self) -> AuthClient:
        self._client = await self._create()
        return self._client

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._client is not None:
            await self._client.aclose()


def _optional(document: Mapping[str, Any], name: str) -> str | None:
    value = document.get(name)
    return value if isinstance(value, str) and value else None


async def _discover(http: httpx.AsyncClient, issuer_url: str) -> Mapping[str, Any]:
    url = f"{issuer_url}{DISCOVERY_PATH}"
    try:
        response = await http.get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        document = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise AuthServiceUnavailable(f"Discovery failed at {url}.") from exc
    if not isinstance(document, Mapping) or not all(
        isinstance(document.get(name), str) and document.get(name)
        for name in ("issuer", "jwks_uri")
    ):
        raise AuthServiceUnavailable(f"The discovery document at {url} lacks issuer/jwks_uri.")
    return document
