"""The edge of every HTTP request, in one pure-ASGI layer.

Trusted hosts (production), NUL refusal, the body size limit, security headers, the request
id, Prometheus metrics and the access log used to be five middleware classes, each wrapping
``send`` (and some ``receive``) in its own closure and scanning the headers again; on the
trivial endpoint they cost more than the endpoint (docs/performance.md). Here the request
headers are read once, ``send`` is wrapped once, and the rules are the same:

* **Trusted hosts** (production only): any ``Host`` outside ``PUBLIC_URL`` / ``ALLOWED_HOSTS``
  gets 400 ``invalid_host``, so no link or cache key can be steered by a forged header;
  ``/health/`` and ``/metrics`` stay reachable by address.
* **NUL characters** are refused (422) in the path, the query string, and form or JSON bodies
  (PostgreSQL cannot store U+0000 while SQLite can: the same input would get different answers).
* **Bodies over** ``max_bytes`` get 413 before any parsing (declared length, or counted while
  a chunked body is read).
* **OWASP secure headers** on every answer, never overriding a header the endpoint set:
  documents (the console, static files) get the full set and a strict CSP (no CSP for the API
  docs pages); JSON answers get what the OWASP REST Security Cheat Sheet asks of an API —
  ``nosniff``, ``X-Frame-Options: DENY``, ``default-src 'none'; frame-ancestors 'none'``, HSTS
  — since referrer, opener and permissions policies govern what a document loads, and a JSON
  answer loads nothing (docs/decisions.md).
* **Request id**: ``X-Request-ID`` when the caller sent a sane one, else a new one; echoed in
  the response, bound to every log line written while the request runs.
* **Metrics and access log** by route template (``metrics.record_request``).
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any

import structlog
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from user_service.kit.ip import Network
from user_service.metrics import REQUEST_ID_PATTERN, JsonAccessLog, RequestRecorder

_NO_BODY_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})
_OPEN_PATHS = ("/health/", "/metrics")
_DOCS_PATHS = ("/docs", "/redoc")


def host_name(host_and_port: str) -> str:
    """``example.com:8001`` → ``example.com``; ``[::1]:8001`` → ``[::1]``."""
    if host_and_port.startswith("["):
        return host_and_port.split("]", 1)[0] + "]"
    return host_and_port.rsplit(":", 1)[0]


class BodyTooLarge(StarletteHTTPException):
    """Raised from ``receive``: an HTTPException, so FastAPI's body parsing re-raises it
    (any other error there becomes a 400) and the handler answers 413."""

    def __init__(self) -> None:
        super().__init__(413, "The request body is too large.")


def security_headers(hsts: bool, connect_sources: Sequence[str] = ()) -> list[tuple[bytes, bytes]]:
    connect = " ".join(["'self'", *connect_sources]).encode()
    headers = [
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
        headers.append(_HSTS)
    return headers


def api_security_headers(hsts: bool) -> list[tuple[bytes, bytes]]:
    """The headers of a JSON answer: it must not be sniffed as a document, framed, or run
    anything if opened directly (a CSP stricter than the console's)."""
    headers = [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    ]
    if hsts:
        headers.append(_HSTS)
    return headers


_HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


class EdgeMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        hsts: bool,
        connect_sources: Sequence[str] = (),
        allowed_hosts: Sequence[str] | None = None,
        access_log: bool = True,
        json_access_log: bool = False,
        trusted_proxies: Sequence[Network] = (),
        cors: Callable[[ASGIApp], ASGIApp] | None = None,
    ) -> None:
        self.app = app
        # CORS (Starlette's) only for requests that carry an Origin; for the others its whole
        # effect is ``Vary: Origin`` on the answer, which ``edge_send`` adds itself.
        self.cors_app = cors(app) if cors is not None else None
        self.max_bytes = max_bytes
        self.headers = security_headers(hsts, connect_sources)
        self.api_headers = api_security_headers(hsts)
        self.docs_headers = [h for h in self.headers if h[0] != b"content-security-policy"]
        self.allowed_hosts = (
            None if allowed_hosts is None else frozenset(h.lower() for h in allowed_hosts)
        )
        self._host_verdicts: dict[bytes, bool] = {}
        self.recorder = RequestRecorder(
            access_log=access_log,
            trusted_proxies=trusted_proxies,
            json_lines=JsonAccessLog() if json_access_log else None,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = b""
        host = b""
        content_length = b""
        content_type = b""
        forwarded: list[bytes] = []
        origin = False
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = True
            elif name == b"host":
                host = value
            elif name == b"content-length":
                content_length = value
            elif name == b"content-type":
                content_type = value.lower()
            elif name == b"x-request-id" and REQUEST_ID_PATTERN.match(value):
                request_id = value
            elif name == b"x-forwarded-for":
                forwarded.append(value)
        if not request_id:
            request_id = _new_request_id()
        request_id_text = request_id.decode()
        path: str = scope.get("path", "")
        docs = path.startswith(_DOCS_PATHS)
        app = self.app
        vary_origin = False
        if self.cors_app is not None:
            app, vary_origin = (self.cors_app, False) if origin else (self.app, True)
        status = 500
        started = False

        async def edge_send(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status = message["status"]
                started = True
                headers = message.get("headers", [])
                existing: set[bytes] = set()
                json_answer = False
                for name, value in headers:
                    name = name.lower()
                    existing.add(name)
                    if name == b"content-type":
                        json_answer = b"json" in value
                extra = (
                    self.docs_headers if docs else self.api_headers if json_answer else self.headers
                )
                added = [h for h in extra if h[0] not in existing]
                if vary_origin:
                    headers = _vary_origin(headers, b"vary" in existing)
                message["headers"] = [*headers, *added, (b"x-request-id", request_id)]
            await send(message)

        # Bound (and reset) directly: the context manager cost more than the binding.
        bound = structlog.contextvars.bind_contextvars(request_id=request_id_text)
        try:
            refusal = self._refusal(scope, path, host, content_length)
            if refusal is not None:
                await _answer(edge_send, *refusal)
                return
            received = 0

            async def limited_receive() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > self.max_bytes:
                        raise BodyTooLarge()
                return message

            try:
                if scope.get("method") in _NO_BODY_METHODS or not (
                    b"json" in content_type or b"x-www-form-urlencoded" in content_type
                ):
                    await app(scope, limited_receive, edge_send)
                else:
                    await self._with_body_checked(
                        app, scope, limited_receive, receive, edge_send, content_type
                    )
            except BodyTooLarge:
                if not started:
                    await _answer(edge_send, 413, _TOO_LARGE)
        finally:
            self.recorder.record(
                scope, status, time.perf_counter() - start, forwarded, request_id_text
            )
            structlog.contextvars.reset_contextvars(**bound)

    def _host_allowed(self, host: bytes) -> bool:
        """The ``Host`` header names a served host. Verdicts are remembered per raw header
        (a client sends the same one on every request), up to ``_HOST_VERDICTS`` of them."""
        verdict = self._host_verdicts.get(host)
        if verdict is None:
            assert self.allowed_hosts is not None
            verdict = host_name(host.decode("latin-1").lower()) in self.allowed_hosts
            if len(self._host_verdicts) < _HOST_VERDICTS:
                self._host_verdicts[host] = verdict
        return verdict

    def _refusal(
        self, scope: Scope, path: str, host: bytes, content_length: bytes
    ) -> tuple[int, bytes] | None:
        if (
            self.allowed_hosts is not None
            and not path.startswith(_OPEN_PATHS)
            and not self._host_allowed(host)
        ):
            return 400, _INVALID_HOST
        raw_path = scope.get("raw_path") or path.encode()
        if _has_nul(raw_path) or "\x00" in path:
            return 422, _nul_body("path")
        if _has_nul(scope.get("query_string", b"")):
            return 422, _nul_body("query")
        if content_length.isdigit() and int(content_length) > self.max_bytes:
            return 413, _TOO_LARGE
        return None

    async def _with_body_checked(
        self,
        app: ASGIApp,
        scope: Scope,
        limited_receive: Receive,
        receive: Receive,
        send: Send,
        content_type: bytes,
    ) -> None:
        """Read a JSON or form body once, refuse NUL characters in it, replay it to the app."""
        messages: list[Message] = []
        body = bytearray()
        while True:
            message = await limited_receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        field = _nul_field(bytes(body), form=b"x-www-form-urlencoded" in content_type)
        if field is not None:
            await _answer(send, 422, _nul_body(field))
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await app(scope, replay, send)


# Request ids made here: unique (a random prefix per process, then a counter), not secret —
# they only tie log lines together — so no system call per request.
_ID_PREFIX = secrets.token_hex(4)
_ID_COUNTER = itertools.count()


def _new_request_id() -> bytes:
    return f"{_ID_PREFIX}{next(_ID_COUNTER) & 0xFFFFFFFF:08x}".encode()


# Distinct Host headers whose verdict is remembered; beyond it (a client inventing names)
# each is checked again, so the memory stays bounded.
_HOST_VERDICTS = 256

_TOO_LARGE = b'{"detail":"The request body is too large.","code":"payload_too_large"}'
_INVALID_HOST = b'{"detail":"This host name is not served here.","code":"invalid_host"}'


def _vary_origin(headers: list[tuple[bytes, bytes]], has_vary: bool) -> list[tuple[bytes, bytes]]:
    """What Starlette's CORS adds to an answer to a request without Origin: ``Vary: Origin``,
    joined to the endpoint's own ``Vary`` values in one header."""
    if not has_vary:
        return [*headers, (b"vary", b"Origin")]
    values = [value for name, value in headers if name.lower() == b"vary"]
    kept = [(name, value) for name, value in headers if name.lower() != b"vary"]
    return [*kept, (b"vary", b", ".join([*values, b"Origin"]))]


async def _answer(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _has_nul(raw: bytes) -> bool:
    return b"\x00" in raw or b"%00" in raw


def _nul_body(field: str) -> bytes:
    return json.dumps(
        {
            "detail": "The request is not valid.",
            "code": "validation_error",
            "errors": [
                {"field": field, "message": "NUL characters are not allowed.", "type": "nul_char"}
            ],
        }
    ).encode()


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
