"""Typed errors: one base class, each with the HTTP status and stable code a resource server
should answer with (the User Service's own ``{"detail", "code"}`` vocabulary).

This module imports nothing outside the standard library: the shared verification rules
(:mod:`quantagro_auth.verification`) raise these errors and the service reuses them.
"""

from __future__ import annotations


class AuthError(Exception):
    """Base of every error the SDK raises on purpose."""

    status_code: int = 401
    code: str = "auth_error"
    default_message: str = "Authentication failed."

    def __init__(self, message: str | None = None, *, code: str | None = None) -> None:
        self.message = message or self.default_message
        if code is not None:
            self.code = code
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, code={self.code!r})"


class TokenError(AuthError):
    """The bearer token cannot be accepted: answer 401 with ``WWW-Authenticate: Bearer``."""

    status_code = 401
    code = "invalid_token"
    default_message = "The access token is not valid."


class MissingToken(TokenError):
    code = "missing_token"
    default_message = "Missing authentication token."


class TokenInvalid(TokenError):
    """Malformed, forged, wrong issuer/audience/type, unknown key: anything but expiry."""

    code = "invalid_token"
    default_message = "The access token is not valid."


class TokenKindMismatch(TokenInvalid):
    """A valid token of the other kind: a service token where a user is required, or the
    reverse (docs/api.md §4: never accepted in each other's place)."""

    default_message = "This kind of token is not accepted here."

    def __init__(self, message: str | None = None, *, expected: str, actual: str) -> None:
        super().__init__(message)
        self.expected = expected
        self.actual = actual


class TokenExpired(TokenError):
    code = "token_expired"
    default_message = "The access token has expired."


class TokenRevoked(TokenError):
    """The token is genuine and unexpired, but its session was revoked or its user disabled."""

    code = "token_revoked"
    default_message = "The session of this token has been signed out."

    def __init__(self, message: str | None = None, *, reason: str = "session_revoked") -> None:
        super().__init__(message)
        self.reason = reason


class InsufficientPermission(AuthError):
    """Authenticated, but not allowed: 403."""

    status_code = 403
    code = "insufficient_permission"
    default_message = "You do not have permission to do this."


class StepUpRequired(InsufficientPermission):
    """403: allowed only with a second factor proven recently (trading): the client should
    ask for a code, call ``POST /v1/auth/step-up`` and retry with the new access token."""

    code = "step_up_required"
    default_message = "Confirm with a code from your authenticator app to continue."


class InsufficientScope(InsufficientPermission):
    code = "insufficient_scope"
    default_message = "The service token lacks a required scope."


class AuthServiceUnavailable(AuthError):
    """The User Service (JWKS, token endpoint, PDP, credentials) could not answer: 503."""

    status_code = 503
    code = "auth_service_unavailable"
    default_message = "The authentication service is unavailable."


class ClientAuthenticationFailed(AuthError):
    """The service's own client credentials were refused (a configuration problem)."""

    status_code = 503
    code = "client_authentication_failed"
    default_message = "The service's client credentials were refused by the User Service."


class ConfigurationError(AuthError):
    """The call needs something the client was not configured with (e.g. client credentials)."""

    status_code = 500
    code = "auth_configuration_error"
    default_message = "The authentication client is not configured for this call."


class TradingAccountNotFound(AuthError):
    status_code = 404
    code = "trading_account_not_found"
    default_message = "No such trading account."


class TradingAccountUnavailable(AuthError):
    """409: the account is not active (expired broker session, frozen, owner inactive)."""

    status_code = 409
    code = "account_not_active"
    default_message = "The trading account is not active."

    def __init__(
        self, message: str | None = None, *, code: str | None = None, status: str | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.status = status


class AccountFrozen(TradingAccountUnavailable):
    code = "account_frozen"
    default_message = "The trading account is frozen."
