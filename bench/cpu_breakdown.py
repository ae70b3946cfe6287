"""CPU per request, by process and thread, for the scenarios bounded by signing (issue 12).

    .venv/bin/python bench/cpu_breakdown.py [bare,imports,live,token,refresh,me,me2] [--seconds 6]

Starts the same stack as `make bench` (production mode, PostgreSQL + Redis, bcrypt 12,
RSA-4096), drives each scenario with wrk as `make bench` does, and reads CPU time from /proc
before and after: the worker's event-loop thread, its other threads (RS256 signing, bcrypt),
every ``postgres`` and ``redis-server`` process, wrk itself, and the whole machine. Dividing
by the answered requests gives the CPU each request costs where; the sum says how many
requests two cores could serve at most, whatever the code around the signature does.
``bare`` and ``live`` compare the bare FastAPI app's trivial endpoint with the service's
``/health/live`` the same way (``imports``: the bare app in a process that has imported the
whole service): the server's CPU per request over HTTP, which the machine's load does not
change as it changes requests per second.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import resource
from collections.abc import Callable
from pathlib import Path

from harness import CORES, Load, Request, load_average, stack, wrk
from run import make_principals, refresh_chains

TICK = os.sysconf("SC_CLK_TCK")


def _cpu(stat: str) -> float:
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def thread_cpu(pid: int) -> dict[int, float]:
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            found[int(task.name)] = _cpu((task / "stat").read_text())
    return found


def processes_cpu(command: str) -> float:
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == command:
                    total += _cpu((entry / "stat").read_text())
    return total


def machine_busy() -> tuple[float, float]:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / TICK, sum(values) / TICK


def breakdown(label: str, pids: list[int], drive: Callable[[], Load]) -> None:
    before = {pid: thread_cpu(pid) for pid in pids}
    pg, rd, busy = processes_cpu("postgres"), processes_cpu("redis-server"), machine_busy()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk is our child
    load = drive()
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    generator = (reaped.ru_utime + reaped.ru_stime) - (children.ru_utime + children.ru_stime)
    after = {pid: thread_cpu(pid) for pid in pids}
    pg = processes_cpu("postgres") - pg
    rd = processes_cpu("redis-server") - rd
    busy_after = machine_busy()
    answered = max(1, load.requests - load.errors)
    loop = sum(after[pid].get(pid, 0) - before[pid].get(pid, 0) for pid in pids)
    threads = sum(
        cpu - before[pid].get(tid, 0.0)
        for pid in pids
        for tid, cpu in after[pid].items()
        if tid != pid
    )
    share = (busy_after[0] - busy[0]) / max(1e-9, busy_after[1] - busy[1])
    per = {
        "event loop": loop,
        "other threads (signing, bcrypt)": threads,
        "postgres": pg,
        "redis": rd,
    }
    total = sum(per.values())
    per["wrk (the load generator)"] = generator
    print(
        f"{label}: {load.rate:.1f}/s ({answered} answered, {load.errors} errors, "
        f"{load.seconds:.1f} s), machine {share:.0%} busy, load average {load_average():.2f}"
    )
    for name, seconds in per.items():
        print(f"    {name:<34} {seconds / answered * 1000:7.3f} ms per request")
    print(
        f"    {'sum of the service side':<34} {total / answered * 1000:7.3f} ms per request"
        f" -> at most {CORES / (total / answered):.0f}/s on {CORES} cores; with wrk "
        f"{CORES / ((total + generator) / answered):.0f}/s",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="?", default="bare,live,token,refresh,me,me2")
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()
    with stack() as run:
        a = run.serve("A")
        principals = asyncio.run(make_principals(run, a.base, sessions=32))
        users = [f"Bearer {token}" for token in principals.access]
        credentials = f"backend:{principals.backend_secret}".encode()
        basic = "Basic " + base64.b64encode(credentials).decode()
        me = Request("GET", "/v1/users/me", users)
        token = Request(
            "POST",
            "/v1/oauth/token",
            [basic],
            "application/x-www-form-urlencoded",
            "grant_type=client_credentials",
        )
        pid = a.worker_pids()[0]
        # A rotated token sent again is reuse (its session is revoked): each refresh run takes
        # sessions no run used before (two runs at most).
        chains = iter([principals.refresh[:16], principals.refresh[16:32]])
        probe = Request("GET", "/health/live")
        for scenario in args.scenarios.split(","):
            if scenario in ("bare", "imports"):
                bare = run.serve_bare("bare_app" if scenario == "bare" else "bare_app_imports")
                breakdown(f"{scenario} app GET /health/live", bare.worker_pids(),
                          lambda base=bare.base: wrk(base, probe, run.workdir,  # type: ignore[misc]
                                                     seconds=args.seconds))  # fmt: skip
                bare.stop()
            elif scenario == "live":
                breakdown("GET /health/live", [pid], lambda: wrk(a.base, probe, run.workdir,
                          seconds=args.seconds))  # fmt: skip
            elif scenario == "token":
                breakdown("POST /v1/oauth/token", [pid], lambda: wrk(a.base, token, run.workdir,
                          seconds=args.seconds))  # fmt: skip
            elif scenario == "refresh":
                breakdown("POST /v1/auth/refresh", [pid], lambda: refresh_chains(
                    a, next(chains), run.workdir, args.seconds, None))  # fmt: skip
            elif scenario == "me":
                breakdown("GET /v1/users/me, one worker", [pid],
                          lambda: wrk(a.base, me, run.workdir, seconds=args.seconds))  # fmt: skip
            elif scenario == "me2":
                two = run.serve("W2", workers=2)
                breakdown("GET /v1/users/me, --workers 2", two.worker_pids(),
                          lambda base=two.base: wrk(base, me, run.workdir,  # type: ignore[misc]
                                                    seconds=args.seconds))  # fmt: skip
                two.stop()


if __name__ == "__main__":
    main()
