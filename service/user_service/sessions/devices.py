"""A readable device label from a User-Agent ("Chrome 120 on Linux")."""

from __future__ import annotations

from functools import lru_cache

from ua_parser import parse


@lru_cache(maxsize=1024)
def describe_device(user_agent: str | None) -> str | None:
    if not user_agent:
        return None
    result = parse(user_agent[:512])
    browser = result.user_agent
    os_ = result.os
    label = browser.family if browser else None
    if browser and browser.major:
        label = f"{browser.family} {browser.major}"
    if os_ and os_.family and os_.family != "Other":
        label = f"{label} on {os_.family}" if label else os_.family
    if result.device and result.device.family not in (None, "Other"):
        label = f"{label} ({result.device.family})" if label else result.device.family
    return label or user_agent.split(" ", 1)[0][:100]
