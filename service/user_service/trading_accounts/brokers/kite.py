"""Kite Connect v3 over httpx: the daily login exchange and the profile check (docs/api.md §3).

Not the ``kiteconnect`` package: it is synchronous and imports Twisted (docs/decisions.md,
Libraries).
Kite's protocol, from https://kite.trade/docs/connect/v3/user/:

* login page ``{login_base}?v=3&api_key=…`` redirects back with ``request_token``;
* ``POST /session/token`` with ``checksum = sha256(api_key + request_token + api_secret)``
  returns the access token, valid until 06:00 IST the next morning;
* ``GET /user/profile`` with ``Authorization: token api_key:access_token``;
* every call sends ``X-Kite-Version: 3``; errors are
  ``{"status": "error", "message": …, "error_type": "TokenException" | …}``.

Every call is bounded by one overall timeout; only the idempotent GET is retried, once, and
only when the connection could not be opened (the request never reached Kite).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from types import TracebackType
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import anyio
import httpx
import structlog

from user_service.trading_accounts.brokers.base import (
    BrokerAuthError,
    BrokerError,
    BrokerInputError,
    BrokerProfile,
    BrokerRejected,
    BrokerSession,
    BrokerTimeout,
    BrokerUnavailable,
    scrub,
)

__all__ = [
    "DEFAULT_API_BASE_URL",
    "DEFAULT_LOGIN_URL",
    "IST",
    "KiteConnectBroker",
    "kite_checksum",
    "next_kite_expiry",
]

log = structlog.get_logger(__name__)

DEFAULT_API_BASE_URL = "https://api.kite.trade"
DEFAULT_LOGIN_URL = "https://kite.zerodha.com/connect/login"
KITE_VERSION = "3"
_USER_AGENT = "quantagro-user-service"
_MAX_TOKEN_LENGTH = 512
_CONNECT_RETRY_DELAY = 0.2


def _ist() -> tzinfo:
    try:
        return ZoneInfo("Asia/Kolkata")
    except ZoneInfoNotFoundError:  # no tz database: India has had no DST since 1945
        return timezone(timedelta(hours=5, minutes=30), "IST")


IST = _ist()


def next_kite_expiry(after: datetime) -> datetime:
    """The first 06:00 IST strictly after ``after``, in UTC: when Kite flushes access tokens."""
    if after.tzinfo is None:
        raise ValueError("after must be timezone-aware")
    local = after.astimezone(IST)
    cutoff = local.replace(hour=6, minute=0, second=0, microsecond=0)
    if cutoff <= local:
        cutoff += timedelta(days=1)
    return cutoff.astimezone(UTC)


def kite_checksum(api_key: str, request_token: str, api_secret: str) -> str:
    """SHA-256 hex of ``api_key + request_token + api_secret`` (Kite's session checksum)."""
    return hashlib.sha256((api_key + request_token + api_secret).encode()).hexdigest()


def _parse_login_time(value: object) -> datetime | None:
    """Kite sends ``login_time`` as ``YYYY-MM-DD HH:MM:SS`` in IST."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=IST).astimezone(UTC)
    except ValueError:
        return None


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


class KiteConnectBroker:
    """``Broker`` for Zerodha Kite Connect v3; pass ``client`` to share a connection pool."""

    name = "kite"

    def __init__(
        self,
        api_base_url: str = DEFAULT_API_BASE_URL,
        login_base_url: str = DEFAULT_LOGIN_URL,
        timeout: float = 10.0,
        client: httpx.AsyncClient | None = None,
        *,
        clock: Callable[[], datetime] = _utcnow,
        limits: httpx.Limits | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._api_base = api_base_url.rstrip("/")
        self._login_base = login_base_url
        self._timeout = timeout
        self._clock = clock
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            # An idle connection is dropped after 1 s, before any common server's keep-alive
            # timeout (2 to 5 s): reusing one the server is closing at that moment fails a
            # non-idempotent POST (seen with httpx's default 5 s against a 5 s server).
            limits=limits
            or httpx.Limits(max_connections=20, max_keepalive_connections=5, keepalive_expiry=1.0),
        )

    def __repr__(self) -> str:
        return f"KiteConnectBroker(api_base_url={self._api_base!r}, timeout={self._timeout})"

    async def aclose(self) -> None:
        """Close the connection pool if this adapter created it."""
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> KiteConnectBroker:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # --- Broker -------------------------------------------------------------------------

    def login_url(self, api_key: str, redirect_params: Mapping[str, str] | None = None) -> str:
        """Kite's login page for this app; ``redirect_params`` come back on the redirect."""
        self._check("api key", api_key)
        params: dict[str, str] = {"v": KITE_VERSION, "api_key": api_key}
        if redirect_params:
            params["redirect_params"] = urlencode(dict(redirect_params))
        separator = "&" if "?" in self._login_base else "?"
        return f"{self._login_base}{separator}{urlencode(params)}"

    async def exchange_request_token(
        self, api_key: str, api_secret: str, request_token: str
    ) -> BrokerSession:
        """Trade the redirect's ``request_token`` for the day's access token."""
        self._check("api key", api_key)
        self._check("api secret", api_secret)
        self._check("request token", request_token)
        checksum = kite_checksum(api_key, request_token, api_secret)
        data = await self._call(
            "POST",
            "/session/token",
            form={"api_key": api_key, "request_token": request_token, "checksum": checksum},
            secrets=(api_secret, request_token, checksum),
            idempotent=False,
        )
        access_token, user_id = data.get("access_token"), data.get("user_id")
        if not isinstance(access_token, str) or not access_token or not isinstance(user_id, str):
            raise self._unexpected()
        now = self._clock()
        login_time = _parse_login_time(data.get("login_time"))
        # Trust Kite's login time unless the clocks disagree wildly (then ours is the basis).
        basis = login_time if login_time and abs(login_time - now) < timedelta(hours=6) else now
        return BrokerSession(
            user_id=user_id,
            access_token=access_token,
            expires_at=next_kite_expiry(basis),
            login_time=login_time,
            user_name=_optional_str(data.get("user_name")),
            email=_optional_str(data.get("email")),
            public_token=_optional_str(data.get("public_token")),
        )

    async def fetch_profile(self, api_key: str, access_token: str) -> BrokerProfile:
        """Ask Kite whose credentials these are; ``BrokerAuthError`` if the token is dead."""
        self._check("api key", api_key)
        self._check("access token", access_token)
        data = await self._call(
            "GET",
            "/user/profile",
            headers={"Authorization": f"token {api_key}:{access_token}"},
            secrets=(access_token,),
            idempotent=True,
        )
        user_id = data.get("user_id")
        if not isinstance(user_id, str) or not user_id:
            raise self._unexpected()
        return BrokerProfile(
            user_id=user_id,
            user_name=_optional_str(data.get("user_name")),
            email=_optional_str(data.get("email")),
            broker=self.name,
        )

    def access_token_expiry(self, seen_working_at: datetime) -> datetime | None:
        """Kite flushes every access token at 06:00 IST: the next such moment."""
        return next_kite_expiry(seen_working_at)

    # --- transport ----------------------------------------------------------------------

    def _check(self, what: str, value: str) -> None:
        """Refuse values that would corrupt a header or form before anything is sent."""
        if (
            not isinstance(value, str)
            or not value
            or len(value) > _MAX_TOKEN_LENGTH
            or ":" in value
            or not value.isascii()
            or not value.isprintable()
            or any(ch.isspace() for ch in value)
        ):
            raise BrokerInputError(
                f"The {what} is empty, too long or contains characters Kite does not accept.",
                broker=self.name,
            )

    async def _call(
        self,
        method: str,
        path: str,
        *,
        secrets: tuple[str, ...],
        idempotent: bool,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        request_headers = {"X-Kite-Version": KITE_VERSION, "User-Agent": _USER_AGENT}
        request_headers.update(headers or {})
        attempts = 2 if idempotent else 1
        started = time.monotonic()
        try:
            with anyio.fail_after(self._timeout):
                for attempt in range(1, attempts + 1):
                    try:
                        response = await self._client.request(
                            method,
                            self._api_base + path,
                            data=form,
                            headers=request_headers,
                            timeout=self._timeout,
                        )
                        break
                    except httpx.ConnectError:
                        # The connection was never opened, so Kite saw nothing: one short retry.
                        if attempt == attempts:
                            raise
                        log.info("kite.connect_retry", method=method, path=path)
                        await anyio.sleep(_CONNECT_RETRY_DELAY)
        except (TimeoutError, httpx.TimeoutException):
            log.warning("kite.timeout", method=method, path=path, timeout=self._timeout)
            raise BrokerTimeout(
                f"Kite did not answer within {self._timeout:g} seconds.", broker=self.name
            ) from None
        except httpx.HTTPError as exc:
            log.warning("kite.unreachable", method=method, path=path, error=type(exc).__name__)
            raise BrokerUnavailable("Kite could not be reached.", broker=self.name) from None
        elapsed_ms = round((time.monotonic() - started) * 1000)
        log.info(
            "kite.response", method=method, path=path, status=response.status_code, ms=elapsed_ms
        )
        return self._parse(response, secrets)

    def _parse(self, response: httpx.Response, secrets: tuple[str, ...]) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            body = {}
        data = body.get("data")
        if response.is_success and body.get("status") == "success" and isinstance(data, dict):
            return data
        error = self._error(
            response.status_code,
            _optional_str(body.get("error_type")),
            _optional_str(body.get("message")),
            secrets,
        )
        log.warning(
            "kite.error",
            status=response.status_code,
            error_type=error.error_type,
            code=error.code,
        )
        raise error

    def _error(
        self, status: int, error_type: str | None, message: str | None, secrets: tuple[str, ...]
    ) -> BrokerError:
        """Map Kite's answer to our errors; Kite's ``error_type`` travels with them."""
        said = f": {scrub(message, secrets)}" if message else "."
        kwargs: dict[str, Any] = {
            "broker": self.name,
            "error_type": error_type,
            "broker_status": status,
        }
        if status < 400:
            return self._unexpected(status)
        if error_type == "TokenException" or (status == 403 and error_type is None):
            return BrokerAuthError(f"Kite rejected the credentials{said}", **kwargs)
        if status == 504:
            return BrokerTimeout(f"Kite timed out upstream{said}", **kwargs)
        if status >= 500 or status == 429 or error_type in ("NetworkException", "DataException"):
            return BrokerUnavailable(f"Kite is unavailable (HTTP {status}){said}", **kwargs)
        if error_type == "InputException":
            return BrokerInputError(f"Kite rejected the request{said}", **kwargs)
        return BrokerRejected(f"Kite refused the request{said}", **kwargs)

    def _unexpected(self, status: int | None = None) -> BrokerUnavailable:
        return BrokerUnavailable(
            "Kite returned an unexpected response.", broker=self.name, broker_status=status
        )
