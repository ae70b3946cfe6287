"""CPU per request of the hot paths, in process: the app called as an ASGI callable, no server,
no socket, no load generator — the figure that does not move with the machine's load.

    .venv/bin/python bench/inprocess.py [--backend sqlite|postgres] [--rounds 6] [--profile CASE]

Each case runs ``--requests`` times per round, the rounds interleaved, and the best round is
printed (CPU time of this process, all threads): ``bare`` (bench/bare_app.py), ``live``
(``/health/live``), ``me``, warm ``authz`` and ``introspect`` with a service token, and the two
signing paths: ``token`` (a client-credentials grant) and ``refresh`` (one rotation chain, each
call sending the token the last one returned; RSA keys are the tests' small ones, so these show
the work around the signature). With
``--profile CASE`` it prints cProfile's table for that case instead. Run from the repository
root; ``postgres`` uses the PostgreSQL and Redis of the test suite (a database of its own).
The HTTP layer (uvicorn, the socket, wrk) comes on top of these figures in ``make bench``;
docs/performance.md says how they relate.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "service"), str(ROOT / "bench")]

import httpx  # noqa: E402
import uvloop  # noqa: E402
from bare_app import app as bare_app  # noqa: E402
from tests.conftest import make_settings  # noqa: E402
from tests.fixtures.backends import PostgresRedis, create_sqlite_backend  # noqa: E402
from tests.fixtures.users import signed_in_user  # noqa: E402
from tests.oauth.support import service_with_token  # noqa: E402
from user_service.app import create_app  # noqa: E402
from user_service.logging import configure_logging  # noqa: E402

Case = tuple[Any, str, str, list[tuple[bytes, bytes]], bytes]


async def call(
    app: Any,
    method: str,
    path: str,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
    on_send: Any = None,
) -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    delivered = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if delivered:  # the app asks again only to learn of a disconnect
            await asyncio.sleep(3600)
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        if on_send is not None:
            await on_send(message)

    await app(scope, receive, send)
    return status


class RefreshChain:
    """``POST /v1/auth/refresh`` with the refresh token the previous rotation returned."""

    def __init__(self, app: Any, headers: list[tuple[bytes, bytes]], token: str) -> None:
        self.app, self.headers, self.token = app, headers, token

    async def __call__(self) -> int:
        answer = bytearray()

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body":
                answer.extend(message.get("body", b""))

        body = json.dumps({"refresh_token": self.token}).encode()
        status = await call(self.app, "POST", "/v1/auth/refresh", self.headers, body, send)
        if status == 200:
            self.token = json.loads(answer)["refresh_token"]
        return status


async def cpu_per_request(case: Case | RefreshChain, requests: int) -> float:
    """Microseconds of CPU per request over ``requests`` calls (after a warm-up)."""

    async def once() -> int:
        return await (case() if isinstance(case, RefreshChain) else call(*case))

    for _ in range(100):
        status = await once()
    if status != 200:
        print(f"{case} answered {status}", file=sys.__stderr__)
        raise SystemExit(1)
    started = time.process_time()
    for _ in range(requests):
        await once()
    return (time.process_time() - started) / requests * 1e6


async def cases(app: Any) -> dict[str, Case | RefreshChain]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        user = await signed_in_user(client)
        backend = await service_with_token(client, app, "backend")
        chain = await signed_in_user(client)
        await client.post("/v1/auth/login", json={"email": chain.email, "password": chain.password})
        first_refresh = client.cookies["refresh_token"]
    host = [(b"host", b"testserver"), (b"user-agent", b"inprocess")]
    as_user = [(b"authorization", f"Bearer {user.access_token}".encode())]
    as_service = [(b"authorization", f"Bearer {backend.token}".encode())]
    json_body = [(b"content-type", b"application/json")]
    form_body = [(b"content-type", b"application/x-www-form-urlencoded")]
    return {
        "bare": (bare_app, "GET", "/health/live", host, b""),
        "live": (app, "GET", "/health/live", host, b""),
        "me": (app, "GET", "/v1/users/me", host + as_user, b""),
        "authz": (
            app,
            "POST",
            "/v1/authz/check",
            host + as_service + json_body,
            json.dumps({"permission": "profile:read"}).encode(),
        ),
        "introspect": (
            app,
            "POST",
            "/v1/oauth/introspect",
            host + as_service + form_body,
            f"token={user.access_token}".encode(),
        ),
        "token": (
            app,
            "POST",
            "/v1/oauth/token",
            [*host, (b"authorization", backend.basic["Authorization"].encode()), *form_body],
            b"grant_type=client_credentials",
        ),
        "refresh": RefreshChain(app, host + json_body, first_refresh),
    }


async def measure(app: Any, args: argparse.Namespace) -> None:
    async with app.router.lifespan_context(app):
        named = await cases(app)
        if args.profile:
            await cpu_per_request(named[args.profile], 500)
            profiler = cProfile.Profile()
            profiler.enable()
            await cpu_per_request(named[args.profile], args.requests)
            profiler.disable()
            stats = pstats.Stats(profiler, stream=sys.stdout).sort_stats(args.sort)
            stats.print_stats(40)
            if args.callers:
                stats.print_callers(args.callers)
            return
        best: dict[str, float] = {}
        for _ in range(args.rounds):
            for name, case in named.items():
                if args.cases and name not in args.cases:
                    continue
                figure = await cpu_per_request(case, args.requests)
                best[name] = min(best.get(name, float("inf")), figure)
        print("  ".join(f"{name} {figure:.1f} µs" for name, figure in best.items()))
        if args.cases:
            return
        live = best["live"]
        print(
            "  ".join(
                f"{name}/live {live / best[name]:.0%}" for name in ("me", "authz", "introspect")
            )
            + f"  live/bare {best['bare'] / live:.0%}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument(
        "--profile", choices=("bare", "live", "me", "authz", "introspect", "token", "refresh")
    )
    parser.add_argument("--cases", type=lambda text: text.split(","), help="only these, a,b")
    parser.add_argument("--callers", help="with --profile: who calls functions matching this")
    parser.add_argument("--sort", default="tottime", help="cProfile sort key")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="qus-inprocess-"))
    postgres = PostgresRedis(workdir) if args.backend == "postgres" else None
    backend = postgres.start() if postgres else create_sqlite_backend(workdir)
    settings = make_settings(
        backend,
        log_json=True,
        log_level="INFO",
        rate_limit_refresh_session="1000000 per minute",
    )
    # The log lines go nowhere, to the end: the access log writes its last batch at exit.
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115
    configure_logging(settings.log_level, settings.log_json)
    app = create_app(settings)
    try:
        uvloop.run(measure(app, args))
    finally:
        if postgres:
            postgres.stop()


if __name__ == "__main__":
    main()
