"""A local stand-in for the Kite Connect v3 API, for tests and the end-to-end browser run.

It behaves like Kite where the user service can tell: registered apps (api key → secret and
broker user), the login page that redirects back with a single-use ``request_token``,
``POST /session/token`` checking the SHA-256 checksum, ``GET /user/profile`` checking
``Authorization: token api_key:access_token`` and ``X-Kite-Version: 3``, Kite's error
bodies (403 ``TokenException``, 400 ``InputException``, 5xx ``NetworkException``), and a quote
feed for the ticker example: ``GET /quote/ltp?i=NSE:INFY&i=NSE:TCS`` (same authorization as
the profile) answers Kite's shape ``{"data": {"NSE:INFY": {"instrument_token", "last_price"}}}``
with prices that drift a little on every call.

In tests::

    with running_kite_standin() as (base_url, state):
        app = state.register_app(redirect_url="http://127.0.0.1:8001/kite/callback")
        state.delay = 2.0            # make every API call slow
        state.expire_tokens(app.api_key)

As a process (from ``service/``)::

    python -m tests.standins.kite --port 8765 --app KEY:SECRET:AB1234 \\
        --redirect-url http://127.0.0.1:8001/trading-accounts/kite/callback

Its login page is ``{base}/connect/login`` and its API base is ``{base}``. Test-only control
endpoints live under ``/_standin/`` (register an app, expire tokens, set a delay or a failure)
so a browser test driving another process can steer it. State is in memory, per instance.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import html
import math
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl, urlencode

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

IST = timezone(timedelta(hours=5, minutes=30), "IST")
DEFAULT_REDIRECT_URL = "http://127.0.0.1:8001/trading-accounts/kite/callback"


@dataclass
class KiteApp:
    """A Kite Connect app as registered at the developer console, with its one trader."""

    api_key: str
    api_secret: str = field(repr=False)
    user_id: str
    user_name: str = "Stand-in Trader"
    email: str = "trader@example.com"
    redirect_url: str = DEFAULT_REDIRECT_URL


@dataclass
class AccessToken:
    api_key: str
    user_id: str
    issued_at: float
    valid: bool = True


@dataclass
class KiteStandinState:
    """Everything the stand-in knows; safe to change from the test thread while it runs."""

    apps: dict[str, KiteApp] = field(default_factory=dict)
    request_tokens: dict[str, str] = field(default_factory=dict)  # token → api_key, unused
    access_tokens: dict[str, AccessToken] = field(default_factory=dict)
    delay: float = 0.0  # seconds added to every API call (not the login page)
    fail_status: int | None = None  # answer every API call with this 5xx
    auto_login: bool = True  # False: the login page shows a form with a "Log in" button
    calls: list[tuple[str, str]] = field(default_factory=list)  # (method, path) of API calls
    quote_ticks: dict[str, int] = field(default_factory=dict)  # instrument → quotes served
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    stopping: threading.Event = field(default_factory=threading.Event, repr=False)

    # --- set-up helpers -----------------------------------------------------------------

    def register_app(
        self,
        api_key: str | None = None,
        api_secret: str | None = None,
        user_id: str | None = None,
        *,
        user_name: str = "Stand-in Trader",
        email: str = "trader@example.com",
        redirect_url: str = DEFAULT_REDIRECT_URL,
    ) -> KiteApp:
        app = KiteApp(
            api_key=api_key or f"kk{secrets.token_hex(7)}",
            api_secret=api_secret or secrets.token_hex(16),
            # Kite ids look like "ZX1234"; tests link many accounts, so draw from a wide space.
            user_id=user_id or f"ZX{secrets.token_hex(5).upper()}",
            user_name=user_name,
            email=email,
            redirect_url=redirect_url,
        )
        with self.lock:
            self.apps[app.api_key] = app
        return app

    def issue_request_token(self, api_key: str) -> str:
        """What a successful login at Kite hands the redirect URL."""
        token = secrets.token_urlsafe(24)
        with self.lock:
            if api_key not in self.apps:
                raise KeyError(api_key)
            self.request_tokens[token] = api_key
        return token

    def issue_access_token(self, api_key: str) -> str:
        """An access token as if the login exchange had happened (for verify tests)."""
        with self.lock:
            app = self.apps[api_key]
            token = secrets.token_urlsafe(24)
            self.access_tokens[token] = AccessToken(api_key, app.user_id, time.time())
        return token

    def expire_tokens(self, api_key: str | None = None) -> int:
        """Invalidate access tokens (all, or one app's), like Kite's 06:00 IST flush."""
        with self.lock:
            hit = [t for t in self.access_tokens.values() if api_key in (None, t.api_key)]
            for record in hit:
                record.valid = False
        return len(hit)

    def expire_token(self, access_token: str) -> None:
        with self.lock:
            self.access_tokens[access_token].valid = False

    def reset_faults(self) -> None:
        with self.lock:
            self.delay = 0.0
            self.fail_status = None
            self.auto_login = True

    def api_calls(self, path: str) -> int:
        with self.lock:
            return sum(1 for _, p in self.calls if p == path)

    def last_price(self, instrument: str) -> float:
        """A plausible price that moves on every call: a base from the name, a small wave."""
        with self.lock:
            tick = self.quote_ticks.get(instrument, 0) + 1
            self.quote_ticks[instrument] = tick
        digest = hashlib.sha256(instrument.encode()).digest()
        base = 100 + int.from_bytes(digest[:2], "big") % 4900
        return round(base * (1 + 0.01 * math.sin(tick / 3)), 2)

    # --- used by the handlers -----------------------------------------------------------

    def consume_request_token(self, token: str, api_key: str) -> bool:
        with self.lock:
            if self.request_tokens.get(token) != api_key:
                return False
            del self.request_tokens[token]
            return True


def _error(status: int, error_type: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"status": "error", "message": message, "data": None, "error_type": error_type},
        status_code=status,
    )


def _success(data: dict[str, Any]) -> JSONResponse:
    return JSONResponse({"status": "success", "data": data})


def create_app(state: KiteStandinState) -> Starlette:
    """The stand-in as an ASGI app over ``state``."""

    async def api_preamble(request: Request) -> Response | None:
        with state.lock:
            state.calls.append((request.method, request.url.path))
            delay, fail_status = state.delay, state.fail_status
        deadline = time.monotonic() + delay
        while delay and time.monotonic() < deadline and not state.stopping.is_set():
            await anyio.sleep(max(0.0, min(0.05, deadline - time.monotonic())))
        if fail_status:
            return _error(fail_status, "NetworkException", "Gateway error from OMS (stand-in).")
        if request.headers.get("x-kite-version") != "3":
            return _error(400, "InputException", "Invalid or missing `X-Kite-Version` header.")
        return None

    def redirect_for(app: KiteApp, redirect_params: str | None) -> RedirectResponse:
        token = state.issue_request_token(app.api_key)
        query = {"action": "login", "type": "login", "status": "success", "request_token": token}
        extra = dict(parse_qsl(redirect_params or "", keep_blank_values=True))
        target = f"{app.redirect_url}{'&' if '?' in app.redirect_url else '?'}"
        return RedirectResponse(target + urlencode({**extra, **query}), status_code=302)

    async def login_page(request: Request) -> Response:
        api_key = request.query_params.get("api_key", "")
        with state.lock:
            app = state.apps.get(api_key)
            auto = state.auto_login
        if app is None or request.query_params.get("v") != "3":
            return HTMLResponse("<h1>Invalid `api_key` or version.</h1>", status_code=400)
        redirect_params = request.query_params.get("redirect_params")
        if auto:
            return redirect_for(app, redirect_params)
        return HTMLResponse(
            "<!doctype html><title>Kite stand-in login</title>"
            "<h1>Kite Connect (stand-in)</h1>"
            '<form method="post" action="/connect/login">'
            f'<input type="hidden" name="api_key" value="{html.escape(app.api_key)}">'
            f'<input type="hidden" name="redirect_params" '
            f'value="{html.escape(redirect_params or "")}">'
            f"<p>Log in as <b>{html.escape(app.user_id)}</b></p>"
            '<button type="submit" name="outcome" value="login">Log in</button> '
            '<button type="submit" name="outcome" value="cancel">Cancel</button>'
            "</form>"
        )

    async def login_submit(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        with state.lock:
            app = state.apps.get(form.get("api_key", ""))
        if app is None:
            return HTMLResponse("<h1>Invalid `api_key`.</h1>", status_code=400)
        if form.get("outcome") == "cancel":
            sep = "&" if "?" in app.redirect_url else "?"
            query = urlencode({"action": "login", "type": "login", "status": "cancelled"})
            return RedirectResponse(f"{app.redirect_url}{sep}{query}", status_code=302)
        return redirect_for(app, form.get("redirect_params"))

    async def session_token(request: Request) -> Response:
        if (early := await api_preamble(request)) is not None:
            return early
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        for name in ("api_key", "request_token", "checksum"):
            if not form.get(name):
                return _error(400, "InputException", f"Missing `{name}`")
        api_key, request_token = form["api_key"], form["request_token"]
        with state.lock:
            app = state.apps.get(api_key)
        if app is None:
            return _error(403, "TokenException", "Invalid `api_key`.")
        expected = hashlib.sha256((api_key + request_token + app.api_secret).encode()).hexdigest()
        if not hmac.compare_digest(expected, form["checksum"]):
            return _error(403, "TokenException", "Invalid `checksum`.")
        if not state.consume_request_token(request_token, api_key):
            return _error(403, "TokenException", "Token is invalid or has expired.")
        access_token = state.issue_access_token(api_key)
        now = datetime.now(IST)
        return _success(
            {
                "user_type": "individual",
                "email": app.email,
                "user_name": app.user_name,
                "user_shortname": app.user_name.split()[0],
                "broker": "ZERODHA",
                "exchanges": ["NSE", "NFO", "BSE"],
                "products": ["CNC", "NRML", "MIS"],
                "order_types": ["MARKET", "LIMIT", "SL", "SL-M"],
                "avatar_url": None,
                "user_id": app.user_id,
                "api_key": api_key,
                "access_token": access_token,
                "public_token": secrets.token_urlsafe(16),
                "refresh_token": "",
                "enctoken": "",
                "login_time": now.strftime("%Y-%m-%d %H:%M:%S"),
                "meta": {"demat_consent": "consent"},
            }
        )

    def authorized_app(request: Request) -> KiteApp | Response:
        """The app whose valid ``Authorization: token api_key:access_token`` came, or a 403."""
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        api_key, _, access_token = credentials.partition(":")
        if scheme != "token" or not api_key or not access_token:
            return _error(403, "TokenException", "Incorrect `api_key` or `access_token`.")
        with state.lock:
            record = state.access_tokens.get(access_token)
            app = state.apps.get(api_key)
        if record is None or app is None or record.api_key != api_key:
            return _error(403, "TokenException", "Incorrect `api_key` or `access_token`.")
        if not record.valid:
            return _error(403, "TokenException", "Token is invalid or has expired.")
        return app

    async def quote_ltp(request: Request) -> Response:
        if (early := await api_preamble(request)) is not None:
            return early
        if isinstance(authorized := authorized_app(request), Response):
            return authorized
        instruments = request.query_params.getlist("i")
        if not instruments or len(instruments) > 1000:
            return _error(400, "InputException", "Provide between 1 and 1000 `i` instruments.")
        return _success(
            {
                name: {
                    "instrument_token": int.from_bytes(hashlib.sha256(name.encode()).digest()[:3]),
                    "last_price": state.last_price(name),
                }
                for name in instruments
            }
        )

    async def user_profile(request: Request) -> Response:
        if (early := await api_preamble(request)) is not None:
            return early
        if isinstance(app := authorized_app(request), Response):
            return app
        return _success(
            {
                "user_id": app.user_id,
                "user_type": "individual",
                "email": app.email,
                "user_name": app.user_name,
                "user_shortname": app.user_name.split()[0],
                "broker": "ZERODHA",
                "exchanges": ["NSE", "NFO", "BSE"],
                "products": ["CNC", "NRML", "MIS"],
                "order_types": ["MARKET", "LIMIT", "SL", "SL-M"],
                "avatar_url": None,
                "meta": {"demat_consent": "consent"},
            }
        )

    # --- control plane for tests in another process --------------------------------------

    async def control_apps(request: Request) -> Response:
        body = await request.json()
        app = state.register_app(
            body.get("api_key"),
            body.get("api_secret"),
            body.get("user_id"),
            user_name=body.get("user_name", "Stand-in Trader"),
            email=body.get("email", "trader@example.com"),
            redirect_url=body.get("redirect_url", DEFAULT_REDIRECT_URL),
        )
        return JSONResponse(
            {"api_key": app.api_key, "api_secret": app.api_secret, "user_id": app.user_id},
            status_code=201,
        )

    async def control_expire(request: Request) -> Response:
        body = await request.json() if await request.body() else {}
        return JSONResponse({"expired": state.expire_tokens(body.get("api_key"))})

    async def control_faults(request: Request) -> Response:
        body = await request.json()
        with state.lock:
            if "delay" in body:
                state.delay = float(body["delay"] or 0)
            if "fail_status" in body:
                state.fail_status = body["fail_status"]
            if "auto_login" in body:
                state.auto_login = bool(body["auto_login"])
        return JSONResponse(
            {"delay": state.delay, "fail_status": state.fail_status, "auto_login": state.auto_login}
        )

    async def control_request_token(request: Request) -> Response:
        body = await request.json()
        try:
            token = state.issue_request_token(body["api_key"])
        except KeyError:
            return JSONResponse({"detail": "unknown api_key"}, status_code=404)
        return JSONResponse({"request_token": token}, status_code=201)

    return Starlette(
        routes=[
            Route("/connect/login", login_page, methods=["GET"]),
            Route("/connect/login", login_submit, methods=["POST"]),
            Route("/session/token", session_token, methods=["POST"]),
            Route("/user/profile", user_profile, methods=["GET"]),
            Route("/quote/ltp", quote_ltp, methods=["GET"]),
            Route("/_standin/apps", control_apps, methods=["POST"]),
            Route("/_standin/request-token", control_request_token, methods=["POST"]),
            Route("/_standin/expire", control_expire, methods=["POST"]),
            Route("/_standin/faults", control_faults, methods=["POST"]),
        ]
    )


@contextmanager
def running_kite_standin(
    state: KiteStandinState | None = None, *, host: str = "127.0.0.1"
) -> Iterator[tuple[str, KiteStandinState]]:
    """Serve a stand-in on a free port in a background thread; yields ``(base_url, state)``."""
    state = state or KiteStandinState()
    state.stopping.clear()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(state),
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)  # off the main thread it leaves signals alone
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="kite-standin", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the Kite stand-in did not start")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}", state
    finally:
        state.stopping.set()  # cut short handlers sleeping on a configured delay
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local stand-in for the Kite Connect v3 API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--app",
        action="append",
        default=[],
        metavar="API_KEY:API_SECRET:USER_ID",
        help="register an app (repeatable); default: standin_key:standin_secret:ZX1234",
    )
    parser.add_argument("--redirect-url", default=DEFAULT_REDIRECT_URL)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds added to API calls")
    parser.add_argument(
        "--manual-login",
        action="store_true",
        help="show a login form with a button instead of redirecting at once",
    )
    args = parser.parse_args(argv)
    state = KiteStandinState(delay=args.delay, auto_login=not args.manual_login)
    for spec in args.app or ["standin_key:standin_secret:ZX1234"]:
        api_key, api_secret, user_id = [*spec.split(":"), "", ""][:3]
        if not (api_key and api_secret and user_id):
            parser.error(f"--app {spec!r}: expected API_KEY:API_SECRET:USER_ID")
        state.register_app(api_key, api_secret, user_id, redirect_url=args.redirect_url)
    base = f"http://{args.host}:{args.port}"
    print(f"Kite stand-in: API base {base}, login URL {base}/connect/login", flush=True)
    print(f"apps: {', '.join(sorted(state.apps))}; redirect to {args.redirect_url}", flush=True)
    uvicorn.run(create_app(state), host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
