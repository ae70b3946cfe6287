"""One error base class, rendered by one handler (see ``app.py``).

Every error a client can cause is a ``UserServiceError`` with a stable snake_case ``code``;
the body is ``{"detail": message, "code": code}`` (docs/api.md §3). Nothing below the endpoint
layer raises ``HTTPException``.
"""

from __future__ import annotations

from typing import Any


class UserServiceError(Exception):
    """Base of every error rendered to a client.

    ``commit`` asks the request's unit of work to commit what was written before the error
    (an audit row for a failed login, a session revoked on refresh-token reuse) instead of
    rolling it back.
    """

    status_code: int = 400
    code: str = "bad_request"
    commit: bool = False

    def __init__(
        self,
        message: str,
        status_code: int | None = None,
        code: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
        commit: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        if code is not None:
            self.code = code
        if commit is not None:
            self.commit = commit
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        return {"detail": self.message, "code": self.code, **self.extra}


class BadRequest(UserServiceError):
    status_code = 400
    code = "bad_request"


class Unauthorized(UserServiceError):
    status_code = 401
    code = "unauthorized"

    def __init__(self, message: str = "Authentication is required.", **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kwargs)


class Forbidden(UserServiceError):
    status_code = 403
    code = "forbidden"


class NotFound(UserServiceError):
    status_code = 404
    code = "not_found"


class Conflict(UserServiceError):
    status_code = 409
    code = "conflict"


class ValidationFailed(UserServiceError):
    """A semantic rule on valid JSON failed (weak password, bad policy) — 422 with a code."""

    status_code = 422
    code = "validation_error"


class RateLimited(UserServiceError):
    status_code = 429
    code = "rate_limited"

    def __init__(
        self, retry_after: int, message: str = "Too many requests. Try again later.", **kwargs: Any
    ) -> None:
        retry_after = max(1, int(retry_after))
        kwargs.setdefault("headers", {"Retry-After": str(retry_after)})
        kwargs.setdefault("extra", {"retry_after": retry_after})
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServiceUnavailable(UserServiceError):
    status_code = 503
    code = "service_unavailable"


class BadGateway(UserServiceError):
    status_code = 502
    code = "bad_gateway"


class GatewayTimeout(UserServiceError):
    status_code = 504
    code = "gateway_timeout"
