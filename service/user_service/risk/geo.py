"""Offline IP geolocation and country distances.

Countries come from ``iptocc`` (MIT/Apache-2.0): the five Regional Internet Registries'
delegation files compiled into the wheel, so a lookup is an in-memory search (≈ 0.1 µs), no
file is opened and nothing goes over the network. The data says where a block is
*registered*, which agrees with commercial databases for ~95 % of IPv4 addresses; a new
release of the package (published nightly) brings new data — see docs/risk.md.

Distances use approximate country centres and land borders (``country_centroids.csv``, from
countryinfo's ``latlng`` and ``borders``, MIT), read once per process.
"""

from __future__ import annotations

import csv
import functools
import ipaddress
import math
from importlib import resources

import iptocc

EARTH_RADIUS_KM = 6371.0


@functools.cache
def _countries() -> tuple[dict[str, tuple[float, float]], dict[str, frozenset[str]]]:
    text = resources.files(__package__).joinpath("country_centroids.csv").read_text("utf-8")
    rows = list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))
    centres = {row["country"]: (float(row["latitude"]), float(row["longitude"])) for row in rows}
    borders = {row["country"]: frozenset(row["neighbours"].split()) for row in rows}
    return centres, borders


def centroids() -> dict[str, tuple[float, float]]:
    return _countries()[0]


def neighbours(a: str, b: str) -> bool:
    """Countries sharing a land border (a sign-in across it says nothing about speed)."""
    return b in _countries()[1].get(a, frozenset())


def country_of(ip: str | None) -> str | None:
    """ISO 3166-1 alpha-2 code of a public address; None for private, loopback, reserved,
    documentation and unknown addresses (they have no country)."""
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if not address.is_global:
        return None
    code = iptocc.country_code(str(address))
    return code.upper() if code else None


def distance_km(a: str, b: str) -> float | None:
    """Great-circle distance between two countries' centres (None when one is unknown)."""
    table = centroids()
    if a not in table or b not in table:
        return None
    (lat1, lon1), (lat2, lon2) = table[a], table[b]
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))
