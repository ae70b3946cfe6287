"""The FastAPI application: ``create_app()`` wires domains, middleware and start-up."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI, Response
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy import text

from user_service.admin.endpoints import router as admin_router
from user_service.audit.endpoints import router as audit_router
from user_service.audit.retention import AuditMaintenance
from user_service.auth.cache import AuthCache
from user_service.auth.cache import watch as watch_auth_facts
from user_service.auth.endpoints import router as auth_router
from user_service.authz.endpoints import router as authz_router
from user_service.bootstrap import build_services, close_services
from user_service.config import Settings, get_settings
from user_service.db import READ_ONLY_OPTION
from user_service.deps import Services
from user_service.edge import EdgeMiddleware
from user_service.events.endpoints import router as events_router
from user_service.events.relay import OutboxRelay
from user_service.events.retention import OutboxRetention
from user_service.identities.endpoints import router as identities_router
from user_service.kit.ip import parse_networks
from user_service.logging import configure_logging
from user_service.metrics import metrics_endpoint
from user_service.mfa.endpoints import auth_router as mfa_auth_router
from user_service.mfa.endpoints import router as mfa_router
from user_service.oauth.endpoints import router as oauth_router
from user_service.passwords.endpoints import router as passwords_router
from user_service.redis import redis_ok
from user_service.sessions.endpoints import router as sessions_router
from user_service.tokens.endpoints import router as keys_router
from user_service.trading_accounts.brokers import close_brokers, open_brokers
from user_service.trading_accounts.endpoints import router as trading_accounts_router
from user_service.trading_accounts.internal_endpoints import (
    router as internal_trading_accounts_router,
)
from user_service.users.endpoints import freeze_link_router
from user_service.users.endpoints import router as users_router
from user_service.verification.endpoints import router as verification_router
from user_service.web import install_error_handlers, mount_frontend

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_SECONDS = 2.0


def _health_router(app: FastAPI) -> None:
    @app.get("/health/live", tags=["operations"])
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/health/ready", tags=["operations"])
    async def ready(response: Response, services: Services) -> dict[str, Any]:
        """Database must answer; Redis, when configured, is reported (the service degrades
        safely without it: in-process rate limits, decisions from the database)."""
        checks: dict[str, str] = {}
        try:
            # Bounded: a frozen database or an exhausted pool must not hang the probe.
            with anyio.fail_after(READY_TIMEOUT_SECONDS):
                async with services.engine.connect() as connection:
                    await connection.execution_options(**{READ_ONLY_OPTION: True})
                    await connection.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception:
            checks["database"] = "down"
        redis_state = await redis_ok(services.redis)
        if redis_state is not None:
            checks["redis"] = "ok" if redis_state else "down"
        if checks["database"] != "ok":
            response.status_code = 503
            status = "unavailable"
        elif checks.get("redis") == "down":
            status = "degraded"
        else:
            status = "ok"
        return {"status": status, "checks": checks}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await build_services(settings)
        app.state.services = services
        await services.decision_cache.start()  # authz invalidation listener (Redis pub/sub)
        services.auth_cache = AuthCache(services.redis, key_prefix=settings.redis_key_prefix)
        watch_auth_facts(services.engine.sync_engine, services.auth_cache)
        await services.auth_cache.start()
        services.brokers.update(open_brokers(settings))
        try:
            async with anyio.create_task_group() as background:
                if services.redis is not None:
                    relay = OutboxRelay(services.engine, services.redis, settings.redis_key_prefix)
                    background.start_soon(relay.run)
                if settings.audit_maintenance_interval_seconds > 0:
                    maintenance = AuditMaintenance(
                        services.sessionmaker,
                        retention_days=settings.audit_retention_days,
                        ahead_weeks=settings.audit_partitions_ahead_weeks,
                        interval_seconds=settings.audit_maintenance_interval_seconds,
                        start_delay_seconds=settings.audit_maintenance_start_delay_seconds,
                    )
                    services.extras["audit_maintenance"] = maintenance
                    background.start_soon(maintenance.run)
                    outbox_retention = OutboxRetention(
                        services.sessionmaker,
                        retention_days=settings.outbox_retention_days,
                        relayed=services.redis is not None,
                        interval_seconds=settings.audit_maintenance_interval_seconds,
                        start_delay_seconds=settings.audit_maintenance_start_delay_seconds,
                    )
                    background.start_soon(outbox_retention.run)
                yield
                background.cancel_scope.cancel()
        finally:
            await services.auth_cache.stop()
            await close_brokers(services.brokers)
            await close_services(services)

    app = FastAPI(
        title="Quantagro User Service",
        version="1.0.0",
        description="Identity provider and policy decision point of the Quantagro platform.",
        lifespan=lifespan,
        telemetry=None
        if settings.otel_telemetry
        else {"tracing": False, "metrics": False, "logs": False},
    )
    install_error_handlers(app)
    _health_router(app)  # first: probes match before the routers are searched
    # Routers are searched in this order, route by route (FastAPI matches each included router
    # in turn), so the platform's hot paths come first: token checks and decisions of every
    # service, then a user's own reads and refreshes. Order changes no answer: no two routers
    # claim the same path (tests/operations/test_routing.py).
    for router in (
        oauth_router,
        authz_router,
        users_router,
        sessions_router,
        auth_router,
        freeze_link_router,
        keys_router,
        trading_accounts_router,
        internal_trading_accounts_router,
        admin_router,
        audit_router,
        mfa_router,
        mfa_auth_router,
        passwords_router,
        verification_router,
        events_router,
        identities_router,
    ):
        app.include_router(router)
    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)

    # One pure-ASGI layer: hosts, NUL, body limit, headers, request id, metrics, access log,
    # and CORS in front of the app for requests that carry an Origin.
    app.add_middleware(
        EdgeMiddleware,
        max_bytes=settings.max_body_bytes,
        hsts=settings.cookie_secure,
        connect_sources=settings.csp_connect_sources,
        allowed_hosts=settings.host_allow_list if settings.environment == "production" else None,
        access_log=settings.access_log,
        # Production's JSON lines, when INFO is on: the cheap writer (metrics.JsonAccessLog).
        json_access_log=settings.log_json
        and logging.getLevelName(settings.log_level.upper()) <= logging.INFO,
        trusted_proxies=parse_networks(settings.trusted_proxies),
        cors=lambda inner: CORSMiddleware(
            inner,
            allow_origins=sorted(settings.allowed_origins),
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Device-Fingerprint"],
            max_age=600,
        ),
    )

    dist = settings.frontend_dist or REPO_ROOT / "frontend" / "dist"
    mount_frontend(app, dist)
    return app
