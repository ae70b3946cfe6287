"""Prometheus metrics and the access log, both keyed by route template.

Route templates (``/v1/trading-accounts/{account_id}``), never raw paths, label the metrics
(no id explosion) and name the request in the access log, which never carries a query string
(``/reset-password?token=…``) and masks the client IP. The request id (``edge.py``) is bound
to every log line written while the request runs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from user_service.kit.ip import Network, client_ip

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

    The labelled metric children are kept per (method, route, status), and the access logger
    is bound once, when the app's first request arrives (after ``configure_logging``).
    """

    def __init__(self, *, access_log: bool = True, trusted_proxies: Sequence[Network] = ()) -> None:
        self.access_log = access_log
        self.trusted_proxies = list(trusted_proxies)
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._log = structlog.get_logger("user_service.access").bind()

    def record(self, scope: Scope, status: int, elapsed: float, forwarded: list[bytes]) -> None:
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
        if self.access_log:
            peer = scope.get("client")
            ip = client_ip(
                peer[0] if peer else None,
                b",".join(forwarded).decode("latin-1") or None,
                self.trusted_proxies,
            )
            self._log.info(
                "http.request",
                method=method,
                route=route,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
                ip=ip,  # masked by the logging processor (a key named ip is always masked)
            )


async def metrics_endpoint(_request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
