"""Review item 6: the access log of ``user-service serve`` names route templates, masks IPs
and never writes a token from a URL (uvicorn's own access log wrote them verbatim)."""

import datetime as dt
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tests.platform.stack import free_port

RESET_TOKEN = "qpr_" + "R" * 43
KITE_REQUEST_TOKEN = "kiteRequestToken0123456789"


def _get(url: str, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:  # not listening yet
        return 0


def test_the_access_log_never_writes_tokens_or_full_ips(backend, tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": backend.database_url,
        "REDIS_URL": backend.redis_url or "",
        # Under the run's own prefix, so the back-end's clean-up removes this server's keys too.
        "REDIS_KEY_PREFIX": f"{backend.redis_prefix}-{port}",
        "KMS_MASTER_KEY_FILE": str(backend.key_file),
        "JWT_KEY_SIZE": "2048",
        "COOKIE_SECURE": "false",
        "FRONTEND_DIST": str(tmp_path / "no-frontend"),
        "MAIL_DIR": str(tmp_path / "mail"),
    }
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "user_service.cli", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while _get(f"{base}/health/live") != 200:
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        _get(f"{base}/reset-password?token={RESET_TOKEN}")
        _get(f"{base}/verify-email?token={RESET_TOKEN}")
        _get(f"{base}/trading-accounts/kite/callback?request_token={KITE_REQUEST_TOKEN}")
        _get(f"{base}/v1/users/me", {"X-Request-ID": "trace-abcdef123"})
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    output = log_path.read_text()
    assert output.count("http.request") >= 4, output
    assert RESET_TOKEN not in output and "qpr_" not in output
    assert KITE_REQUEST_TOKEN not in output
    assert "?" not in "".join(line for line in output.splitlines() if "http.request" in line)
    assert "127.0.0.1" not in output.replace(f"127.0.0.1:{port}", "")  # masked: 127.0.0.x
    assert "127.0.0.x" in output
    assert "request_id=trace-abcdef123" in output
    assert "route=/v1/users/me" in output and "status=401" in output


def test_the_json_access_line_carries_the_structlog_fields_masked():
    """Production's cheap writer (``metrics.JsonAccessLog``) writes what the structlog line
    wrote: the route template, a masked IP, the request id, level and time — one JSON object
    per line — and masks a client-sent request id that looks like a token."""
    import io
    import json

    from user_service.metrics import JsonAccessLog

    stream = io.StringIO()
    writer = JsonAccessLog(stream)
    writer.write("GET", "/v1/users/{user_id}", 200, 0.001234, "203.0.113.77", "ab12cd34ef56")
    writer.write("POST", "/v1/auth/refresh", 401, 0.5, "2001:db8:1:2::7", "qrt_" + "A" * 40)
    writer.write("GET", "unmatched", 404, 0.0, None, "trace-abcdef123")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 3
    first = lines[0]
    assert first["event"] == "http.request" and first["level"] == "info"
    assert first["method"] == "GET" and first["route"] == "/v1/users/{user_id}"
    assert first["status"] == 200 and first["duration_ms"] == 1.23
    assert first["ip"] == "203.0.113.x" and first["request_id"] == "ab12cd34ef56"
    assert first["timestamp"].endswith("Z")
    written = dt.datetime.fromisoformat(first["timestamp"].replace("Z", "+00:00"))
    assert abs((dt.datetime.now(dt.UTC) - written).total_seconds()) < 5
    assert len(first["timestamp"]) == len("2026-11-30T23:26:56.531068Z")
    assert lines[1]["ip"] == "2001:db8:1::/48"
    assert "qrt_" not in stream.getvalue() and lines[1]["request_id"] == "[redacted-token]"
    assert lines[2]["ip"] is None and lines[2]["request_id"] == "trace-abcdef123"
    assert "203.0.113.77" not in stream.getvalue()


@pytest.mark.anyio
async def test_json_access_lines_are_written_together_within_fifty_milliseconds():
    """One write for many requests: the lines wait at most ``FLUSH_SECONDS`` (or until
    ``FLUSH_LINES`` are pending); a normal exit writes what is left."""
    import asyncio
    import io

    from user_service.metrics import JsonAccessLog, _flush_access_logs

    stream = io.StringIO()
    writer = JsonAccessLog(stream)
    for _ in range(3):
        writer.write("GET", "/health/live", 200, 0.001, "127.0.0.1", "ab12cd34ef56")
    assert stream.getvalue() == ""
    await asyncio.sleep(JsonAccessLog.FLUSH_SECONDS * 2)
    assert stream.getvalue().count("http.request") == 3

    for _ in range(JsonAccessLog.FLUSH_LINES):
        writer.write("GET", "/health/live", 200, 0.001, "127.0.0.1", "ab12cd34ef56")
    assert stream.getvalue().count("http.request") == 3 + JsonAccessLog.FLUSH_LINES

    writer.write("GET", "/health/live", 200, 0.001, "127.0.0.1", "ab12cd34ef56")
    _flush_access_logs()  # what atexit runs
    assert stream.getvalue().count("http.request") == 4 + JsonAccessLog.FLUSH_LINES
