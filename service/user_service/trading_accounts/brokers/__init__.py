"""Brokers: the adapters one instance uses, built at start-up from the settings.

``base`` — the ``Broker`` protocol, its results and its errors; ``kite`` — the Kite Connect
adapter. This module is the registry: ``open_brokers`` builds one adapter per broker for
``AppServices.brokers``, ``close_brokers`` closes them at shutdown.
"""

from __future__ import annotations

from user_service.config import Settings
from user_service.trading_accounts.brokers.base import Broker
from user_service.trading_accounts.brokers.kite import KiteConnectBroker


def open_brokers(settings: Settings) -> dict[str, Broker]:
    """One adapter per broker, each owning one bounded connection pool shared by all requests.

    Every call is bounded by ``KITE_TIMEOUT_SECONDS``; the pool's limits keep a burst of
    verifications from opening hundreds of sockets to the broker.
    """
    kite = KiteConnectBroker(
        settings.kite_api_base_url, settings.kite_login_url, settings.kite_timeout_seconds
    )
    return {kite.name: kite}


async def close_brokers(brokers: dict[str, Broker]) -> None:
    for broker in brokers.values():
        await broker.aclose()
    brokers.clear()
