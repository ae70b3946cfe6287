"""Prometheus metrics with route templates as labels (never raw paths: no id explosion)."""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


class MetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status_code = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = _route_template(scope)
            method = scope.get("method", "GET")
            REQUESTS.labels(method, route, str(status_code)).inc()
            LATENCY.labels(method, route).observe(time.perf_counter() - start)


async def metrics_endpoint(_request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
