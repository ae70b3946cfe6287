"""Prometheus metrics and the access log, both keyed by route template.

Route templates (``/v1/trading-accounts/{account_id}``), never raw paths, label the metrics
(no id explosion) and name the request in the access log, which never carries a query string
(``/reset-password?token=…``) and masks the client IP. The request id (``edge.py``) is bound
to every log line written while the request runs.
"""

from __future__ import annotations

import asyncio
import atexit
import datetime as dt
import functools
import json
import re
import sys
import time
import weakref
from collections.abc import Sequence
from typing import Any, TextIO

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from user_service.kit.ip import Network, client_ip, mask_ip
from user_service.logging import mask_text

REQUEST_ID_PATTERN = re.compile(rb"^[A-Za-z0-9._-]{8,64}$")

REQUESTS = Counter(
    "user_service_http_requests_total", "HTTP requests", ["method", "route", "status"]
)
LATENCY = Histogram(
    "user_service_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
AUTH_EVENTS = Counter("user_service_auth_events_total", "Audit events written", ["event_type"])
CREDENTIALS_RELEASED = Counter(
    "user_service_credentials_released_total", "Broker credentials released", ["client_id"]
)


def _route_template(scope: Scope) -> str:
    """The matched route's template (Starlette records it in the scope while routing)."""
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"


class RequestRecorder:
    """Counts, times and logs each request (called by ``edge.EdgeMiddleware`` once it ends).

    The labelled metric children are kept per (method, route, status). With JSON logs the
    access line is written by ``JsonAccessLog`` (the same fields, masking and sink as the
    structlog line, at a fraction of its cost); otherwise by structlog, whose access logger
    is bound once, when the app's first request arrives (after ``configure_logging``).
    """

    def __init__(
        self,
        *,
        access_log: bool = True,
        trusted_proxies: Sequence[Network] = (),
        json_lines: JsonAccessLog | None = None,
    ) -> None:
        self.access_log = access_log
        self.trusted_proxies = list(trusted_proxies)
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._log = structlog.get_logger("user_service.access").bind()
        self._json = json_lines

    def record(
        self,
        scope: Scope,
        status: int,
        elapsed: float,
        forwarded: list[bytes],
        request_id: str = "",
    ) -> None:
        route = _route_template(scope)
        method = scope.get("method", "GET")
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (REQUESTS.labels(method, route, str(status)), LATENCY.labels(method, route))
            if len(self._children) < 10_000:  # route templates and methods are finite anyway
                self._children[key] = children
        children[0].inc()
        children[1].observe(elapsed)
        if not self.access_log:
            return
        peer = scope.get("client")
        ip = (
            peer[0]
            if peer and not forwarded
            else client_ip(
                peer[0] if peer else None,
                b",".join(forwarded).decode("latin-1") or None,
                self.trusted_proxies,
            )
        )
        if self._json is not None:
            self._json.write(method, route, status, elapsed, ip, request_id)
            return
        self._log.info(
            "http.request",
            method=method,
            route=route,
            status=status,
            duration_ms=round(elapsed * 1000, 2),
            ip=ip,  # masked by the logging processor (a key named ip is always masked)
        )


@functools.lru_cache(maxsize=4096)
def _masked_ip_json(ip: str | None) -> str:
    return json.dumps(mask_ip(ip))


@functools.lru_cache(maxsize=1024)
def _request_json(method: str, route: str) -> str:
    return f'"method":{json.dumps(mask_text(method))},"route":{json.dumps(mask_text(route))}'


class JsonAccessLog:
    """The access line of production (``LOG_JSON=true``), built without structlog's chain.

    It carries what the structlog line carries — ``method``, ``route`` (the template),
    ``status``, ``duration_ms``, ``ip`` (masked: /24 or /48), ``request_id``, ``event``,
    ``level`` and ``timestamp`` — with the same masking (``logging.mask_text`` on every text
    field), to the same sink (stderr). Measured on ``/health/live`` the structlog line cost
    about a fifth of the request (docs/performance.md); here the per-route part is rendered
    once, the masked IP is remembered per address, and lines are written together, at most
    ``FLUSH_SECONDS`` after the first of them (or at ``FLUSH_LINES``): one write system call
    for hundreds of requests, not one each. A ``kill -9`` loses at most those 50 ms of access
    lines; a normal exit writes them (``atexit``).
    """

    FLUSH_SECONDS = 0.05
    FLUSH_LINES = 512

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._pending: list[str] = []
        self._second = -1
        self._second_text = ""
        _OPEN_ACCESS_LOGS.add(self)

    def write(
        self, method: str, route: str, status: int, elapsed: float, ip: str | None, rid: str
    ) -> None:
        # An id of plain characters needs neither masking nor JSON escaping.
        request_id = f'"{rid}"' if _PLAIN_ID.match(rid) else json.dumps(mask_text(rid))
        self._pending.append(
            f'{{{_request_json(method, route)},"status":{int(status)},'
            f'"duration_ms":{round(elapsed * 1000, 2)},"ip":{_masked_ip_json(ip)},'
            f'"request_id":{request_id},"event":"http.request","level":"info",'
            f'"timestamp":"{self._timestamp()}"}}\n'
        )
        if len(self._pending) == 1:
            try:
                asyncio.get_running_loop().call_later(self.FLUSH_SECONDS, self.flush)
            except RuntimeError:  # no loop (a test calling the app synchronously)
                self.flush()
        elif len(self._pending) >= self.FLUSH_LINES:
            self.flush()

    def _timestamp(self) -> str:
        """UTC, ISO 8601 with microseconds; the date and time of day formatted once a second."""
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            moment = dt.datetime.fromtimestamp(second, dt.UTC)
            self._second_text = moment.strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self._second_text}.{int((now - second) * 1_000_000):06d}Z"

    def flush(self) -> None:
        lines, self._pending = self._pending, []
        if lines:
            stream = self._stream or sys.stderr
            stream.write("".join(lines))
            stream.flush()


_OPEN_ACCESS_LOGS: weakref.WeakSet[JsonAccessLog] = weakref.WeakSet()


@atexit.register
def _flush_access_logs() -> None:
    for access_log in list(_OPEN_ACCESS_LOGS):
        access_log.flush()


# Ids the edge makes itself (hex) need no masking; an id a client sent with "_" or "." in it
# could look like a token or an address, and goes through ``mask_text`` like any text.
_PLAIN_ID = re.compile(r"^[A-Za-z0-9-]*$")


async def metrics_endpoint(_request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
