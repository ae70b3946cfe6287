"""A local OpenID Connect provider stand-in (a "Google") for tests and the browser run.

It behaves like a provider where the user service can tell: the discovery document
(``/.well-known/openid-configuration``, its issuer = the base URL), a JWKS, an authorization
endpoint that approves at once and redirects to the registered ``redirect_uri`` with a
single-use ``code`` and the ``state``, and a token endpoint that checks the client's
authentication (``client_secret_basic`` or ``client_secret_post``), the ``redirect_uri`` and
the PKCE verifier (S256) before answering an RS256-signed ID token with the request's
``nonce``. Who signs in is configurable (``state.user``), and so are faults for the
negative tests (``state.tamper``: claims to override or drop in the next ID token, or
``sign_with_rogue_key``).

In tests::

    with running_oidc_standin() as (issuer, state):
        state.register_client("client-id", "client-secret")
        state.user = StandinUser(sub="1234", email="a@example.com")
        state.tamper = {"aud": "someone-else"}          # the next ID token only

As a process (from ``service/``)::

    python -m tests.standins.oidc --port 8766 --client CLIENT_ID:CLIENT_SECRET [--interactive]

Test-only control endpoints live under ``/_standin/`` (``POST /_standin/user`` sets who signs
in next) so a browser test driving another process can steer it.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

KEY_ID = "standin-key-1"


@dataclass
class StandinUser:
    sub: str = "100000000000000000001"
    email: str | None = "google.user@example.com"
    email_verified: Any = True
    name: str | None = "Google User"


@dataclass
class PendingCode:
    client_id: str
    redirect_uri: str
    code_challenge: str | None
    nonce: str | None
    user: StandinUser
    tamper: dict[str, Any]
    issued_at: float


@dataclass
class OidcStandinState:
    clients: dict[str, str] = field(default_factory=dict)  # client id → secret
    user: StandinUser = field(default_factory=StandinUser)
    # Applied to the next authorization's ID token only: claim → value (None drops it);
    # the key "sign_with_rogue_key" signs with a key that is not in the JWKS.
    tamper: dict[str, Any] = field(default_factory=dict)
    codes: dict[str, PendingCode] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    issuer: str = ""
    # True: the authorization endpoint shows a form (e-mail and name) instead of approving at
    # once as ``user``; the ``sub`` is derived from the e-mail, so one address is one account.
    interactive: bool = False
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    rogue_key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def register_client(self, client_id: str | None = None, secret: str | None = None) -> str:
        client_id = client_id or f"client-{secrets.token_hex(4)}"
        with self.lock:
            self.clients[client_id] = secret or secrets.token_urlsafe(16)
        return client_id


def _jwk(key: rsa.RSAPrivateKey) -> dict[str, Any]:
    numbers = key.public_key().public_numbers()

    def b64(value: int) -> str:
        raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return {
        "kty": "RSA",
        "kid": KEY_ID,
        "use": "sig",
        "alg": "RS256",
        "n": b64(numbers.n),
        "e": b64(numbers.e),
    }


def _s256(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


def _login_form(params: Any, error: str = "") -> str:
    """The interactive sign-in page: the query string rides along in the form's action."""
    action = html.escape("/authorize?" + urlencode(list(params.multi_items())))
    notice = f'<p style="color:#b91c1c">{html.escape(error)}</p>' if error else ""
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Sign in - OIDC stand-in</title></head>
<body style="font-family:sans-serif;max-width:28rem;margin:4rem auto">
<h1>Sign in (local stand-in for Google)</h1>
<p>No real provider is involved: type any e-mail address. The same address signs in to the
same account next time.</p>{notice}
<form method="post" action="{action}">
<p><label>E-mail<br><input name="email" type="email" required autofocus></label></p>
<p><label>Name<br><input name="name" value="Demo Google User"></label></p>
<p><button type="submit">Continue</button></p>
</form></body></html>"""


def _error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def create_app(state: OidcStandinState) -> Starlette:
    async def discovery(request: Request) -> Response:
        base = state.issuer
        return JSONResponse(
            {
                "issuer": base,
                "authorization_endpoint": f"{base}/authorize",
                "token_endpoint": f"{base}/token",
                "jwks_uri": f"{base}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid", "email", "profile"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
                "code_challenge_methods_supported": ["S256"],
            }
        )

    async def jwks(request: Request) -> Response:
        return JSONResponse({"keys": [_jwk(state.key)]})

    async def authorize(request: Request) -> Response:
        params = request.query_params
        client_id = params.get("client_id", "")
        redirect_uri = params.get("redirect_uri", "")
        if client_id not in state.clients or not redirect_uri:
            return _error(400, "invalid_request", "unknown client or no redirect_uri")
        if params.get("response_type") != "code":
            return _error(400, "unsupported_response_type", "only code")
        if "openid" not in params.get("scope", "").split():
            return _error(400, "invalid_scope", "openid is required")
        challenge = params.get("code_challenge")
        if challenge is not None and params.get("code_challenge_method") != "S256":
            return _error(400, "invalid_request", "only S256")
        if state.interactive and request.method == "GET":
            return HTMLResponse(_login_form(params))
        user = state.user
        if request.method == "POST":
            form = dict(parse_qsl((await request.body()).decode()))
            email = form.get("email", "").strip().lower()
            if not email:
                return HTMLResponse(_login_form(params, error="Enter an e-mail address."))
            user = StandinUser(
                sub=hashlib.sha256(email.encode()).hexdigest()[:21],
                email=email,
                email_verified=True,
                name=form.get("name", "").strip() or None,
            )
        code = secrets.token_urlsafe(24)
        with state.lock:
            state.codes[code] = PendingCode(
                client_id=client_id,
                redirect_uri=redirect_uri,
                code_challenge=challenge,
                nonce=params.get("nonce"),
                user=user,
                tamper=dict(state.tamper),
                issued_at=time.time(),
            )
            state.tamper = {}
        query = {"code": code}
        if "state" in params:
            query["state"] = params["state"]
        separator = "&" if "?" in redirect_uri else "?"
        return RedirectResponse(f"{redirect_uri}{separator}{urlencode(query)}", status_code=302)

    def client_of(request: Request, form: dict[str, str]) -> str | None:
        header = request.headers.get("authorization", "")
        if header.startswith("Basic "):
            try:
                pair = base64.b64decode(header[6:]).decode()
            except ValueError:
                return None
            client_id, _, secret = pair.partition(":")
            client_id, secret = unquote(client_id), unquote(secret)
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        expected = state.clients.get(client_id)
        if expected is None or not secrets.compare_digest(expected, secret):
            return None
        return client_id

    async def token(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        with state.lock:
            state.token_requests.append({k: v for k, v in form.items() if k != "client_secret"})
        client_id = client_of(request, form)
        if client_id is None:
            return _error(401, "invalid_client", "client authentication failed")
        if form.get("grant_type") != "authorization_code":
            return _error(400, "unsupported_grant_type", "only authorization_code")
        with state.lock:
            pending = state.codes.pop(form.get("code", ""), None)
        if pending is None or time.time() - pending.issued_at > 60:
            return _error(400, "invalid_grant", "unknown, used or expired code")
        if pending.client_id != client_id or pending.redirect_uri != form.get("redirect_uri"):
            return _error(400, "invalid_grant", "code issued to another client or redirect_uri")
        verifier = form.get("code_verifier")
        if pending.code_challenge is not None and (
            verifier is None or _s256(verifier) != pending.code_challenge
        ):
            return _error(400, "invalid_grant", "PKCE verification failed")
        now = int(time.time())
        user = pending.user
        claims: dict[str, Any] = {
            "iss": state.issuer,
            "sub": user.sub,
            "aud": client_id,
            "azp": client_id,
            "iat": now,
            "exp": now + 3600,
            "email": user.email,
            "email_verified": user.email_verified,
            "name": user.name,
        }
        if pending.nonce is not None:
            claims["nonce"] = pending.nonce
        tamper = dict(pending.tamper)
        rogue = bool(tamper.pop("sign_with_rogue_key", False))
        for claim, value in tamper.items():
            if value is None:
                claims.pop(claim, None)
            else:
                claims[claim] = value
        claims = {key: value for key, value in claims.items() if value is not None}
        id_token = jwt.encode(
            claims,
            state.rogue_key if rogue else state.key,
            algorithm="RS256",
            headers={"kid": KEY_ID},
        )
        return JSONResponse(
            {
                "access_token": secrets.token_urlsafe(24),
                "token_type": "Bearer",
                "expires_in": 3600,
                "scope": "openid email profile",
                "id_token": id_token,
            },
            headers={"Cache-Control": "no-store"},
        )

    async def control_user(request: Request) -> Response:
        body = await request.json()
        with state.lock:
            state.user = StandinUser(
                sub=str(body["sub"]),
                email=body.get("email"),
                email_verified=body.get("email_verified", True),
                name=body.get("name"),
            )
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route("/.well-known/openid-configuration", discovery),
            Route("/jwks", jwks),
            Route("/authorize", authorize, methods=["GET", "POST"]),
            Route("/token", token, methods=["POST"]),
            Route("/_standin/user", control_user, methods=["POST"]),
        ]
    )


@contextmanager
def running_oidc_standin(
    state: OidcStandinState | None = None, *, host: str = "127.0.0.1"
) -> Iterator[tuple[str, OidcStandinState]]:
    """Serve a stand-in on a free port in a background thread; yields ``(issuer, state)``."""
    state = state or OidcStandinState()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    state.issuer = f"http://{host}:{port}"
    config = uvicorn.Config(
        create_app(state), log_level="warning", access_log=False, lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="oidc-standin", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the OIDC stand-in did not start")
        time.sleep(0.01)
    try:
        yield state.issuer, state
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local OpenID Connect provider stand-in")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument(
        "--client",
        action="append",
        default=[],
        metavar="CLIENT_ID:CLIENT_SECRET",
        help="register a client (repeatable); default: standin-client:standin-secret",
    )
    parser.add_argument(
        "--interactive",
        action="store_true",
        help="show a sign-in form (e-mail, name) instead of approving at once",
    )
    args = parser.parse_args(argv)
    state = OidcStandinState(issuer=f"http://{args.host}:{args.port}", interactive=args.interactive)
    for spec in args.client or ["standin-client:standin-secret"]:
        client_id, _, secret = spec.partition(":")
        if not client_id or not secret:
            parser.error(f"--client {spec!r}: expected CLIENT_ID:CLIENT_SECRET")
        state.register_client(client_id, secret)
    print(f"OIDC stand-in: issuer {state.issuer}", flush=True)
    uvicorn.run(
        create_app(state), host=args.host, port=args.port, log_level="warning", access_log=False
    )


if __name__ == "__main__":
    main()
