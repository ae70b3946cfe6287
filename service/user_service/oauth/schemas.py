"""Bodies of the OAuth 2.0 endpoints (RFC 6749 §5.1, RFC 7662 §2.2) and their error shape."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from user_service.exceptions import UserServiceError

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
"""RFC 6749 §5.1: responses carrying tokens (or facts about them) must not be cached."""


class OAuthError(UserServiceError):
    """An RFC 6749 §5.2 error: ``{"error", "error_description"}``, plus ``code`` and ``detail``
    so the service-wide error shape holds for clients that only know that one."""

    def __init__(
        self,
        error: str,
        description: str,
        status_code: int = 400,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
        commit: bool | None = None,
    ) -> None:
        super().__init__(
            description,
            status_code,
            code or error,
            headers={**NO_STORE, **(headers or {})},
            extra=extra,
            commit=commit,
        )
        self.error = error

    def body(self) -> dict[str, Any]:
        return {
            "error": self.error,
            "error_description": self.message,
            "code": self.code,
            "detail": self.message,
            **self.extra,
        }


def invalid_request(description: str) -> OAuthError:
    return OAuthError("invalid_request", description)


def invalid_client(description: str = "Client authentication failed.", **kwargs: Any) -> OAuthError:
    """RFC 6749 §5.2: 401 with ``WWW-Authenticate: Basic`` whatever method the client used."""
    return OAuthError(
        "invalid_client",
        description,
        401,
        headers={"WWW-Authenticate": 'Basic realm="user_service", charset="UTF-8"'},
        **kwargs,
    )


class TokenOut(BaseModel):
    """RFC 6749 §4.4.3 / §5.1; no refresh token for client credentials."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int
    scope: str


class IntrospectionOut(BaseModel):
    """RFC 7662 §2.2; only ``active`` when the token is not active."""

    model_config = ConfigDict(extra="forbid")

    active: bool
    token_use: str | None = None
    scope: str | None = None
    client_id: str | None = None
    username: str | None = None
    token_type: str | None = None
    exp: int | None = None
    iat: int | None = None
    nbf: int | None = None
    sub: str | None = None
    aud: str | list[str] | None = None
    iss: str | None = None
    jti: str | None = None
    sid: str | None = None
    roles: list[str] | None = None
    mfa: bool | None = None


class ClientOut(BaseModel):
    """A client as the CLI lists it; the secret is never shown again."""

    client_id: str
    name: str
    scopes: list[str]
    has_secret: bool
    secret_rotated_at: str | None
    disabled: bool
