"""Prometheus metrics and the access log, both keyed by route template.

Route templates (``/v1/trading-accounts/{account_id}``), never raw paths, label the metrics
(no id explosion) and name the request in the access log, which never carries a query string
(``/reset-password?token=…``) and masks the client IP. Each request gets an id
(``X-Request-ID`` when the caller sent a sane one, else a new one), echoed in the response
and bound to every log line written while it runs.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Sequence

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from user_service.kit.ip import Network, client_ip

access_log = structlog.get_logger("user_service.access")
_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._-]{8,64}$")

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


def _request_id(scope: Scope) -> bytes:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id" and _REQUEST_ID.match(value):
            return value
    return secrets.token_hex(8).encode()


class MetricsMiddleware:
    def __init__(
        self, app: ASGIApp, *, access_log: bool = True, trusted_proxies: Sequence[Network] = ()
    ) -> None:
        self.app = app
        self.access_log = access_log
        self.trusted_proxies = list(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status_code = 500
        request_id = _request_id(scope)

        async def send_wrapper(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id)]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id.decode()):
            try:
                await self.app(scope, receive, send_wrapper)
            finally:
                route = _route_template(scope)
                method = scope.get("method", "GET")
                elapsed = time.perf_counter() - start
                REQUESTS.labels(method, route, str(status_code)).inc()
                LATENCY.labels(method, route).observe(elapsed)
                if self.access_log:
                    self._log(scope, method, route, status_code, elapsed)

    def _log(self, scope: Scope, method: str, route: str, status: int, elapsed: float) -> None:
        peer = scope.get("client")
        forwarded = b",".join(
            value for name, value in scope.get("headers", []) if name == b"x-forwarded-for"
        )
        ip = client_ip(
            peer[0] if peer else None, forwarded.decode("latin-1") or None, self.trusted_proxies
        )
        access_log.info(
            "http.request",
            method=method,
            route=route,
            status=status,
            duration_ms=round(elapsed * 1000, 2),
            ip=ip,  # masked by the logging processor (a key named ip is always masked)
        )


async def metrics_endpoint(_request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
