"""HTTP plumbing: error rendering, security headers, body limits, the SPA."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from user_service.db import database_unavailable
from user_service.exceptions import ServiceUnavailable, UserServiceError

log = structlog.get_logger(__name__)

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}
# What a client is told while the database is unreachable; it may retry after this long.
UNAVAILABLE_RETRY_AFTER_SECONDS = 2
# Errors that may mean "the database is unreachable right now" (``database_unavailable`` decides);
# handled inside the app, so the answer is a 503 on a connection that stays usable.
_INFRASTRUCTURE_ERRORS: tuple[type[Exception], ...] = (
    sa_exc.DBAPIError,
    sa_exc.TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    OSError,
    TimeoutError,
)
API_PREFIXES = ("/v1/", "/health/", "/metrics", "/docs", "/redoc", "/openapi.json", "/.well-known/")


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = [str(part) for part in loc if part not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(UserServiceError)
    async def _service_error(_request: Request, exc: UserServiceError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(error.get("type") == "json_invalid" for error in errors):
            return JSONResponse(
                {"detail": "The request body is not valid JSON.", "code": "invalid_json"},
                status_code=400,
            )
        return JSONResponse(
            {
                "detail": "The request is not valid.",
                "code": "validation_error",
                "errors": [
                    {
                        "field": _field_path(tuple(error.get("loc", ()))),
                        "message": str(error.get("msg", "invalid value"))[:300],
                        "type": error.get("type"),
                    }
                    for error in errors[:50]
                ],
            },
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) else "Request failed."
        return JSONResponse(
            {"detail": detail, "code": code}, status_code=exc.status_code, headers=exc.headers
        )

    async def _infrastructure(request: Request, exc: Exception) -> JSONResponse:
        """The database is down, restarting, out of connections or too slow: a fast 503 with
        ``Retry-After`` (never a 500, never a hang). Any other error of these types is a bug."""
        if not database_unavailable(exc):
            return await _unexpected(request, exc)
        log.warning("database_unavailable", path=request.url.path, error=type(exc).__name__)
        error = ServiceUnavailable(
            "The service is temporarily unavailable. Try again shortly.",
            headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER_SECONDS)},
        )
        return JSONResponse(error.body(), status_code=error.status_code, headers=error.headers)

    for error_type in _INFRASTRUCTURE_ERRORS:
        app.add_exception_handler(error_type, _infrastructure)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled_error", path=request.url.path, error=type(exc).__name__)
        return JSONResponse(
            {"detail": "Something went wrong on our side.", "code": "internal_error"},
            status_code=500,
        )


def mount_frontend(app: FastAPI, dist: Path) -> None:
    """Serve the built SPA at ``/`` with a fallback to index.html for client-side routes."""
    index = dist / "index.html"
    root = dist.resolve()

    @app.get("/{path:path}", include_in_schema=False)
    async def spa(path: str) -> FileResponse:
        if ("/" + path).startswith(API_PREFIXES) or not index.exists():
            raise StarletteHTTPException(status_code=404, detail="Not found.")
        if path.endswith(".map"):  # never publish source maps, even if a build left some
            raise StarletteHTTPException(status_code=404, detail="Not found.")
        candidate = (dist / path).resolve()
        if path and candidate.is_file() and candidate.is_relative_to(root):
            headers = (
                {"Cache-Control": "public, max-age=31536000, immutable"}
                if path.startswith("assets/")
                else {}
            )
            return FileResponse(candidate, headers=headers)
        return FileResponse(index, headers={"Cache-Control": "no-cache"})
