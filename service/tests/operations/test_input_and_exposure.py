"""Review items 5, 7, 8, 9, 12 and the chunked 413: what a request can make the service do or
reveal, on both back-ends alike."""

import stat
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.conftest import client_for, running_app
from tests.fixtures.users import STRONG_PASSWORD, register, signed_in_user
from user_service.db import create_engine
from user_service.kit.pagination import encode_cursor
from user_service.logging import mask_sensitive

pytestmark = pytest.mark.anyio

PEER = "203.0.113.7"  # the test client's address (tests/conftest.py)


def _nul_refused(response) -> bool:
    body = response.json()
    return response.status_code == 422 and body["code"] == "validation_error"


# --- item 8: NUL characters -------------------------------------------------------------------


async def test_nul_characters_are_refused_everywhere_with_one_422(client):
    user = await signed_in_user(client)
    auth = user.headers
    requests = [
        ("POST", "/v1/auth/login", {"json": {"email": "a\x00@x.in", "password": "x"}}),
        (
            "POST",
            "/v1/auth/register",
            {"json": {"email": "n@x.in", "password": STRONG_PASSWORD, "name": "Ra\x00m"}},
        ),
        (
            "POST",
            "/v1/auth/login",
            {"json": {"email": user.email, "password": "x", "device_fingerprint": "\x00"}},
        ),
        ("PATCH", "/v1/users/me", {"json": {"name": "Ra\x00m"}, "headers": auth}),
        (
            "PUT",
            "/v1/users/me/preferences",
            {"json": {"preferences": {"k\x00": 1}}, "headers": auth},
        ),
        (
            "PUT",
            "/v1/users/me/preferences",
            {"json": {"preferences": {"theme": ["dark\x00"]}}, "headers": auth},
        ),
        ("GET", "/v1/users/me/audit?event_type=login%00", {"headers": auth}),
        (
            "POST",
            "/v1/oauth/token",
            {
                "data": {
                    "grant_type": "client_credentials",
                    "client_id": "x\x00",
                    "client_secret": "y",
                }
            },
        ),
        ("GET", "/%00", {}),
        ("GET", "/v1/trading-accounts/%00", {"headers": auth}),
    ]
    for method, url, kwargs in requests:
        response = await client.request(method, url, **kwargs)
        assert _nul_refused(response), (url, response.status_code, response.text)
    profile = (await client.get("/v1/users/me", headers=auth)).json()
    assert "\x00" not in profile["name"]


async def test_an_escaped_backslash_is_not_mistaken_for_a_nul(client):
    user = await signed_in_user(client)
    response = await client.put(
        "/v1/users/me/preferences",
        content=b'{"preferences": {"note": "C:\\\\u0000dir"}}',
        headers={**user.headers, "content-type": "application/json"},
    )
    assert response.status_code == 200
    assert response.json()["preferences"]["note"] == "C:\\u0000dir"


# --- item 9: parsed values are range-checked ------------------------------------------------


async def test_out_of_range_cursors_and_dates_are_4xx_never_500(client):
    user = await signed_in_user(client)
    for before_id in (10**30, True, -1, 0, "7", 1.5):
        cursor = encode_cursor({"before_id": before_id})
        response = await client.get(
            "/v1/users/me/audit", params={"cursor": cursor}, headers=user.headers
        )
        assert response.status_code == 400, (before_id, response.text)
        assert response.json()["code"] == "invalid_cursor"
    for value in ("9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+05:00", "1969-01-01T00:00"):
        for name in ("since", "until"):
            response = await client.get(
                "/v1/users/me/audit", params={name: value}, headers=user.headers
            )
            assert response.status_code == 422, (name, value, response.text)
            assert response.json()["code"] == "validation_error"
    ok = await client.get(
        "/v1/users/me/audit", params={"until": "2100-01-01T00:00:00-05:00"}, headers=user.headers
    )
    assert ok.status_code == 200


# --- item 5: X-Forwarded-For over several header lines --------------------------------------


@pytest.mark.parametrize("settings_overrides", [{"trusted_proxies": [PEER]}])
async def test_forwarded_for_split_over_header_lines_is_read_whole(client, settings_overrides):
    user = await register(client)
    headers = [
        ("X-Forwarded-For", "192.0.2.1"),  # what the client claims
        ("X-Forwarded-For", "198.51.100.20"),  # what the trusted proxy appended
    ]
    response = await client.post(
        "/v1/auth/login", json={"email": user.email, "password": STRONG_PASSWORD}, headers=headers
    )
    token = response.json()["access_token"]
    sessions = await client.get("/v1/auth/sessions", headers={"Authorization": f"Bearer {token}"})
    assert sessions.json()["sessions"][0]["ip"] == "198.51.100.x"


# --- item 12: Host-header steering and small exposures --------------------------------------


@pytest.mark.parametrize("settings_overrides", [{"public_url": "https://id.quantagro.in"}])
async def test_discovery_is_built_from_public_url_never_from_host(client, settings_overrides):
    document = (
        await client.get("/.well-known/openid-configuration", headers={"Host": "evil.example"})
    ).json()
    for name in ("jwks_uri", "token_endpoint", "introspection_endpoint", "events_endpoint"):
        assert document[name].startswith("https://id.quantagro.in/v1/"), document[name]


async def test_production_refuses_unknown_hosts_but_answers_health_probes(backend_settings):
    settings = backend_settings(
        environment="production",
        cookie_secure=True,
        public_url="https://id.quantagro.in",
        allowed_hosts=["internal.quantagro"],
    )
    async with running_app(settings) as app, client_for(app) as http:
        steered = await http.get("/.well-known/openid-configuration", headers={"Host": "evil.in"})
        assert steered.status_code == 400 and steered.json()["code"] == "invalid_host"
        for host in ("id.quantagro.in", "internal.quantagro:8001"):
            served = await http.get("/.well-known/openid-configuration", headers={"Host": host})
            assert served.status_code == 200
        probe = await http.get("/health/live", headers={"Host": "10.0.0.12:8001"})
        assert probe.status_code == 200


async def test_host_verdicts_stay_right_past_the_remembered_ones(backend_settings):
    """The edge remembers a verdict per Host header, a bounded number of them: hosts invented
    beyond the bound are still refused, and the served host is still served."""
    settings = backend_settings(
        environment="production",
        cookie_secure=True,
        public_url="https://id.quantagro.in",
    )
    async with running_app(settings) as app, client_for(app) as http:
        url = "/.well-known/openid-configuration"
        for n in range(300):
            invented = await http.get(url, headers={"Host": f"host-{n}.evil.in"})
            assert invented.status_code == 400, n
        for _ in range(2):
            assert (await http.get(url, headers={"Host": "host-299.evil.in"})).status_code == 400
            assert (await http.get(url, headers={"Host": "id.quantagro.in"})).status_code == 200


async def test_source_maps_are_never_served(backend_settings, tmp_path):
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<html>app</html>")
    (dist / "assets" / "index.js.map").write_text('{"sources": ["secret.ts"]}')
    async with running_app(backend_settings(frontend_dist=dist)) as app, client_for(app) as http:
        response = await http.get("/assets/index.js.map")
        assert response.status_code == 404 and "secret.ts" not in response.text


def test_the_build_emits_no_source_maps():
    config = (Path(__file__).resolve().parents[3] / "frontend" / "vite.config.ts").read_text()
    assert "sourcemap: false" in config


async def test_the_sqlite_file_is_created_owner_only(tmp_path):
    path = tmp_path / "fresh" / "user_service.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.connect() as connection:
        await connection.execute(text("CREATE TABLE t (x INTEGER)"))
    await engine.dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) & 0o077 == 0


async def test_rate_limit_keys_in_redis_hold_no_email_or_ip(client, app, backend):
    if backend.redis_url is None:
        pytest.skip("the embedded back-end keeps its counters in process")
    user = await register(client)
    await client.post("/v1/auth/login", json={"email": user.email, "password": "Wrong-Pass-1"})
    services = app.state.services
    redis = services.redis
    prefix = services.settings.redis_key_prefix
    keys = [key.decode() async for key in redis.scan_iter(match=f"{prefix}:rl:*")]
    assert len(keys) >= 2  # one per IP window, one per account window
    local_part = user.email.split("@")[0]
    assert not [key for key in keys if local_part in key or "203.0.113" in key]


# --- item 7: database errors never quote bound values ---------------------------------------


async def test_a_failed_statement_does_not_quote_its_parameters(backend):
    engine = create_engine(backend.database_url)
    secret_email = f"leak-{uuid.uuid4().hex[:8]}@example.com"
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text("INSERT INTO users (id, email) VALUES (:id, :email)"),
                {"id": "not-a-uuid", "email": secret_email},
            )
    except Exception as exc:
        message = str(exc)
    else:  # pragma: no cover - the insert misses NOT NULL columns on both back-ends
        raise AssertionError("the insert should have failed")
    finally:
        await engine.dispose()
    assert secret_email not in message


def test_log_lines_scrub_secrets_inside_exception_text():
    bcrypt_hash = "$2b$12$" + "a" * 53
    event = {
        "event": "unhandled_error",
        "exception": (
            "DETAIL: Key (email)=(bob@example.com) already exists. hash "
            f"{bcrypt_hash} token qrt_{'x' * 40} jwt eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl"
        ),
    }
    rendered = str(mask_sensitive(None, "error", event))
    for leaked in ("bob@example.com", bcrypt_hash, "qrt_xxxx", "eyJhbGciOi.eyJzdWIiOi"):
        assert leaked not in rendered


# --- chunked bodies over the limit ----------------------------------------------------------


@pytest.mark.parametrize("settings_overrides", [{"max_body_bytes": 2048}])
async def test_a_chunked_body_over_the_limit_is_413(client, settings_overrides):
    async def chunks():
        for _ in range(8):
            yield b'{"email": "' + b"a" * 1000

    response = await client.post(
        "/v1/auth/login", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


def test_log_text_masks_peoples_addresses_but_names_the_servers_own():
    rendered = mask_sensitive(
        None,
        "info",
        {"event": "Uvicorn running on http://127.0.0.1:8001; client 198.51.100.23 on 0.0.0.0"},
    )["event"]
    assert "http://127.0.0.1:8001" in rendered and "0.0.0.0" in rendered
    assert "198.51.100.23" not in rendered and "198.51.100.x" in rendered
