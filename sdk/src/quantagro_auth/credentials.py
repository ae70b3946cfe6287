"""Broker credentials released to a service (``POST /v1/internal/trading-accounts/{id}/
credentials``, scope ``credentials:read``). Never cached, never logged: the values are kept
out of ``repr``/``str`` and out of every error message."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from quantagro_auth.events import parse_time


@dataclass(frozen=True)
class BrokerCredentials:
    account_id: str
    broker: str
    user_id_broker: str
    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)
    access_token: str = field(repr=False)
    access_token_expires_at: dt.datetime | None = None

    def __str__(self) -> str:
        return repr(self)

    def __reduce__(self) -> str | tuple[Any, ...]:
        raise TypeError("BrokerCredentials are not to be pickled (never cached)")

    @classmethod
    def from_response(cls, data: dict[str, object]) -> BrokerCredentials:
        return cls(
            account_id=str(data.get("account_id") or ""),
            broker=str(data.get("broker") or ""),
            user_id_broker=str(data.get("user_id_broker") or ""),
            api_key=str(data["api_key"]),
            api_secret=str(data["api_secret"]),
            access_token=str(data["access_token"]),
            access_token_expires_at=parse_time(data.get("access_token_expires_at")),
        )
