#!/usr/bin/env python3
"""Start the whole stack on free ports, run the frontend's browser end-to-end suite, tear down.

Run from the repository root with the project's virtualenv::

    .venv/bin/python scripts/e2e_stack.py            # build the frontend, run `npm run e2e`
    .venv/bin/python scripts/e2e_stack.py --no-build # reuse frontend/dist
    .venv/bin/python scripts/e2e_stack.py --keep     # keep the temporary folder (db, mail, logs)
    .venv/bin/python scripts/e2e_stack.py -- --test-name-pattern=MFA   # extra args for node --test
    .venv/bin/python scripts/e2e_stack.py --stack-only   # start the stack, print its URLs, wait for Ctrl-C

What it starts, each in its own process group, all on 127.0.0.1:

1. the SMTP catcher (``python -m tests.standins.smtp``) writing every message as ``.eml`` to a
   mail folder the tests read links from;
2. the Kite Connect stand-in (``python -m tests.standins.kite``), redirecting back to the app's
   ``/trading-accounts/kite-callback``;
3. the user service itself: ``user-service migrate`` then ``user-service serve`` on a fresh
   SQLite database in a temporary folder, serving the built frontend.

When ``GET /health/ready`` answers 200 it runs ``npm run e2e`` in ``frontend/`` with
``E2E_BASE_URL``, ``E2E_MAIL_DIR`` and ``E2E_KITE_URL`` set, stops everything (also on failure
or Ctrl-C) and exits with the suite's exit code.
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
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SERVICE_DIR = REPO / "service"
FRONTEND_DIR = REPO / "frontend"
VENV_BIN = REPO / ".venv" / "bin"
HOST = "127.0.0.1"


def log(message: str) -> None:
    print(f"[e2e-stack] {message}", flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def python_executable() -> str:
    candidate = VENV_BIN / "python"
    return str(candidate) if candidate.exists() else sys.executable


def user_service_executable() -> str:
    candidate = VENV_BIN / "user-service"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("user-service")
    if not found:
        raise SystemExit("user-service is not installed: run `make install` (or pip install -e service) first")
    return found


class Stack:
    """The processes this script started; stops exactly those, by process group."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.processes: list[tuple[str, subprocess.Popen[bytes], Path]] = []

    def start(self, name: str, args: Sequence[str], *, cwd: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
        log_path = self.logs / f"{name}.log"
        log_file = log_path.open("wb")
        log(f"starting {name}: {' '.join(args)}")
        process = subprocess.Popen(
            list(args),
            cwd=cwd,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log_file.close()
        self.processes.append((name, process, log_path))
        return process

    def check_alive(self) -> None:
        for name, process, log_path in self.processes:
            if process.poll() is not None:
                self.dump(log_path)
                raise RuntimeError(f"{name} exited early with code {process.returncode}")

    def dump(self, log_path: Path, lines: int = 60) -> None:
        try:
            tail = log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return
        log(f"--- last lines of {log_path.name} ---")
        for line in tail:
            print(f"    {line}", flush=True)

    def stop(self) -> None:
        for name, process, _ in reversed(self.processes):
            if process.poll() is not None:
                continue
            log(f"stopping {name} (pid {process.pid})")
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        deadline = time.monotonic() + 10
        for name, process, _ in reversed(self.processes):
            remaining = max(0.1, deadline - time.monotonic())
            try:
                process.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                log(f"{name} did not stop in time; killing it")
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                process.wait(timeout=5)


def wait_for_port(stack: Stack, port: int, name: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stack.check_alive()
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                log(f"{name} is listening on {HOST}:{port}")
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{name} did not listen on port {port} within {timeout:.0f} s")


def wait_for_ready(stack: Stack, base_url: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        stack.check_alive()
        try:
            with urllib.request.urlopen(f"{base_url}/health/ready", timeout=2) as response:
                if response.status == 200:
                    log(f"service is ready at {base_url}")
                    return
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as error:
            last = f"HTTP {error.code}"
        except (urllib.error.URLError, OSError) as error:
            last = str(error)
        time.sleep(0.3)
    raise RuntimeError(f"service not ready within {timeout:.0f} s (last: {last})")


def run(cmd: Sequence[str], *, cwd: Path, env: dict[str, str], name: str) -> int:
    log(f"{name}: {' '.join(cmd)}")
    return subprocess.run(list(cmd), cwd=cwd, env=env, stdin=subprocess.DEVNULL).returncode


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-build", action="store_true", help="do not rebuild frontend/dist first")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (db, mail, logs)")
    parser.add_argument("--stack-only", action="store_true", help="start the stack and wait for Ctrl-C; run no tests")
    parser.add_argument("extra", nargs="*", help="arguments passed on to `npm run e2e --`")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="quantagro-e2e-"))
    mail_dir = workdir / "mail"
    mail_dir.mkdir()
    service_port, smtp_port, kite_port = free_port(), free_port(), free_port()
    base_url = f"http://{HOST}:{service_port}"
    kite_url = f"http://{HOST}:{kite_port}"
    python = python_executable()

    base_env = {key: value for key, value in os.environ.items() if not key.startswith(("E2E_", "VIRTUAL_ENV"))}
    base_env["PYTHONUNBUFFERED"] = "1"

    stack = Stack(workdir)
    exit_code = 1

    def on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    # SIGINT too: a shell starting this in the background leaves SIGINT ignored.
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, on_signal)
    try:
        if not args.no_build or not (FRONTEND_DIR / "dist" / "index.html").exists():
            if not (FRONTEND_DIR / "node_modules").exists():
                if run(["npm", "ci", "--no-audit", "--no-fund"], cwd=FRONTEND_DIR, env=base_env, name="npm ci"):
                    raise RuntimeError("npm ci failed")
            if run(["npm", "run", "build"], cwd=FRONTEND_DIR, env=base_env, name="frontend build"):
                raise RuntimeError("the frontend build failed")

        stack.start(
            "smtp",
            [python, "-m", "tests.standins.smtp", "--port", str(smtp_port), "--dir", str(mail_dir)],
            cwd=SERVICE_DIR,
            env=base_env,
        )
        stack.start(
            "kite",
            [
                python,
                "-m",
                "tests.standins.kite",
                "--port",
                str(kite_port),
                "--redirect-url",
                f"{base_url}/trading-accounts/kite-callback",
            ],
            cwd=SERVICE_DIR,
            env=base_env,
        )

        service_env = {
            **base_env,
            "DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'e2e.db'}",
            "KMS_MASTER_KEY_FILE": str(workdir / "master.key"),
            "HOST": HOST,
            "PORT": str(service_port),
            "BCRYPT_ROUNDS": "4",
            "JWT_KEY_SIZE": "2048",
            "COOKIE_SECURE": "false",
            "SMTP_HOST": HOST,
            "SMTP_PORT": str(smtp_port),
            "MAIL_DIR": str(workdir / "outbox-files"),
            "FRONTEND_URL": base_url,
            "FRONTEND_DIST": str(FRONTEND_DIR / "dist"),
            "KITE_API_BASE_URL": kite_url,
            "KITE_LOGIN_URL": f"{kite_url}/connect/login",
            "CORS_ORIGINS": base_url,
        }
        user_service = user_service_executable()
        wait_for_port(stack, smtp_port, "SMTP catcher")
        wait_for_port(stack, kite_port, "Kite stand-in")
        migrate_log = stack.logs / "migrate.log"
        with migrate_log.open("wb") as out:
            log("migrating the database")
            migrated = subprocess.run(
                [user_service, "migrate"], cwd=workdir, env=service_env, stdout=out, stderr=subprocess.STDOUT
            )
        if migrated.returncode != 0:
            stack.dump(migrate_log)
            raise RuntimeError("user-service migrate failed")
        stack.start("service", [user_service, "serve"], cwd=workdir, env=service_env)
        wait_for_ready(stack, base_url)

        e2e_env = {
            **base_env,
            "E2E_BASE_URL": base_url,
            "E2E_MAIL_DIR": str(mail_dir),
            "E2E_KITE_URL": kite_url,
        }
        if args.stack_only:
            for key in ("E2E_BASE_URL", "E2E_MAIL_DIR", "E2E_KITE_URL"):
                print(f"export {key}={e2e_env[key]}", flush=True)
            log("stack is up; press Ctrl-C to stop it")
            while True:
                stack.check_alive()
                time.sleep(1)
        command = ["npm", "run", "e2e"] + (["--", *args.extra] if args.extra else [])
        exit_code = run(command, cwd=FRONTEND_DIR, env=e2e_env, name="e2e suite")
        if exit_code != 0:
            for name, _, log_path in stack.processes:
                if name == "service":
                    stack.dump(log_path, lines=40)
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
            stack.stop()
        finally:
            if args.keep or exit_code != 0:
                log(f"kept {workdir} (database, mail, logs)")
            else:
                shutil.rmtree(workdir, ignore_errors=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
