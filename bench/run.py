"""`make bench`: throughput and latency of the user service on PostgreSQL + Redis.

Prints figures and writes them to bench/results/<timestamp>.json; asserts nothing.
Runs the real server (`user-service serve`, one worker) in a subprocess against a database
created for the run (dropped afterwards), with bcrypt cost 12 and a 4096-bit RSA key, and
drives it from this process with httpx over 127.0.0.1. The load generator shares the two
cores with the server, so the figures are a floor, not a ceiling.

Scenarios:
  bcrypt bound      verifies/s of this machine at cost 12 on as many threads as the server uses
  login             logins/s under concurrent load, and its ratio to the bcrypt bound
  users/me          GET /v1/users/me throughput, p50, p99
  refresh           POST /v1/auth/refresh throughput, p50, p99 (RSA-4096 signing per call)
  me during storm   p99 of GET /v1/users/me while a login storm runs
  authz check       POST /v1/authz/check warm and cold cache (when the endpoint exists)
  service tokens    POST /v1/oauth/token grants per second (when the endpoint exists)
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import secrets
import socket
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import bcrypt
import httpx

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
DURATION = float(os.environ.get("BENCH_SECONDS", "8"))
HASH_WORKERS = int(os.environ.get("BENCH_HASH_WORKERS", str(os.cpu_count() or 2)))
PASSWORD = "Bench-Password-2026!"


@dataclass
class Sample:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def summary(self) -> dict[str, float]:
        return {
            "requests": len(self.latencies),
            "errors": self.errors,
            "per_second": round(self.rate, 1),
            "p50_ms": round(self.pct(0.50), 2),
            "p99_ms": round(self.pct(0.99), 2),
        }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bcrypt_bound(seconds: float = 4.0) -> float:
    """Verifies per second at cost 12 on HASH_WORKERS threads (bcrypt releases the GIL)."""
    hashed = bcrypt.hashpw(b"x" * 44, bcrypt.gensalt(12))
    deadline = time.perf_counter() + seconds

    def worker() -> int:
        count = 0
        while time.perf_counter() < deadline:
            bcrypt.checkpw(b"x" * 44, hashed)
            count += 1
        return count

    start = time.perf_counter()
    with ThreadPoolExecutor(HASH_WORKERS) as pool:
        total = sum(pool.map(lambda _: worker(), range(HASH_WORKERS)))
    return total / (time.perf_counter() - start)


async def run_load(
    concurrency: int, seconds: float, action: Callable[[int], Awaitable[bool]]
) -> Sample:
    sample = Sample()
    deadline = time.perf_counter() + seconds

    async def worker(index: int) -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            ok = await action(index)
            if ok:
                sample.latencies.append(time.perf_counter() - started)
            else:
                sample.errors += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    sample.elapsed = time.perf_counter() - start
    return sample


async def create_database(name: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


async def drop_database(name: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def server_env(db_name: str, workdir: Path, port: int) -> dict[str, str]:
    host_part = PG_ADMIN.split("@", 1)[1].rsplit("/", 1)[0]
    return {
        **os.environ,
        "DATABASE_URL": f"postgresql+asyncpg://postgres@{host_part}/{db_name}",
        "REDIS_URL": REDIS_URL,
        "REDIS_KEY_PREFIX": f"bench{secrets.token_hex(3)}",
        "KMS_MASTER_KEY_FILE": str(workdir / "master.key"),
        "BCRYPT_ROUNDS": "12",
        "JWT_KEY_SIZE": "4096",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "COOKIE_SECURE": "false",
        "LOG_LEVEL": "WARNING",
        "DATABASE_POOL_SIZE": "20",
        "PASSWORD_HASH_WORKERS": str(HASH_WORKERS),
        "MAIL_DIR": str(workdir / "mail"),
        "FRONTEND_DIST": str(workdir / "no-frontend"),
        "RATE_LIMIT_LOGIN_ACCOUNT": "100000 per minute",
        "RATE_LIMIT_LOGIN_IP": "100000 per minute",
        "RATE_LIMIT_REGISTER_IP": "100000 per minute",
        "RATE_LIMIT_REFRESH_SESSION": "100000 per minute",
    }


async def wait_ready(base: str, process: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient(base_url=base) as http:
        for _ in range(600):
            if process.poll() is not None:
                raise RuntimeError("the server exited during start-up")
            try:
                if (await http.get("/health/ready")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the server did not become ready")


async def scenarios(base: str, results: dict[str, object]) -> None:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as http:
        users = []
        for index in range(16):
            email = f"bench-{index}-{secrets.token_hex(3)}@example.com"
            response = await http.post(
                "/v1/auth/register", json={"email": email, "password": PASSWORD, "name": "Bench"}
            )
            response.raise_for_status()
            users.append(email)

        tokens: list[str] = []
        refresh_tokens: list[str] = []
        for email in users:
            response = await http.post(
                "/v1/auth/login", json={"email": email, "password": PASSWORD}
            )
            response.raise_for_status()
            tokens.append(response.json()["access_token"])
            refresh_tokens.append(response.cookies["refresh_token"])
        http.cookies.clear()

        async def login(index: int) -> bool:
            response = await http.post(
                "/v1/auth/login", json={"email": users[index % len(users)], "password": PASSWORD}
            )
            http.cookies.clear()
            return response.status_code == 200

        async def me(index: int) -> bool:
            response = await http.get(
                "/v1/users/me", headers={"Authorization": f"Bearer {tokens[index % len(tokens)]}"}
            )
            return response.status_code == 200

        async def refresh(index: int) -> bool:
            slot = index % len(refresh_tokens)
            response = await http.post(
                "/v1/auth/refresh", json={"refresh_token": refresh_tokens[slot]}
            )
            if response.status_code != 200:
                return False
            refresh_tokens[slot] = response.json()["refresh_token"]
            return True

        print(f"login storm ({DURATION:.0f} s, concurrency 8)…", flush=True)
        results["login"] = (await run_load(8, DURATION, login)).summary()
        print(f"GET /v1/users/me ({DURATION:.0f} s, concurrency 16)…", flush=True)
        results["users_me"] = (await run_load(16, DURATION, me)).summary()
        print(f"POST /v1/auth/refresh ({DURATION:.0f} s, concurrency 16)…", flush=True)
        results["refresh"] = (await run_load(16, DURATION, refresh)).summary()

        print("GET /v1/users/me during a login storm…", flush=True)

        async def paced_me(index: int) -> bool:
            ok = await me(index)
            await asyncio.sleep(0.02)
            return ok

        storm, during = await asyncio.gather(
            run_load(8, DURATION, login), run_load(2, DURATION, paced_me)
        )
        results["login_during_storm"] = storm.summary()
        results["users_me_during_login_storm"] = during.summary()

        await optional_scenarios(http, tokens, results)


async def optional_scenarios(
    http: httpx.AsyncClient, tokens: list[str], results: dict[str, object]
) -> None:
    """Scenarios of endpoints that later issues add; skipped while they are absent."""
    headers = {"Authorization": f"Bearer {tokens[0]}"}
    probe = await http.post("/v1/authz/check", json={"permission": "alerts:read"}, headers=headers)
    if probe.status_code == 200:

        async def warm(index: int) -> bool:
            response = await http.post(
                "/v1/authz/check",
                json={"permission": "alerts:read"},
                headers={"Authorization": f"Bearer {tokens[index % len(tokens)]}"},
            )
            return response.status_code == 200

        async def cold(index: int) -> bool:
            response = await http.post(
                "/v1/authz/check",
                json={"permission": "alerts:read", "resource": f"alerts:{secrets.token_hex(6)}"},
                headers={"Authorization": f"Bearer {tokens[index % len(tokens)]}"},
            )
            return response.status_code == 200

        print(f"POST /v1/authz/check warm / cold ({DURATION:.0f} s each)…", flush=True)
        results["authz_check_warm"] = (await run_load(16, DURATION, warm)).summary()
        results["authz_check_cold"] = (await run_load(16, DURATION, cold)).summary()
    else:
        results["authz_check"] = f"skipped: /v1/authz/check answered {probe.status_code}"

    secret = os.environ.get("BENCH_CLIENT_SECRET")
    if secret:

        async def grant(_index: int) -> bool:
            response = await http.post(
                "/v1/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=("backend", secret),
            )
            return response.status_code == 200

        print(f"POST /v1/oauth/token ({DURATION:.0f} s)…", flush=True)
        results["service_token_grant"] = (await run_load(16, DURATION, grant)).summary()
    else:
        results["service_token_grant"] = "skipped: no client secret"


def rotate_client_secret(env: dict[str, str]) -> str | None:
    result = subprocess.run(
        [str(BIN / "user-service"), "clients", "rotate-secret", "backend"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        return None
    return result.stdout.strip().splitlines()[-1]


async def main() -> None:
    results: dict[str, object] = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "bcrypt_cost": 12,
            "rsa_bits": 4096,
            "server_workers": 1,
            "hash_threads": HASH_WORKERS,
            "seconds_per_scenario": DURATION,
        }
    }
    print(f"bcrypt bound at cost 12 on {HASH_WORKERS} threads…", flush=True)
    bound = bcrypt_bound()
    results["bcrypt_verifies_per_second"] = round(bound, 2)

    db_name = f"qus_bench_{secrets.token_hex(4)}"
    await create_database(db_name)
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = server_env(db_name, Path(tmp), port)
        try:
            subprocess.run(
                [str(BIN / "user-service"), "migrate"],
                env=env,
                check=True,
                capture_output=True,
                timeout=300,
            )
            secret = rotate_client_secret(env)
            if secret:
                os.environ["BENCH_CLIENT_SECRET"] = secret
            server = subprocess.Popen(
                [str(BIN / "user-service"), "serve"],
                env=env,
                cwd=tmp,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                base = f"http://127.0.0.1:{port}"
                await wait_ready(base, server)
                await scenarios(base, results)
            finally:
                server.terminate()
                server.wait(timeout=30)
        finally:
            await drop_database(db_name)

    login = results["login"]
    assert isinstance(login, dict)
    results["login_vs_bcrypt_bound"] = round(login["per_second"] / bound, 3) if bound else None
    report(results)
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    (out_dir / f"{stamp}.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to bench/results/{stamp}.json")


def report(results: dict[str, object]) -> None:
    print("\n=== Quantagro User Service benchmark ===")
    print(json.dumps(results["machine"], indent=None))
    print(f"bcrypt bound (cost 12): {results['bcrypt_verifies_per_second']} verifies/s")
    print(f"login / bound: {results['login_vs_bcrypt_bound']}")
    print(f"{'scenario':32} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>9} {'errors':>7}")
    for name, value in results.items():
        if isinstance(value, dict) and "per_second" in value:
            print(
                f"{name:32} {value['per_second']:>9} {value['p50_ms']:>9} "
                f"{value['p99_ms']:>9} {value['errors']:>7}"
            )
        elif isinstance(value, str):
            print(f"{name:32} {value}")


if __name__ == "__main__":
    asyncio.run(main())
