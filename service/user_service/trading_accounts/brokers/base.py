"""The broker seam: what trading accounts need from any broker (docs/api.md §3).

Kite Connect is the first implementation (``kite.py``); another broker plugs in by providing
the same three calls, raising the same errors and being opened in ``open_brokers``
(``__init__.py``). Results and errors never carry secrets in their ``repr`` or message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from user_service.exceptions import BadGateway, BadRequest, GatewayTimeout, UserServiceError

__all__ = [
    "Broker",
    "BrokerAuthError",
    "BrokerError",
    "BrokerInputError",
    "BrokerProfile",
    "BrokerRejected",
    "BrokerSession",
    "BrokerTimeout",
    "BrokerUnavailable",
    "scrub",
]


@dataclass(frozen=True, slots=True)
class BrokerSession:
    """The result of a login exchange: the day's access token and when it stops working."""

    user_id: str
    access_token: str = field(repr=False)
    expires_at: datetime
    login_time: datetime | None = None
    user_name: str | None = None
    email: str | None = field(default=None, repr=False)
    public_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class BrokerProfile:
    """Who the broker says the credentials belong to (used to check ``user_id_broker``)."""

    user_id: str
    user_name: str | None
    email: str | None = field(repr=False)
    broker: str


@runtime_checkable
class Broker(Protocol):
    """A broker's login flow and identity check.

    Errors: ``BrokerAuthError`` (credentials or token invalid or expired),
    ``BrokerInputError`` (the broker rejected a parameter), ``BrokerRejected`` (other refusals),
    ``BrokerUnavailable`` (network, 5xx, unexpected answer) and its subclass ``BrokerTimeout``.
    """

    name: str

    def login_url(self, api_key: str, redirect_params: Mapping[str, str] | None = None) -> str:
        """The page a user opens to log in at the broker and come back with a request token."""
        ...

    async def exchange_request_token(
        self, api_key: str, api_secret: str, request_token: str
    ) -> BrokerSession: ...

    async def fetch_profile(self, api_key: str, access_token: str) -> BrokerProfile: ...

    def access_token_expiry(self, seen_working_at: datetime) -> datetime | None:
        """The latest moment a token that worked at ``seen_working_at`` can still work
        (``None`` if the broker does not say), so a token pasted by the user gets an expiry."""
        ...

    async def aclose(self) -> None:
        """Release the adapter's connections (at shutdown)."""
        ...


# --------------------------------------------------------------------------------------------
# Errors: rendered by the service's one handler as {"detail", "code", "broker", "error_type"}.
# None of them is a 401/403: those would tell the frontend *our* session ended.
# --------------------------------------------------------------------------------------------


class BrokerError(UserServiceError):
    """Base of broker failures; ``error_type`` is the broker's own class (Kite ``error_type``)."""

    status_code = 502
    code = "broker_error"

    def __init__(
        self,
        message: str,
        *,
        broker: str,
        error_type: str | None = None,
        broker_status: int | None = None,
    ) -> None:
        super().__init__(message, extra={"broker": broker, "error_type": error_type})
        self.broker = broker
        self.error_type = error_type
        self.broker_status = broker_status

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(broker={self.broker!r}, error_type={self.error_type!r}, "
            f"broker_status={self.broker_status!r}, message={self.message!r})"
        )


class BrokerRejected(BrokerError, BadRequest):
    """The broker refused the request (a 4xx that is not about credentials or input)."""

    status_code = 400
    code = "broker_rejected"


class BrokerAuthError(BrokerRejected):
    """Credentials or access token invalid or expired (Kite ``TokenException``).

    On ``verify`` this becomes account status ``expired``/``invalid``; on a login exchange it
    means the request token was stale, already used, or the api secret is wrong.
    """

    code = "broker_auth_failed"


class BrokerInputError(BrokerRejected):
    """The broker rejected a parameter (Kite ``InputException``)."""

    code = "broker_input_invalid"


class BrokerUnavailable(BrokerError, BadGateway):
    """The broker could not be reached or answered with a 5xx or something unparsable."""

    status_code = 502
    code = "broker_unavailable"


class BrokerTimeout(BrokerUnavailable, GatewayTimeout):
    """The broker did not answer within the configured bound."""

    status_code = 504
    code = "broker_timeout"


def scrub(text: str, secrets: Iterable[str | None], *, limit: int = 200) -> str:
    """Make broker-supplied text safe to show: drop any secret it echoes, cap its length."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
