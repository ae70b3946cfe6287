"""The machinery of `make bench`: a database per run, servers as subprocesses, wrk, RSS.

Everything listens on 127.0.0.1; every process started here is stopped by the id it was
started with; the database is dropped and the Redis keys of the run's prefix deleted at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import redis

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
BIN = ROOT / ".venv" / "bin"
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
CORES = os.cpu_count() or 2
LUA = BENCH / "wrk" / "request.lua"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the database and Redis of one run ---------------------------------------------------------


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@dataclass
class Stack:
    """One run's PostgreSQL database, Redis prefix, key file and working directory."""

    workdir: Path
    db_name: str
    redis_prefix: str
    servers: list[Server] = field(default_factory=list)

    def env(self, port: int, **extra: str) -> dict[str, str]:
        host_part = PG_ADMIN.split("@", 1)[1].rsplit("/", 1)[0]
        return {
            **os.environ,
            "DATABASE_URL": f"postgresql+asyncpg://postgres@{host_part}/{self.db_name}",
            "REDIS_URL": REDIS_URL,
            "REDIS_KEY_PREFIX": self.redis_prefix,
            "KMS_MASTER_KEY_FILE": str(self.workdir / "master.key"),
            "BCRYPT_ROUNDS": "12",
            "JWT_KEY_SIZE": "4096",
            "HOST": "127.0.0.1",
            "PORT": str(port),
            # Production mode: trusted hosts, Secure cookies, JSON access log at INFO (to a file).
            "ENVIRONMENT": "production",
            "PUBLIC_URL": f"http://127.0.0.1:{port}",
            "COOKIE_SECURE": "true",
            "LOG_JSON": "true",
            "LOG_LEVEL": "INFO",
            "DATABASE_POOL_SIZE": "20",
            "PASSWORD_HASH_WORKERS": str(CORES),
            "MAIL_DIR": str(self.workdir / "mail"),
            "FRONTEND_DIST": str(self.workdir / "no-frontend"),
            # Limits out of the way of a load test (one client address, a few accounts); the
            # limiter still runs on every request, so its cost is measured.
            "RATE_LIMIT_LOGIN_ACCOUNT": "1000000 per minute",
            "RATE_LIMIT_LOGIN_IP": "1000000 per minute",
            "RATE_LIMIT_REGISTER_IP": "1000000 per minute",
            "RATE_LIMIT_REFRESH_SESSION": "1000000 per minute",
            **extra,
        }

    def cli(self, *args: str) -> str:
        result = subprocess.run(
            [str(BIN / "user-service"), *args],
            env=self.env(8001),
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode != 0:
            raise RuntimeError(f"user-service {' '.join(args)} failed:\n{result.stderr[-2000:]}")
        return result.stdout

    def serve(self, name: str, *, workers: int = 1, **extra: str) -> Server:
        port = free_port()
        command = [str(BIN / "user-service"), "serve"]
        if workers != 1:
            command += ["--workers", str(workers)]
        server = Server(name, port, command, self.env(port, **extra), self.workdir)
        self.servers.append(server)
        server.start()
        return server

    def serve_bare(self, module: str = "bare_app") -> Server:
        """The bare FastAPI app under the same uvicorn settings as ``user-service serve``."""
        port = free_port()
        command = [
            str(BIN / "uvicorn"),
            f"{module}:app",
            "--app-dir",
            str(BENCH),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--no-server-header",
            "--no-proxy-headers",
            "--log-level",
            "warning",
        ]
        server = Server("bare", port, command, dict(os.environ), self.workdir)
        self.servers.append(server)
        server.start()
        return server


@contextmanager
def stack() -> Iterator[Stack]:
    db_name = f"qus_bench_{secrets.token_hex(4)}"
    prefix = f"bench{secrets.token_hex(3)}"
    asyncio.run(_admin(f'CREATE DATABASE "{db_name}"'))
    tmp = Path(tempfile.mkdtemp(prefix="qus-bench-"))
    run = Stack(tmp, db_name, prefix)
    try:
        run.cli("migrate")
        yield run
    finally:
        for server in reversed(run.servers):
            server.stop()
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"{prefix}:*", count=1000):
            client.delete(key)
        client.close()
        shutil.rmtree(tmp, ignore_errors=True)


# --- servers -----------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    port: int
    command: list[str]
    env: dict[str, str]
    workdir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = open(self.workdir / f"{self.name}-{self.port}.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            self.command, env=self.env, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited during start-up; see {log.name}")
            try:
                if httpx.get(f"{self.base}/health/live", timeout=1).status_code == 200:
                    time.sleep(0.5 if "--workers" not in self.command else 3)
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def worker_pids(self) -> list[int]:
        """The processes that serve requests: the server itself, or its workers (children)."""
        workers = [pid for pid in _children(self.pid) if "resource_tracker" not in _cmdline(pid)]
        return workers or [self.pid]


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(part) for part in text.split()]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


# --- wrk ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    """A wrk result: ``rate`` counts only answers with the expected 2xx status."""

    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return (self.requests - self.errors) / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            "per_second": round(self.rate, 1),
            "p50_ms": round(self.p50_ms, 2),
            "p99_ms": round(self.p99_ms, 2),
            "requests": self.requests,
            "errors": self.errors,
        }


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    authorizations: Sequence[str] = ()
    content_type: str | None = None
    body: str | None = None

    def spec_file(self, directory: Path) -> Path:
        path = directory / f"wrk-{secrets.token_hex(4)}.spec"
        lines = [self.content_type or "-", self.body or "-", *self.authorizations]
        path.write_text("\n".join(lines) + "\n")
        return path


def wrk_command(
    base: str, request: Request, spec: Path, *, seconds: float, connections: int, threads: int
) -> list[str]:
    return [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA),
        base,
        "--",
        request.method,
        request.path,
        str(spec),
    ]


def wrk_start(
    base: str,
    request: Request,
    workdir: Path,
    *,
    seconds: float,
    connections: int = 16,
    threads: int = 2,
    delay_ms: int = 0,
) -> subprocess.Popen[str]:
    spec = request.spec_file(workdir)
    env = dict(os.environ, WRK_DELAY_MS=str(delay_ms))
    command = wrk_command(
        base, request, spec, seconds=seconds, connections=connections, threads=threads
    )
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)


def wrk_result(process: subprocess.Popen[str]) -> Load:
    out, _ = process.communicate(timeout=3600)
    for line in out.splitlines():
        if line.startswith("WRKJSON "):
            data = json.loads(line.removeprefix("WRKJSON "))
            errors = data["status"] + data["timeout"] + data["read"] + data["write"]
            return Load(
                requests=data["requests"],
                errors=errors,
                seconds=data["duration_us"] / 1e6,
                p50_ms=data["p50_us"] / 1000,
                p99_ms=data["p99_us"] / 1000,
            )
    raise RuntimeError(f"wrk printed no result:\n{out}")


def wrk(base: str, request: Request, workdir: Path, **options: int | float) -> Load:
    return wrk_result(wrk_start(base, request, workdir, **options))  # type: ignore[arg-type]
