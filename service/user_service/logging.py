"""Structured logs (structlog): JSON in production, readable in development.

A processor masks email addresses and IP addresses wherever they appear and drops any field
whose name says it holds a secret, so a careless ``log.info(..., password=...)`` cannot leak.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog

from user_service.kit.ip import mask_ip

_EMAIL_RE = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
_IPV4_RE = re.compile(r"\b(\d{1,3}\.\d{1,3}\.\d{1,3})\.\d{1,3}\b")
_SECRET_KEYS = re.compile(
    r"(^|_)(pass(word)?|secret|token|api_key|authorization|cookie|private_key|code|otp|totp"
    r"|checksum|credentials?)($|_)",
    re.I,
)


def _mask_text(value: str) -> str:
    value = _EMAIL_RE.sub(r"\1***@\2", value)
    return _IPV4_RE.sub(r"\1.x", value)


def mask_sensitive(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    for key in list(event_dict):
        value = event_dict[key]
        if key not in (
            "event",
            "level",
            "timestamp",
            "logger",
            "status_code",
        ) and _SECRET_KEYS.search(key):
            event_dict[key] = "[redacted]"
        elif key in ("ip", "client_ip", "remote_addr") and isinstance(value, str):
            event_dict[key] = mask_ip(value)
        elif isinstance(value, str):
            event_dict[key] = _mask_text(value)
    return event_dict


def configure_logging(level: str = "INFO", json_logs: bool = False) -> None:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        mask_sensitive,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_logs
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
