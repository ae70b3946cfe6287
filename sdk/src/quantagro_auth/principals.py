"""Who is calling: the verified claims of a user or a service token, as frozen values.

The raw token and the full claims are kept (a resource server may forward the token to the
PDP) but stay out of ``repr``, ``==`` and ``hash``, so a logged principal never leaks them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal


def _timestamp(value: Any) -> dt.datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return dt.datetime.fromtimestamp(value, tz=dt.UTC)


def _strings(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, Iterable):
        return frozenset(str(item) for item in value)
    return frozenset()


@dataclass(frozen=True)
class UserPrincipal:
    """A trader (or admin) signed in to the User Service, from a verified access token."""

    user_id: str
    session_id: str
    email: str | None
    email_verified: bool
    roles: frozenset[str]
    trading_accounts: frozenset[str]
    mfa: bool
    auth_time: dt.datetime | None
    mfa_at: dt.datetime | None
    expires_at: dt.datetime
    claims: Mapping[str, Any] = field(repr=False, compare=False, hash=False)
    token: str = field(repr=False, compare=False, hash=False)

    kind: Literal["user"] = field(default="user", init=False)

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any], token: str) -> UserPrincipal:
        expires_at = _timestamp(claims.get("exp"))
        if expires_at is None:  # the shared rules require exp; kept for direct callers
            raise ValueError("claims without exp")
        email = claims.get("email")
        return cls(
            user_id=str(claims["sub"]),
            session_id=str(claims["sid"]),
            email=email if isinstance(email, str) else None,
            email_verified=claims.get("email_verified") is True,
            roles=_strings(claims.get("roles") or ()),
            trading_accounts=_strings(claims.get("trading_accounts") or ()),
            mfa=claims.get("mfa") is True,
            auth_time=_timestamp(claims.get("auth_time")),
            mfa_at=_timestamp(claims.get("mfa_at")),
            expires_at=expires_at,
            claims=dict(claims),
            token=token,
        )

    def has_role(self, role: str) -> bool:
        return role in self.roles

    def mfa_within(self, seconds: float, *, now: dt.datetime | None = None) -> bool:
        """Was the second factor proven in the last ``seconds`` (step-up for trading)?"""
        if self.mfa_at is None:
            return False
        now = now or dt.datetime.now(dt.UTC)
        return (now - self.mfa_at).total_seconds() <= seconds


@dataclass(frozen=True)
class ServicePrincipal:
    """A platform service authenticated with the client-credentials grant."""

    client_id: str
    scopes: frozenset[str]
    expires_at: dt.datetime
    claims: Mapping[str, Any] = field(repr=False, compare=False, hash=False)
    token: str = field(repr=False, compare=False, hash=False)

    kind: Literal["service"] = field(default="service", init=False)

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any], token: str) -> ServicePrincipal:
        expires_at = _timestamp(claims.get("exp"))
        if expires_at is None:
            raise ValueError("claims without exp")
        return cls(
            client_id=str(claims["client_id"]),
            scopes=_strings(claims.get("scope") or ""),
            expires_at=expires_at,
            claims=dict(claims),
            token=token,
        )

    def has_scope(self, *scopes: str) -> bool:
        """True when the token holds every one of ``scopes``."""
        return all(scope in self.scopes for scope in scopes)


Principal = UserPrincipal | ServicePrincipal


def principal_from_claims(claims: Mapping[str, Any], token: str) -> Principal:
    """Build the principal of verified claims (the kind was checked by the shared rules)."""
    if "sid" in claims and "client_id" not in claims:
        return UserPrincipal.from_claims(claims, token)
    return ServicePrincipal.from_claims(claims, token)
