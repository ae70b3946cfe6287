"""Quantagro resource-server SDK: verify the User Service's tokens, follow its revocations,
act as a service, ask for decisions and release broker credentials."""

from quantagro_auth.client import AuthClient
from quantagro_auth.credentials import BrokerCredentials
from quantagro_auth.decisions import Decision
from quantagro_auth.errors import (
    AccountFrozen,
    AuthError,
    AuthServiceUnavailable,
    ClientAuthenticationFailed,
    ConfigurationError,
    InsufficientPermission,
    InsufficientScope,
    MissingToken,
    StepUpRequired,
    TokenError,
    TokenExpired,
    TokenInvalid,
    TokenKindMismatch,
    TokenRevoked,
    TradingAccountNotFound,
    TradingAccountUnavailable,
)
from quantagro_auth.events import Event, EventHub
from quantagro_auth.jwks import JwksCache
from quantagro_auth.principals import Principal, ServicePrincipal, UserPrincipal
from quantagro_auth.revocations import RevocationList
from quantagro_auth.verification import KeySource, TokenVerifier, verify_access_token

__all__ = [
    "AccountFrozen",
    "AuthClient",
    "AuthError",
    "AuthServiceUnavailable",
    "BrokerCredentials",
    "ClientAuthenticationFailed",
    "ConfigurationError",
    "Decision",
    "Event",
    "EventHub",
    "InsufficientPermission",
    "InsufficientScope",
    "JwksCache",
    "KeySource",
    "MissingToken",
    "Principal",
    "RevocationList",
    "ServicePrincipal",
    "StepUpRequired",
    "TokenError",
    "TokenExpired",
    "TokenInvalid",
    "TokenKindMismatch",
    "TokenRevoked",
    "TokenVerifier",
    "TradingAccountNotFound",
    "TradingAccountUnavailable",
    "UserPrincipal",
    "verify_access_token",
]
