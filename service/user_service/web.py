"""HTTP plumbing: error rendering, security headers, body limits, the SPA."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from user_service.exceptions import UserServiceError

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

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled_error", path=request.url.path, error=type(exc).__name__)
        return JSONResponse(
            {"detail": "Something went wrong on our side.", "code": "internal_error"},
            status_code=500,
        )


class SecurityHeadersMiddleware:
    """OWASP secure headers; a strict CSP that still lets the SPA render QR data URIs."""

    def __init__(self, app: ASGIApp, hsts: bool, connect_sources: list[str] | None = None) -> None:
        self.app = app
        connect = " ".join(["'self'", *(connect_sources or [])]).encode()
        self.headers = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
            (
                b"content-security-policy",
                b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                b"script-src 'self'; connect-src " + connect + b"; frame-ancestors 'none'; "
                b"base-uri 'self'; form-action 'self'",
            ),
        ]
        if hsts:
            self.headers.append(
                (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_docs = scope.get("path", "").startswith(("/docs", "/redoc"))

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                existing = {name.lower() for name, _ in message.get("headers", [])}
                extra = [
                    (name, value)
                    for name, value in self.headers
                    if name not in existing and not (is_docs and name == b"content-security-policy")
                ]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_wrapper)


class BodySizeLimitMiddleware:
    """Refuse bodies over ``max_bytes`` with 413 before any parsing happens."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await _too_large(send)
                return
        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not response_started:
                await _too_large(send)


class _BodyTooLarge(StarletteHTTPException):
    """Raised from ``receive``: an HTTPException, so FastAPI's body parsing re-raises it
    (any other error there becomes a 400) and the handler answers 413."""

    def __init__(self) -> None:
        super().__init__(413, "The request body is too large.")


async def _too_large(send: Send) -> None:
    body = b'{"detail":"The request body is too large.","code":"payload_too_large"}'
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def host_name(host_and_port: str) -> str:
    """``example.com:8001`` → ``example.com``; ``[::1]:8001`` → ``[::1]``."""
    if host_and_port.startswith("["):
        return host_and_port.split("]", 1)[0] + "]"
    return host_and_port.rsplit(":", 1)[0]


class TrustedHostMiddleware:
    """Production: answer only to the configured host names (``PUBLIC_URL``, ``ALLOWED_HOSTS``),
    so no URL, link or cache key can be steered by a forged ``Host`` header. Health and
    metrics stay reachable by address, for load balancers and scrapers."""

    def __init__(self, app: ASGIApp, allowed: list[str]) -> None:
        self.app = app
        self.allowed = {host.lower() for host in allowed}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path", "").startswith(("/health/", "/metrics")):
            await self.app(scope, receive, send)
            return
        host = ""
        for name, value in scope.get("headers", []):
            if name == b"host":
                host = value.decode("latin-1").lower()
        if host_name(host) in self.allowed:
            await self.app(scope, receive, send)
            return
        body = b'{"detail":"This host name is not served here.","code":"invalid_host"}'
        await send(
            {
                "type": "http.response.start",
                "status": 400,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class RefuseNulMiddleware:
    """Refuse NUL characters in every string a request carries, with one 422 on every back-end.

    PostgreSQL cannot store U+0000 in text (a 500 there) while SQLite stores it, so the same
    input would get different answers; no field of this API has a use for it. Checked: the
    path and query string (``%00``), form bodies, and JSON bodies (``\\u0000``, located by
    parsing only when the raw bytes mention it, so ordinary requests pay one substring search).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_path = scope.get("raw_path") or scope.get("path", "").encode()
        if _has_nul(raw_path) or "\x00" in scope.get("path", ""):
            await _nul_refused(send, "path")
            return
        if _has_nul(scope.get("query_string", b"")):
            await _nul_refused(send, "query")
            return
        if scope.get("method") in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        content_type = b""
        for name, value in scope.get("headers", []):
            if name == b"content-type":
                content_type = value.lower()
        if not (b"json" in content_type or b"x-www-form-urlencoded" in content_type):
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        body = bytearray()
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        field = _nul_field(bytes(body), form=b"x-www-form-urlencoded" in content_type)
        if field is not None:
            await _nul_refused(send, field)
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


def _has_nul(raw: bytes) -> bool:
    return b"\x00" in raw or b"%00" in raw


def _nul_field(body: bytes, *, form: bool) -> str | None:
    if form:
        return "body" if _has_nul(body) else None
    if b"\x00" in body:
        return "body"
    if b"\\u0000" not in body.lower():
        return None
    try:
        document = json.loads(body)
    except ValueError:
        return None  # not JSON: the endpoint answers 400 invalid_json
    return _find_nul(document, "")


def _find_nul(value: Any, path: str) -> str | None:
    if isinstance(value, str):
        return (path or "body") if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if "\x00" in key:
                return where.replace("\x00", "")
            found = _find_nul(item, where)
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _find_nul(item, f"{path}.{index}" if path else str(index))
            if found is not None:
                return found
    return None


async def _nul_refused(send: Send, field: str) -> None:
    body = json.dumps(
        {
            "detail": "The request is not valid.",
            "code": "validation_error",
            "errors": [
                {"field": field, "message": "NUL characters are not allowed.", "type": "nul_char"}
            ],
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 422,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


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
