"""Client IP resolution behind trusted proxies, and IP masking for logs, audit and APIs."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Sequence[str]) -> list[Network]:
    return [ipaddress.ip_network(entry, strict=False) for entry in entries]


def _is_trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_ip(
    peer: str | None, forwarded_for: str | None, trusted: Sequence[Network]
) -> str | None:
    """The first untrusted hop, reading ``X-Forwarded-For`` right to left.

    The header is believed only when the direct peer is a trusted proxy, so a client cannot
    pick its own IP (and with it, its own rate-limit bucket).
    """
    if peer is None or not forwarded_for or not _is_trusted(peer, trusted):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer
    return hops[0] if hops else peer


def mask_ip(address: str | None) -> str | None:
    """IPv4 keeps /24, IPv6 keeps /48 — enough to spot a new network, not to find a person."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "invalid"
    if isinstance(ip, ipaddress.IPv4Address):
        a, b, c, _ = str(ip).split(".")
        return f"{a}.{b}.{c}.x"
    network = ipaddress.ip_network(f"{ip}/48", strict=False)
    return f"{network.network_address}/48"
