"""Keep access tokens out of your server's logs.

uvicorn logs every request's path with its query string, and a WebSocket's may carry
``?token=<access token>`` (browsers cannot set headers on a WebSocket). A resource server
that accepts ``?token=`` should install this filter before it starts serving.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

UVICORN_LOGGERS = ("uvicorn.error", "uvicorn.access")


class HideQueryStrings(logging.Filter):
    """Log a request path without its query string (any ``/…?…`` argument of a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                arg.split("?", 1)[0] if isinstance(arg, str) and arg.startswith("/") else arg
                for arg in record.args
            )
        return True


def hide_query_strings(loggers: Iterable[str] = UVICORN_LOGGERS) -> None:
    """Install :class:`HideQueryStrings` on ``loggers`` (uvicorn's by default)."""
    for name in loggers:
        logging.getLogger(name).addFilter(HideQueryStrings())
