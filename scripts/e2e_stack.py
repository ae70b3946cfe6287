#!/usr/bin/env python3
"""Start the whole platform on free ports, run the frontend's browser end-to-end suite, tear down.

Run from the repository root with the project's virtualenv::

    .venv/bin/python scripts/e2e_stack.py            # type-check the frontend, run `npm run e2e`
    .venv/bin/python scripts/e2e_stack.py --no-build # skip the type check (make has built it)
    .venv/bin/python scripts/e2e_stack.py --keep     # keep the temporary folder (db, mail, logs)
    .venv/bin/python scripts/e2e_stack.py -- --test-name-pattern=MFA   # extra args for node --test
    .venv/bin/python scripts/e2e_stack.py --stack-only   # start it, print its URLs, wait for Ctrl-C

What it starts, each in its own process group, all on 127.0.0.1 — the platform launcher of
the cross-service tests (``service/tests/platform/stack.py``) plus an SMTP catcher:

1. the SMTP catcher (``python -m tests.standins.smtp``) writing every message as ``.eml`` to a
   mail folder the tests read links from;
2. the Kite Connect stand-in (``python -m tests.standins.kite``) and the OpenID Connect
   stand-in (``python -m tests.standins.oidc``), the service's "Google";
3. the user service: ``user-service migrate``, fresh secrets for the clients ``backend``,
   ``ticker_service`` and ``alert_service`` (``user-service clients rotate-secret``), then
   ``user-service serve`` on a fresh SQLite database, serving the SPA, with
   ``CSP_CONNECT_SOURCES`` allowing the three services below;
4. the reference services of ``examples/``: backend, ticker and alerts.

The SPA is built for this stack into the temporary folder (``vite build``, a second or two):
the Platform page's service URLs (``VITE_BACKEND_URL``, ``VITE_TICKER_URL``,
``VITE_ALERTS_URL``) are fixed at build time and the services run on free ports.

When everything answers it runs ``npm run e2e`` in ``frontend/`` with ``E2E_BASE_URL``,
``E2E_MAIL_DIR``, ``E2E_KITE_URL``, ``E2E_OIDC_URL``, ``E2E_BACKEND_URL``, ``E2E_TICKER_URL``,
``E2E_ALERTS_URL`` and ``E2E_PASSKEY_URL`` (the console at ``localhost``, for WebAuthn) set,
stops everything (also on failure or Ctrl-C) and exits with the suite's
exit code.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SERVICE_DIR = REPO / "service"
FRONTEND_DIR = REPO / "frontend"
sys.path.insert(0, str(SERVICE_DIR))  # the platform launcher and the stand-ins

from tests.platform.stack import HOST, Platform, PlatformConfig, free_port  # noqa: E402

E2E_VARIABLES = (
    "E2E_BASE_URL",
    "E2E_MAIL_DIR",
    "E2E_KITE_URL",
    "E2E_OIDC_URL",
    "E2E_BACKEND_URL",
    "E2E_TICKER_URL",
    "E2E_ALERTS_URL",
    "E2E_PASSKEY_URL",
)


def log(message: str) -> None:
    print(f"[e2e-stack] {message}", flush=True)


def wait_for_port(platform: Platform, port: int, name: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        platform.processes.check_alive()
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{name} did not listen on port {port} within {timeout:.0f} s")


def run(cmd: Sequence[str], *, cwd: Path, env: dict[str, str], name: str) -> int:
    log(f"{name}: {' '.join(cmd)}")
    return subprocess.run(list(cmd), cwd=cwd, env=env, stdin=subprocess.DEVNULL).returncode


def build_spa(platform: Platform, out_dir: Path, env: dict[str, str]) -> None:
    """The SPA with this stack's service URLs baked in (Vite reads ``VITE_*`` at build time)."""
    url = platform.config.url
    build_env = {
        **env,
        "VITE_BACKEND_URL": url("backend"),
        "VITE_TICKER_URL": url("ticker").replace("http://", "ws://", 1),
        "VITE_ALERTS_URL": url("alerts"),
    }
    vite = [
        str(FRONTEND_DIR / "node_modules" / ".bin" / "vite"),
        "build",
        "--logLevel",
        "warn",
        "--emptyOutDir",
        "--outDir",
        str(out_dir),
    ]
    if run(vite, cwd=FRONTEND_DIR, env=build_env, name="SPA build for this stack"):
        raise RuntimeError("the frontend build failed")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--no-build", action="store_true", help="skip the frontend's type check (make built it)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary folder (db, mail, logs)"
    )
    parser.add_argument(
        "--stack-only",
        action="store_true",
        help="start the stack and wait for Ctrl-C; run no tests",
    )
    parser.add_argument("extra", nargs="*", help="arguments passed on to `npm run e2e --`")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="quantagro-e2e-"))
    mail_dir = workdir / "mail"
    mail_dir.mkdir()
    smtp_port = free_port()
    base_env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("E2E_", "VIRTUAL_ENV"))
    }
    base_env["PYTHONUNBUFFERED"] = "1"

    platform = Platform(
        PlatformConfig(
            workdir=workdir,
            database_url=f"sqlite+aiosqlite:///{workdir / 'e2e.db'}",
            key_file=workdir / "master.key",
            frontend_dist=workdir / "dist",
            # Real mail through SMTP (the catcher), not the service's .eml fallback.
            extra_service_env={
                "SMTP_HOST": HOST,
                "SMTP_PORT": str(smtp_port),
                "MAIL_DIR": str(workdir / "outbox-files"),
                # Every run opens reset links (checks, axe on desktop and phone) from one
                # address; the 20-an-hour limit would fail a second run within the hour.
                "RATE_LIMIT_PASSWORD_RESET_IP": "10000 per minute",
            },
        )
    )
    url = platform.config.url
    # Passkeys: a relying-party id cannot be an IP address, so the passkey tests open the
    # console at http://localhost:PORT (a secure context too) and the service is told so.
    passkey_url = url("service").replace(f"//{HOST}:", "//localhost:", 1)
    platform.config.extra_service_env.update(
        {
            "WEBAUTHN_RP_ID": "localhost",
            "WEBAUTHN_ORIGINS": passkey_url,
            "CORS_ORIGINS": f"{url('service')},{passkey_url}",
        }
    )
    exit_code = 1

    def on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    # SIGINT too: a shell starting this in the background leaves SIGINT ignored.
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, on_signal)
    try:
        npm_ci = ["npm", "ci", "--no-audit", "--no-fund"]
        if not (FRONTEND_DIR / "node_modules").exists() and run(
            npm_ci, cwd=FRONTEND_DIR, env=base_env, name="npm ci"
        ):
            raise RuntimeError("npm ci failed")
        if not args.no_build and run(
            ["npm", "run", "typecheck"], cwd=FRONTEND_DIR, env=base_env, name="type check"
        ):
            raise RuntimeError("the frontend does not type-check")
        build_spa(platform, workdir / "dist", base_env)

        started = time.monotonic()
        platform.processes.start(
            "smtp",
            [
                sys.executable,
                "-m",
                "tests.standins.smtp",
                "--port",
                str(smtp_port),
                "--dir",
                str(mail_dir),
            ],
            cwd=SERVICE_DIR,
            env=base_env,
        )
        wait_for_port(platform, smtp_port, "SMTP catcher")
        log("starting the stand-ins (Kite, OIDC), the user service and the three examples")
        platform.start()
        ready = time.monotonic() - started
        log(f"platform ready in {ready:.1f} s (logs in {platform.processes.logs})")

        e2e_env = {
            **base_env,
            "E2E_BASE_URL": url("service"),
            "E2E_MAIL_DIR": str(mail_dir),
            "E2E_KITE_URL": url("kite"),
            "E2E_OIDC_URL": url("oidc"),
            "E2E_BACKEND_URL": url("backend"),
            "E2E_TICKER_URL": url("ticker").replace("http://", "ws://", 1),
            "E2E_ALERTS_URL": url("alerts"),
            "E2E_PASSKEY_URL": passkey_url,
        }
        if args.stack_only:
            for key in E2E_VARIABLES:
                print(f"export {key}={e2e_env[key]}", flush=True)
            log("stack is up; press Ctrl-C to stop it")
            while True:
                platform.processes.check_alive()
                time.sleep(1)
        command = ["npm", "run", "e2e"]
        if args.extra:
            # `npm run e2e -- X` would put X after the folder, where node reads it as a file.
            command = ["node", "--test", "--test-concurrency=1", *args.extra, "e2e/"]
        exit_code = run(command, cwd=FRONTEND_DIR, env=e2e_env, name="e2e suite")
        if exit_code != 0:
            for name in ("service", "ticker", "backend", "alerts"):
                log(f"--- last lines of {name}.log ---")
                print(platform.processes.tail(name), flush=True)
        log(f"e2e suite finished with exit code {exit_code}")
    except KeyboardInterrupt:
        log("interrupted")
        exit_code = 130
    except RuntimeError as error:
        log(f"error: {error}")
        exit_code = 1
    finally:
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)  # let the teardown finish
        try:
            platform.stop()
        finally:
            if args.keep or exit_code != 0:
                log(f"kept {workdir} (database, mail, logs)")
            else:
                shutil.rmtree(workdir, ignore_errors=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
