#!/usr/bin/env python3
"""``make demo``: the whole platform on this machine, until Ctrl-C.

Starts, each in its own process group, all on 127.0.0.1:

* the User Service on :8001 (SQLite in ``data/demo/``, plain-HTTP cookies, CORS for the SPA
  and the examples; the built SPA is served too when ``frontend/dist`` exists),
* the Kite Connect stand-in on :8765 (its default app ``standin_key`` / ``standin_secret``,
  broker user ``ZX1234``; its login page redirects back to the SPA),
* the OpenID Connect stand-in on :8766, configured as the service's "Google": its sign-in page
  asks for any e-mail address (no real provider is contacted),
* the backend on :8081, the ticker on :8080 and the alert service on :8082, each with a fresh
  client secret from ``user-service clients rotate-secret``,

then signs up a demo trader (e-mail confirmed, one active Kite account) and prints the URLs
and what to try. Ctrl-C or SIGTERM stops every process it started, and only those.

    .venv/bin/python scripts/demo.py              # fresh data/demo/ every run
    .venv/bin/python scripts/demo.py --keep-data  # reuse data/demo/ (the Kite stand-in forgets
                                                  # its sessions: re-do the Kite login)
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "service"))  # the platform launcher and the Kite stand-in

import httpx  # noqa: E402
from tests.platform.stack import Platform, PlatformConfig  # noqa: E402
from tests.platform.support import Trader, link_active_kite_account, sign_up  # noqa: E402

PORTS = {
    "service": 8001,
    "kite": 8765,
    "oidc": 8766,
    "backend": 8081,
    "ticker": 8080,
    "alerts": 8082,
}
DEMO_EMAIL = "demo@quantagro.example"
DEMO_PASSWORD = "Demo-Trader-Pass-2026"
LEGACY_KEY = "demo-legacy-key"
LEGACY_USER = "00000000-0000-4000-8000-000000000042"


def log(message: str) -> None:
    print(f"[demo] {message}", flush=True)


async def seed_trader(platform: Platform) -> Trader:
    async with httpx.AsyncClient(base_url=platform.config.url("service"), timeout=30) as http:
        trader = await sign_up(http, platform.mail_dir, DEMO_EMAIL, DEMO_PASSWORD)
        await link_active_kite_account(http, platform.config.url("kite"), trader)
        return trader


def guide(platform: Platform) -> str:
    url = platform.config.url
    login = (
        f"TOKEN=$(curl -s -H 'Content-Type: application/json' -d "
        f'\'{{"email":"{DEMO_EMAIL}","password":"{DEMO_PASSWORD}"}}\' '
        f"{url('service')}/v1/auth/login | .venv/bin/python -c "
        "'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')"
    )
    return f"""
Quantagro platform demo is running:
  User Service + SPA   {url("service")}   (API docs {url("service")}/docs)
  Backend              {url("backend")}   GET /api/positions, WS /ws/indicators
  Ticker               {url("ticker")}   WS /ws/quotes
  Alerts               {url("alerts")}   /alerts
  Kite stand-in        {url("kite")}   (app standin_key / standin_secret, broker user ZX1234)
  "Google" stand-in    {url("oidc")}   (a local OpenID Connect provider; docs/oidc.md)
  Logs and data        {platform.config.workdir}

What to try:
  * Sign in on {url("service")} as {DEMO_EMAIL} / {DEMO_PASSWORD}, or register
    (the confirmation e-mail is a .eml file in {platform.mail_dir}).
  * "Sign in with Google" on the sign-in page goes to the local OIDC stand-in: type any
    e-mail there. A new address creates an account; {DEMO_EMAIL} asks for the demo
    trader's password before linking. Security lists and unlinks linked accounts.
  * A token for the demo trader (15 minutes):
      {login}
  * Positions, with a legacy API key and with the token:
      curl -H 'X-API-Key: {LEGACY_KEY}' {url("backend")}/api/positions
      curl -H "Authorization: Bearer $TOKEN" {url("backend")}/api/positions
  * Live quotes of the demo trader's Kite account:
      .venv/bin/python -m websockets "{url("ticker").replace("http", "ws")}/ws/quotes?token=$TOKEN"
  * An alert:
      curl -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
        -d '{{"symbol":"NSE:INFY","condition":"above","price":1500}}' {url("alerts")}/alerts
  * Sign out everywhere (the SPA's Sessions page, or POST /v1/auth/logout
    {{"all_devices": true}}) and watch the quote socket close with 1008 within 2 s.

Press Ctrl-C to stop everything.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=REPO / "data" / "demo")
    parser.add_argument("--keep-data", action="store_true", help="reuse the data folder")
    parser.add_argument("--no-seed", action="store_true", help="do not create the demo trader")
    args = parser.parse_args(argv)

    workdir: Path = args.data_dir.resolve()
    fresh = not args.keep_data or not (workdir / "demo.db").exists()
    if fresh and workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    dist = REPO / "frontend" / "dist"
    platform = Platform(
        PlatformConfig(
            workdir=workdir,
            database_url=f"sqlite+aiosqlite:///{workdir / 'demo.db'}",
            key_file=workdir / "master.key",
            ports=dict(PORTS),
            frontend_dist=dist if (dist / "index.html").exists() else None,
            legacy_api_keys=f"{LEGACY_KEY}:{LEGACY_USER}",
            interactive_oidc=True,
        )
    )

    def on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, on_signal)
    try:
        log(f"starting the platform (data in {workdir})")
        platform.start()
        if fresh and not args.no_seed:
            asyncio.run(seed_trader(platform))
        if platform.config.frontend_dist is None:
            log("frontend/dist is missing: run `make build-frontend` for the SPA")
        print(guide(platform), flush=True)
        while True:
            platform.processes.check_alive()
            time.sleep(1)
    except KeyboardInterrupt:
        log("stopping")
        return 0
    except RuntimeError as error:
        log(f"error: {error}")
        return 1
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)  # let the teardown finish
        platform.stop()
        log("all processes stopped")


if __name__ == "__main__":
    sys.exit(main())
