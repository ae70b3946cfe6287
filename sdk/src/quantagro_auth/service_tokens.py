"""Service identity: an OAuth 2.0 client-credentials token (RFC 6749 §4.4), cached.

The token is renewed ``min(60 s, 10 % of its lifetime)`` before it expires, by one request
however many callers need it at that moment (single-flight). Client authentication is HTTP
Basic (RFC 6749 §2.3.1, ``client_secret_basic``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from quantagro_auth._singleflight import SingleFlight
from quantagro_auth.errors import AuthServiceUnavailable, ClientAuthenticationFailed

log = logging.getLogger("quantagro_auth.service_tokens")

RENEW_MARGIN_SECONDS = 60.0
RENEW_MARGIN_FRACTION = 0.1


@dataclass(frozen=True)
class ServiceToken:
    access_token: str = field(repr=False)
    expires_at: float  # on the client's monotonic clock
    renew_at: float
    scope: frozenset[str]


class ServiceTokenClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        token_endpoint: str,
        client_id: str,
        client_secret: str,
        *,
        scope: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self.token_endpoint = token_endpoint
        self.client_id = client_id
        self._client_secret = client_secret
        self.scope = scope
        self._clock = clock
        self._current: ServiceToken | None = None
        self._flight: SingleFlight[ServiceToken] = SingleFlight()
        self.requests = 0

    def __repr__(self) -> str:
        return f"ServiceTokenClient(client_id={self.client_id!r}, scope={self.scope!r})"

    async def token(self) -> str:
        """A valid access token, renewed shortly before it expires."""
        current = self._current
        if current is not None and self._clock() < current.renew_at:
            return current.access_token
        if current is not None and self._clock() < current.expires_at:
            try:  # still valid: a failed early renewal keeps the current token
                return (await self._flight.run(self._request)).access_token
            except AuthServiceUnavailable:
                return current.access_token
        return (await self._flight.run(self._request)).access_token

    def invalidate(self) -> None:
        """Forget the cached token (after a 401 from a resource that should accept it)."""
        self._current = None

    async def _request(self) -> ServiceToken:
        data = {"grant_type": "client_credentials"}
        if self.scope:
            data["scope"] = self.scope
        self.requests += 1
        started = self._clock()
        try:
            response = await self._http.post(
                self.token_endpoint,
                data=data,
                auth=httpx.BasicAuth(self.client_id, self._client_secret),
                headers={"Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise AuthServiceUnavailable("The token endpoint could not be reached.") from exc
        if response.status_code in (400, 401, 403):
            code = _error_code(response)
            log.error("client_credentials_refused: client=%s code=%s", self.client_id, code)
            raise ClientAuthenticationFailed(code=code or None)
        if response.status_code != 200:
            raise AuthServiceUnavailable(f"The token endpoint answered {response.status_code}.")
        try:
            body = response.json()
            access_token = body["access_token"]
            lifetime = float(body.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError) as exc:
            raise AuthServiceUnavailable("The token endpoint sent an unreadable answer.") from exc
        if not isinstance(access_token, str) or not access_token:
            raise AuthServiceUnavailable("The token endpoint sent no access token.")
        margin = min(RENEW_MARGIN_SECONDS, lifetime * RENEW_MARGIN_FRACTION)
        token = ServiceToken(
            access_token=access_token,
            expires_at=started + lifetime,
            renew_at=started + lifetime - margin,
            scope=frozenset(str(body.get("scope") or "").split()),
        )
        self._current = token
        return token


def _error_code(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict):
        return str(body.get("error") or body.get("code") or "")
    return ""
