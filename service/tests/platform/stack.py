"""The whole platform as real processes: user service, Kite and OIDC ("Google") stand-ins,
backend, ticker, alerts.

Used by the cross-service tests (``tests/platform/``) and by ``scripts/demo.py``. Every
process runs in its own process group with its output in ``<workdir>/logs/<name>.log``;
``stop()`` ends exactly the groups it started (SIGTERM, then SIGKILL after a grace period).

The user service is migrated, its three reference clients get fresh secrets through the CLI
(``user-service clients rotate-secret NAME`` prints the secret alone on its last line), and
each example is started with ``USER_SERVICE_URL``, ``CLIENT_ID`` and ``CLIENT_SECRET`` as a
service team would deploy it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SERVICE_DIR = REPO / "service"
EXAMPLES_DIR = REPO / "examples"
HOST = "127.0.0.1"

# example name → (OAuth client id, default port)
EXAMPLES: dict[str, tuple[str, int]] = {
    "backend": ("backend", 8081),
    "ticker": ("ticker_service", 8080),
    "alerts": ("alert_service", 8082),
}


# The OIDC stand-in's one client, as registered with a provider (local stand-in only).
OIDC_CLIENT_ID = "quantagro-console"
OIDC_CLIENT_SECRET = "standin-client-secret"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def venv_bin(name: str) -> str:
    """A console script next to the running interpreter (the project's virtualenv)."""
    return str(Path(sys.executable).parent / name)


@dataclass
class PlatformConfig:
    """Where the platform's state lives and which ports it listens on."""

    workdir: Path
    database_url: str
    key_file: Path
    redis_url: str | None = None
    redis_prefix: str = "qus"
    # service, kite, oidc, backend, ticker, alerts
    ports: dict[str, int] = field(default_factory=dict)
    fast_crypto: bool = True  # bcrypt cost 4 and RSA-2048: tests and demos, never production
    frontend_dist: Path | None = None
    legacy_api_keys: str = ""  # the backend's LEGACY_API_KEYS, "key:user_id,..."
    extra_service_env: dict[str, str] = field(default_factory=dict)
    # The OIDC stand-in shows a form (e-mail, name) instead of approving at once (make demo).
    interactive_oidc: bool = False

    def url(self, name: str) -> str:
        return f"http://{HOST}:{self.ports[name]}"


class ProcessGroup:
    """Processes started here, each in its own session; stops exactly those."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.logs.mkdir(parents=True, exist_ok=True)
        self.started: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, args: Sequence[str], *, cwd: Path, env: Mapping[str, str]) -> None:
        with (self.logs / f"{name}.log").open("ab") as out:
            self.started[name] = subprocess.Popen(
                list(args),
                cwd=cwd,
                env=dict(env),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def check_alive(self) -> None:
        for name, process in self.started.items():
            if process.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with code {process.returncode}:\n{self.tail(name)}"
                )

    def tail(self, name: str, lines: int = 40) -> str:
        try:
            text = (self.logs / f"{name}.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace: float = 10.0) -> None:
        running = [(n, p) for n, p in reversed(self.started.items()) if p.poll() is None]
        for _, process in running:
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for _, process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait(timeout=5)
        self.started.clear()


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it already ended
        os.killpg(process.pid, signum)


class Platform:
    """Start, use and stop the whole platform described by a ``PlatformConfig``."""

    def __init__(self, config: PlatformConfig) -> None:
        self.config = config
        for name in ("service", "kite", "oidc", *EXAMPLES):
            config.ports.setdefault(name, free_port())
        self.processes = ProcessGroup(config.workdir / "logs")
        self.client_secrets: dict[str, str] = {}

    # --- environment ------------------------------------------------------------------

    def service_env(self) -> dict[str, str]:
        cfg = self.config
        base, kite = cfg.url("service"), cfg.url("kite")
        env = {
            **_base_env(),
            "DATABASE_URL": cfg.database_url,
            "KMS_MASTER_KEY_FILE": str(cfg.key_file),
            "REDIS_KEY_PREFIX": cfg.redis_prefix,
            "HOST": HOST,
            "PORT": str(cfg.ports["service"]),
            "PUBLIC_URL": base,
            "FRONTEND_URL": base,
            "CORS_ORIGINS": base,
            # the SPA's Platform page calls the three services (HTTP and WebSocket)
            "CSP_CONNECT_SOURCES": ",".join(
                f"{scheme}://{HOST}:{cfg.ports[name]}"
                for name in EXAMPLES
                for scheme in ("http", "ws")
            ),
            "COOKIE_SECURE": "false",
            "MAIL_DIR": str(self.mail_dir),
            "KITE_API_BASE_URL": kite,
            "KITE_LOGIN_URL": f"{kite}/connect/login",
            # "Sign in with Google" against the local OIDC stand-in
            "OIDC_GOOGLE_ISSUER": cfg.url("oidc"),
            "OIDC_GOOGLE_CLIENT_ID": OIDC_CLIENT_ID,
            "OIDC_GOOGLE_CLIENT_SECRET": OIDC_CLIENT_SECRET,
            "SIGNING_KEY_REFRESH_SECONDS": "1",
            # many sign-ins from one address in a test run or a demo
            "RATE_LIMIT_LOGIN_IP": "10000 per minute",
            "RATE_LIMIT_LOGIN_ACCOUNT": "1000 per minute",
            "RATE_LIMIT_REGISTER_IP": "10000 per minute",
            "RATE_LIMIT_REFRESH_SESSION": "1000 per minute",
        }
        if cfg.redis_url:
            env["REDIS_URL"] = cfg.redis_url
        if cfg.fast_crypto:
            env |= {"BCRYPT_ROUNDS": "4", "JWT_KEY_SIZE": "2048"}
        if cfg.frontend_dist is not None:
            env["FRONTEND_DIST"] = str(cfg.frontend_dist)
        return env | cfg.extra_service_env

    def example_env(self, name: str) -> dict[str, str]:
        cfg = self.config
        client_id, _ = EXAMPLES[name]
        env = {
            **_base_env(),
            "USER_SERVICE_URL": cfg.url("service"),
            "CLIENT_ID": client_id,
            "CLIENT_SECRET": self.client_secrets[client_id],
            "FRONTEND_ORIGIN": cfg.url("service"),
            "HOST": HOST,
            "PORT": str(cfg.ports[name]),
            "KITE_API_BASE_URL": cfg.url("kite"),
            "LEGACY_API_KEYS": cfg.legacy_api_keys,
            "ALERTS_DATABASE_URL": f"sqlite+aiosqlite:///{cfg.workdir / 'alerts.db'}",
        }
        if cfg.redis_url:
            env |= {"REDIS_URL": cfg.redis_url, "REDIS_KEY_PREFIX": cfg.redis_prefix}
        return env

    @property
    def mail_dir(self) -> Path:
        return self.config.workdir / "mail"

    # --- life cycle -------------------------------------------------------------------

    def cli(self, *args: str) -> str:
        """Run ``user-service …`` against this platform's database; its stdout."""
        done = subprocess.run(
            [venv_bin("user-service"), *args],
            cwd=self.config.workdir,
            env=self.service_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"user-service {' '.join(args)} failed:\n{done.stderr}")
        return done.stdout

    def start(self) -> None:
        cfg = self.config
        python = sys.executable
        self.processes.start(
            "kite",
            [
                *(python, "-m", "tests.standins.kite", "--host", HOST),
                *("--port", str(cfg.ports["kite"])),
                *("--redirect-url", f"{cfg.url('service')}/trading-accounts/kite/callback"),
            ],
            cwd=SERVICE_DIR,
            env=_base_env(),
        )
        self.processes.start(
            "oidc",
            [
                *(python, "-m", "tests.standins.oidc", "--host", HOST),
                *("--port", str(cfg.ports["oidc"])),
                *("--client", f"{OIDC_CLIENT_ID}:{OIDC_CLIENT_SECRET}"),
                *(("--interactive",) if cfg.interactive_oidc else ()),
            ],
            cwd=SERVICE_DIR,
            env=_base_env(),
        )
        self.cli("migrate")
        # One after the other: on a fresh data dir the first command creates the master key
        # file and the first signing key, which concurrent commands would race to create.
        for client_id, _ in EXAMPLES.values():
            output = self.cli("clients", "rotate-secret", client_id)
            self.client_secrets[client_id] = output.strip().splitlines()[-1]
        self.processes.start(
            "service", [venv_bin("user-service"), "serve"], cwd=cfg.workdir, env=self.service_env()
        )
        self.wait_http(f"{cfg.url('service')}/health/ready", "service", timeout=90)
        self.wait_http(f"{cfg.url('kite')}/connect/login", "kite", expect=400)
        self.wait_http(f"{cfg.url('oidc')}/.well-known/openid-configuration", "oidc")
        for name in EXAMPLES:
            self.processes.start(
                name,
                [python, str(EXAMPLES_DIR / name / "app.py")],
                cwd=EXAMPLES_DIR / name,
                env=self.example_env(name),
            )
        for name in EXAMPLES:
            self.wait_http(f"{cfg.url(name)}/health", name)

    def wait_http(self, url: str, name: str, *, timeout: float = 60, expect: int = 200) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            self.processes.check_alive()
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    status = response.status
            except urllib.error.HTTPError as error:
                status = error.code
            except OSError as error:
                last = str(error)
                time.sleep(0.2)
                continue
            if status == expect:
                return
            last = f"HTTP {status}"
            time.sleep(0.2)
        raise RuntimeError(f"{name} not ready at {url} within {timeout:.0f} s ({last})")

    def stop(self) -> None:
        self.processes.stop()


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTEST"))}
    return env | {"PYTHONUNBUFFERED": "1"}
