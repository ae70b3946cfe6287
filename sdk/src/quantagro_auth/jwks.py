"""The SDK's :class:`~quantagro_auth.verification.KeySource`: the issuer's JWKS, cached.

* Cached for the response's ``Cache-Control: max-age`` (the service sends 300 s), clamped to
  [10 s, 1 day]; 300 s when the header is absent.
* An unknown ``kid`` triggers one refetch — single-flight (50 concurrent verifications of an
  unknown key make one request) and at most once per ``min_refetch_interval`` (10 s), so a
  flood of forged ``kid`` values cannot turn the verifier into an amplifier.
* A failed fetch keeps the keys already held: verification works offline once keys are cached
  (docs/api.md §8). Only RSA signing keys usable with RS256 are kept (RFC 7517 §4: ``use``/``alg``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import jwt

from quantagro_auth._singleflight import SingleFlight
from quantagro_auth.errors import AuthServiceUnavailable
from quantagro_auth.verification import ALGORITHM, MAX_KID_LENGTH

log = logging.getLogger("quantagro_auth.jwks")

DEFAULT_MAX_AGE = 300.0
MIN_MAX_AGE = 10.0
MAX_MAX_AGE = 86_400.0
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.IGNORECASE)


def cache_lifetime(cache_control: str | None, default: float = DEFAULT_MAX_AGE) -> float:
    """Seconds a JWKS response may be reused, from its ``Cache-Control`` (RFC 9111 §5.2.2)."""
    if not cache_control:
        return default
    match = _MAX_AGE.search(cache_control)
    if match is None:
        lowered = cache_control.lower()
        return MIN_MAX_AGE if "no-cache" in lowered or "no-store" in lowered else default
    return min(max(float(match.group(1)), MIN_MAX_AGE), MAX_MAX_AGE)


def parse_jwks(document: Any) -> dict[str, Any]:
    """``{kid: public key}`` of the usable RSA signature keys of a JWKS document."""
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWK set")
    keys: dict[str, Any] = {}
    for entry in document["keys"]:
        if not isinstance(entry, Mapping):
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_LENGTH:
            continue
        if entry.get("kty") != "RSA" or entry.get("use", "sig") != "sig":
            continue
        if entry.get("alg", ALGORITHM) != ALGORITHM:
            continue
        try:
            keys[kid] = jwt.PyJWK(dict(entry), algorithm=ALGORITHM).key
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            log.warning("jwks_key_skipped: %s", kid)
    return keys


class JwksCache:
    """Fetches and caches the issuer's signing keys; implements ``KeySource``."""

    def __init__(
        self,
        jwks_uri: str,
        http: httpx.AsyncClient,
        *,
        min_refetch_interval: float = 10.0,
        default_max_age: float = DEFAULT_MAX_AGE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.jwks_uri = jwks_uri
        self._http = http
        self._min_interval = min_refetch_interval
        self._default_max_age = default_max_age
        self._clock = clock
        self._keys: dict[str, Any] = {}
        self._expires_at = float("-inf")
        self._last_attempt: float | None = None
        self._flight: SingleFlight[bool] = SingleFlight()
        self._background: asyncio.Future[bool] | None = None
        self.fetch_count = 0

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(self._keys)

    @property
    def fresh(self) -> bool:
        return bool(self._keys) and self._clock() < self._expires_at

    async def verification_key(self, kid: str) -> Any | None:
        """The key for ``kid``; ``None`` when the issuer does not publish it.

        A known key is served at once even when the cache is stale (the refresh then runs in
        the background); an unknown one waits for the (bounded) refetch. Raises
        :class:`AuthServiceUnavailable` only while no key at all could ever be fetched.
        """
        key = self._keys.get(kid)
        if key is not None:
            if not self.fresh:
                self._refresh_in_background()
            return key
        await self.refresh()
        if not self._keys:
            raise AuthServiceUnavailable("The issuer's signing keys could not be fetched.")
        return self._keys.get(kid)

    def _refresh_in_background(self) -> None:
        if self._background is None or self._background.done():
            self._background = asyncio.ensure_future(self.refresh())

    async def refresh(self, *, force: bool = False) -> bool:
        """Refetch unless one ran less than ``min_refetch_interval`` ago (or ``force``).

        Concurrent callers share one request. Returns whether the key set was replaced.
        """
        if self._flight.running:
            return await self._flight.run(self._fetch)
        recent = (
            self._last_attempt is not None
            and self._clock() - self._last_attempt < self._min_interval
        )
        if recent and not force:
            return False
        return await self._flight.run(self._fetch)

    async def aclose(self) -> None:
        if self._background is not None and not self._background.done():
            self._background.cancel()

    async def load(self) -> None:
        """Fetch now and raise :class:`AuthServiceUnavailable` if no key could be obtained."""
        await self.refresh(force=True)
        if not self._keys:
            raise AuthServiceUnavailable("The issuer's JWKS could not be fetched.")

    async def _fetch(self) -> bool:
        self._last_attempt = self._clock()
        self.fetch_count += 1
        try:
            response = await self._http.get(self.jwks_uri, headers={"Accept": "application/json"})
            response.raise_for_status()
            keys = parse_jwks(response.json())
        except (httpx.HTTPError, ValueError) as exc:
            log.warning(
                "jwks_fetch_failed: %s (%s); keeping %d cached keys",
                self.jwks_uri,
                type(exc).__name__,
                len(self._keys),
            )
            return False
        if not keys:
            log.warning("jwks_without_usable_keys: %s", self.jwks_uri)
            return False
        self._keys = keys
        lifetime = cache_lifetime(response.headers.get("cache-control"), self._default_max_age)
        self._expires_at = self._last_attempt + lifetime
        return True
