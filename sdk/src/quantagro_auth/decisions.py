"""Authorization decisions from the User Service's PDP (``POST /v1/authz/check``).

* The caller is the user (their access token) or, to ask about ``subject``, the service
  (its client-credentials token with scope ``authz:check``).
* A decision is cached for the ``ttl`` the PDP returns (capped at :data:`MAX_TTL`), keyed by
  the subject (``sub`` + ``sid`` + ``mfa_at``, so a step-up asks again), the permission and
  the resource; ``ttl`` absent or 0 means ask every time. Cached decisions of a session or a
  user are dropped when it is revoked or disabled.
* It fails closed: a 503, a timeout, a network error, a 5xx or an unreadable answer give
  ``Decision(allowed=False, code="decision_unavailable")`` (never cached). :meth:`check`
  never raises for what the PDP answers; ``allowed`` is the only thing to test.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from quantagro_auth.errors import AuthError

log = logging.getLogger("quantagro_auth.decisions")

UNAVAILABLE = "decision_unavailable"
MAX_TTL = 300.0
MAX_ENTRIES = 10_000
Resource = str | Mapping[str, str | None]


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    code: str = ""
    ttl: int = 0
    policy: str | None = None
    cached: bool = False

    @property
    def unavailable(self) -> bool:
        """The PDP could not answer: a denial, but answer 503 rather than 403."""
        return self.code == UNAVAILABLE

    @classmethod
    def unavailable_because(cls, reason: str) -> Decision:
        return cls(allowed=False, reason=reason, code=UNAVAILABLE)


_CacheKey = tuple[str, str, str, str, str]  # subject, session id, mfa_at, permission, resource


class DecisionCache:
    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, max_entries: int = MAX_ENTRIES
    ) -> None:
        self._clock = clock
        self._max_entries = max_entries
        self._entries: OrderedDict[_CacheKey, tuple[float, Decision]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: _CacheKey) -> Decision | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        until, decision = entry
        if until <= self._clock():
            del self._entries[key]
            return None
        return decision

    def put(self, key: _CacheKey, decision: Decision) -> None:
        if decision.ttl <= 0 or decision.unavailable:
            return
        self._entries[key] = (self._clock() + min(decision.ttl, MAX_TTL), decision)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def forget(self, *, session_id: str | None = None, user_id: str | None = None) -> None:
        for key in list(self._entries):
            subject, sid = key[0], key[1]
            if (session_id and sid == session_id) or (user_id and subject == f"user:{user_id}"):
                del self._entries[key]


def cache_key(
    permission: str, resource: Resource | None, subject: str | None, token: str | None
) -> _CacheKey | None:
    """The subject part comes from the (already verified) token's claims."""
    resource_part = json.dumps(resource, sort_keys=True, default=str)
    if subject is not None:
        return (f"user:{subject}", "", "", permission, resource_part)
    if token is None:
        return None
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    if "sid" in claims:
        return (
            f"user:{claims.get('sub')}",
            str(claims.get("sid")),
            str(claims.get("mfa_at")),
            permission,
            resource_part,
        )
    return (f"client:{claims.get('client_id')}", "", "", permission, resource_part)


async def ask(
    http: httpx.AsyncClient,
    endpoint: str,
    bearer: Callable[[], Awaitable[str]],
    *,
    permission: str,
    resource: Resource | None,
    subject: str | None,
    request_timeout: float,
) -> Decision:
    """One ``POST /v1/authz/check``; every failure becomes an unavailable decision."""
    body: dict[str, Any] = {"permission": permission}
    if resource is not None:
        body["resource"] = dict(resource) if isinstance(resource, Mapping) else resource
    if subject is not None:
        body["subject"] = subject
    try:
        token = await bearer()
        response = await http.post(
            endpoint,
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=request_timeout,
        )
    except AuthError as exc:
        return Decision.unavailable_because(f"No service token: {exc.message}")
    except httpx.TimeoutException:
        return Decision.unavailable_because("The authorization service timed out.")
    except httpx.HTTPError as exc:
        return Decision.unavailable_because(
            f"The authorization service is unreachable ({type(exc).__name__})."
        )
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        data = {}
    if response.status_code == 200 and isinstance(data.get("allowed"), bool):
        ttl = data.get("ttl")
        return Decision(
            allowed=data["allowed"],
            reason=str(data.get("reason") or ""),
            code=str(data.get("code") or ""),
            ttl=ttl if isinstance(ttl, int) and not isinstance(ttl, bool) and ttl > 0 else 0,
            policy=data.get("policy") if isinstance(data.get("policy"), str) else None,
        )
    if response.status_code in (400, 401, 403, 404, 422):
        code = str(data.get("code") or f"http_{response.status_code}")
        return Decision(
            allowed=False, reason=str(data.get("detail") or "The question was refused."), code=code
        )
    log.warning("authz_check_unavailable: status=%s", response.status_code)
    return Decision.unavailable_because(
        f"The authorization service answered {response.status_code}."
    )
