"""CPU per request of the hot paths, in process: the app called as an ASGI callable, no server,
no socket, no load generator — the figure that does not move with the machine's load.

    .venv/bin/python bench/inprocess.py [--backend sqlite|postgres] [--rounds 6] [--profile CASE]

Each case runs ``--requests`` times per round, the rounds interleaved, and the best round is
printed (CPU time of this process, all threads): ``bare`` (bench/bare_app.py), ``live``
(``/health/live``), ``me``, warm ``authz`` and ``introspect`` with a service token. With
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
    app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes
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

    await app(scope, receive, send)
    return status


async def cpu_per_request(case: Case, requests: int) -> float:
    """Microseconds of CPU per request over ``requests`` calls (after a warm-up)."""
    for _ in range(100):
        status = await call(*case)
    if status != 200:
        raise SystemExit(f"{case[1]} {case[2]} answered {status}")
    started = time.process_time()
    for _ in range(requests):
        await call(*case)
    return (time.process_time() - started) / requests * 1e6


async def cases(app: Any) -> dict[str, Case]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        user = await signed_in_user(client)
        backend = await service_with_token(client, app, "backend")
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
            pstats.Stats(profiler, stream=sys.stdout).sort_stats(args.sort).print_stats(40)
            return
        best: dict[str, float] = {}
        for _ in range(args.rounds):
            for name, case in named.items():
                figure = await cpu_per_request(case, args.requests)
                best[name] = min(best.get(name, float("inf")), figure)
        print("  ".join(f"{name} {figure:.1f} µs" for name, figure in best.items()))
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
    parser.add_argument("--profile", choices=("bare", "live", "me", "authz", "introspect"))
    parser.add_argument("--sort", default="tottime", help="cProfile sort key")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="qus-inprocess-"))
    postgres = PostgresRedis(workdir) if args.backend == "postgres" else None
    backend = postgres.start() if postgres else create_sqlite_backend(workdir)
    settings = make_settings(backend, log_json=True, log_level="INFO")
    stderr, sys.stderr = sys.stderr, open(os.devnull, "w")  # the log lines  # noqa: SIM115
    configure_logging(settings.log_level, settings.log_json)
    app = create_app(settings)
    try:
        uvloop.run(measure(app, args))
    finally:
        sys.stderr = stderr
        if postgres:
            postgres.stop()


if __name__ == "__main__":
    main()
