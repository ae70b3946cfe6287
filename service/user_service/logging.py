"""Structured logs (structlog): JSON in production, readable in development.

A processor masks email addresses and IP addresses wherever they appear and drops any field
whose name says it holds a secret, so a careless ``log.info(..., password=...)`` cannot leak.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
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


# Secrets that can surface inside free text (exception messages, driver errors).
_TEXT_SECRETS = (
    (re.compile(r"\$2[aby]?\$\d{2}\$[./A-Za-z0-9]{53}"), "[redacted-hash]"),
    (re.compile(r"\beyJ[\w-]+\.[\w-]+\.[\w-]+"), "[redacted-jwt]"),
    (re.compile(r"\bq(?:rt|ms|pr|ev|cs)_[\w-]{16,}"), "[redacted-token]"),
    # PostgreSQL's "Key (email)=(a@b.c) already exists" quotes the row's values.
    (re.compile(r"(Key \([^)]*\)=\()[^\n]*?(\) )"), r"\1[redacted]\2"),
)


# A string matching none of these cannot match any pattern above (cheap test first: every
# access-log line passes through here).
_MAYBE_SENSITIVE = re.compile(r"[$@_]|eyJ|Key \(|\d\.\d")


def mask_text(value: str) -> str:
    if _MAYBE_SENSITIVE.search(value) is None:
        return value
    for pattern, replacement in _TEXT_SECRETS:
        value = pattern.sub(replacement, value)
    value = _EMAIL_RE.sub(r"\1***@\2", value)
    return _IPV4_RE.sub(_mask_ipv4, value)


def _mask_ipv4(match: re.Match[str]) -> str:
    """A person's address keeps its /24; the machine's own (loopback, "any") stays readable,
    so "Uvicorn running on http://127.0.0.1:8001" still says where to point a browser."""
    address = match.group(0)
    if address.startswith("127.") or address == "0.0.0.0":  # noqa: S104 - a log line, not a bind
        return address
    return f"{match.group(1)}.x"


def mask_sensitive(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        value = event_dict[key]
        if key not in (
            "event",
            "level",
            "timestamp",
            "logger",
            "status_code",
            "exception",
        ) and _SECRET_KEYS.search(key):
            event_dict[key] = "[redacted]"
        elif key in ("ip", "client_ip", "remote_addr") and isinstance(value, str):
            event_dict[key] = mask_ip(value)
        elif isinstance(value, str):
            event_dict[key] = mask_text(value)
    return event_dict


def configure_logging(level: str = "INFO", json_logs: bool = False) -> None:
    """structlog for our own loggers, and the same processors (masking included) for the
    standard library's (uvicorn, SQLAlchemy, asyncio), so nothing reaches stderr unmasked.
    uvicorn's access log is switched off: ``MetricsMiddleware`` writes our own, which names
    the route template (never a query string or a token in a path) and a masked IP."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_logs
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        # Tracebacks are rendered to text first, so the masking also scrubs exception messages.
        processors=[*shared, structlog.processors.format_exc_info, mask_sensitive, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                mask_sensitive,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.getLevelName(level.upper()))
    for name in ("uvicorn", "uvicorn.error", "sqlalchemy", "asyncio"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    # httpx logs every outgoing URL at INFO (query strings included): warnings only.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
