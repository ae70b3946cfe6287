import pytest

from tests.conftest import client_for, running_app
from tests.fixtures.users import signed_in_user

pytestmark = pytest.mark.anyio


async def test_liveness_and_readiness(client, backend):
    assert (await client.get("/health/live")).json() == {"status": "ok"}
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    checks = ready.json()["checks"]
    assert checks["database"] == "ok"
    if backend.redis_url:
        assert checks["redis"] == "ok"
    else:
        assert "redis" not in checks


async def test_readiness_reports_redis_down_and_limits_still_apply(backend_settings, backend):
    if backend.redis_url is None:
        pytest.skip("the embedded back-end has no Redis to lose")
    settings = backend_settings(
        redis_url="redis://127.0.0.1:1/0", rate_limit_register_ip="2 per hour"
    )
    async with running_app(settings) as app, client_for(app) as http:
        ready = (await http.get("/health/ready")).json()
        assert ready["status"] == "degraded" and ready["checks"]["redis"] == "down"
        statuses = []
        for index in range(3):
            response = await http.post(
                "/v1/auth/register",
                json={
                    "email": f"down{index}-{id(http)}@example.com",
                    "password": "Correct-Horse-Battery-9",
                    "name": "D",
                },
            )
            statuses.append(response.status_code)
        assert statuses == [201, 201, 429]  # in-process fallback: never unlimited


async def test_metrics_use_route_templates(client):
    user = await signed_in_user(client)
    await client.get("/v1/users/me", headers=user.headers)
    await client.delete(
        "/v1/auth/sessions/00000000-0000-0000-0000-000000000000", headers=user.headers
    )
    text = (await client.get("/metrics")).text
    assert (
        'user_service_http_requests_total{method="GET",route="/v1/users/me",status="200"}' in text
    )
    assert 'route="/v1/auth/sessions/{session_id}"' in text
    assert "00000000-0000" not in text
    assert "user_service_http_request_duration_seconds_bucket" in text


_DOCUMENT_ONLY = ("referrer-policy", "cross-origin-opener-policy", "permissions-policy")


async def test_security_headers_on_every_json_answer(client):
    """A JSON answer gets the OWASP REST set, its CSP allowing nothing at all."""
    for response in (
        await client.get("/health/live"),
        await client.get("/v1/does-not-exist"),
        await client.post("/v1/auth/login", json={}),
    ):
        assert response.headers["content-type"].startswith("application/json")
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        csp = response.headers["content-security-policy"]
        assert csp == "default-src 'none'; frame-ancestors 'none'"
        assert not [name for name in _DOCUMENT_ONLY if name in response.headers]


async def test_documents_get_the_full_set_of_security_headers(backend_settings, tmp_path):
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "index.html").write_text("<html>app</html>")
    settings = backend_settings(frontend_dist=dist, cookie_secure=True)
    async with running_app(settings) as app, client_for(app) as http:
        for response in (await http.get("/"), await http.get("/metrics")):
            assert response.status_code == 200
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["x-frame-options"] == "DENY"
            assert response.headers["referrer-policy"] == "no-referrer"
            assert response.headers["cross-origin-opener-policy"] == "same-origin"
            assert "camera=()" in response.headers["permissions-policy"]
            csp = response.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
            assert "max-age=31536000" in response.headers["strict-transport-security"]


@pytest.mark.parametrize("settings_overrides", [{"cors_origins": ["https://app.quantagro.in"]}])
async def test_cors_allows_only_configured_origins_with_credentials(client, settings_overrides):
    allowed = await client.options(
        "/v1/auth/refresh",
        headers={"Origin": "https://app.quantagro.in", "Access-Control-Request-Method": "POST"},
    )
    assert allowed.headers["access-control-allow-origin"] == "https://app.quantagro.in"
    assert allowed.headers["access-control-allow-credentials"] == "true"
    denied = await client.options(
        "/v1/auth/refresh",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in denied.headers


@pytest.mark.parametrize("settings_overrides", [{"cors_origins": ["https://app.quantagro.in"]}])
async def test_simple_requests_get_cors_headers_only_with_an_origin_and_always_vary(
    client, settings_overrides
):
    """The edge hands only requests with an Origin to CORS; every answer says Vary: Origin."""
    plain = await client.get("/health/live")
    assert plain.headers["vary"] == "Origin"
    assert "access-control-allow-origin" not in plain.headers
    allowed = await client.get("/health/live", headers={"Origin": "https://app.quantagro.in"})
    assert allowed.headers["access-control-allow-origin"] == "https://app.quantagro.in"
    assert allowed.headers["access-control-allow-credentials"] == "true"
    assert allowed.headers["vary"] == "Origin"
    other = await client.get("/health/live", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers and other.headers["vary"] == "Origin"


def test_an_endpoints_own_vary_is_joined_with_origin_in_one_header():
    from user_service.edge import _vary_origin

    assert _vary_origin([(b"content-type", b"text/plain")], False) == [
        (b"content-type", b"text/plain"),
        (b"vary", b"Origin"),
    ]
    assert _vary_origin([(b"Vary", b"Accept-Encoding"), (b"x", b"1")], True) == [
        (b"x", b"1"),
        (b"vary", b"Accept-Encoding, Origin"),
    ]


async def test_discovery_document_matches_the_issuer_and_jwks(client):
    document = (await client.get("/.well-known/openid-configuration")).json()
    assert document["issuer"] == "user_service"
    assert document["jwks_uri"].endswith("/v1/.well-known/jwks.json")
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]
    assert document["token_endpoint"].endswith("/v1/oauth/token")
    jwks = (await client.get("/v1/.well-known/jwks.json")).json()
    assert jwks == (await client.get("/v1/auth/.well-known/jwks.json")).json()


@pytest.mark.parametrize("settings_overrides", [{"jwt_issuer": "https://id.quantagro.in"}])
async def test_the_issuer_is_configurable(client, settings_overrides):
    import jwt

    document = (await client.get("/.well-known/openid-configuration")).json()
    assert document["issuer"] == "https://id.quantagro.in"
    user = await signed_in_user(client)
    assert (
        jwt.decode(user.access_token, options={"verify_signature": False})["iss"]
        == document["issuer"]
    )


async def test_unknown_routes_and_methods_get_json_errors(client):
    missing = await client.get("/v1/does-not-exist")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    wrong = await client.put("/v1/auth/login")
    assert wrong.status_code == 405 and wrong.json()["code"] == "method_not_allowed"


async def test_the_spa_is_served_with_a_fallback_for_client_routes(backend_settings, tmp_path):
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<html>app</html>")
    (dist / "assets" / "app.js").write_text("console.log(1)")
    async with running_app(backend_settings(frontend_dist=dist)) as app, client_for(app) as http:
        assert (await http.get("/")).text == "<html>app</html>"
        assert (await http.get("/security")).text == "<html>app</html>"
        asset = await http.get("/assets/app.js")
        assert asset.text == "console.log(1)" and "immutable" in asset.headers["cache-control"]
        traversal = await http.get("/../../etc/passwd")
        assert "root:" not in traversal.text  # at most the SPA's index, never a file outside dist
        assert "root:" not in (await http.get("/..%2f..%2fetc/passwd")).text
        assert (await http.get("/v1/nope")).json()["code"] == "not_found"


async def test_each_request_gets_its_own_request_id_or_keeps_a_sane_one(client):
    first = (await client.get("/health/live")).headers["x-request-id"]
    second = (await client.get("/health/live")).headers["x-request-id"]
    assert first != second and len(first) == len(second) == 16
    kept = await client.get("/health/live", headers={"X-Request-ID": "trace-abcdef123"})
    assert kept.headers["x-request-id"] == "trace-abcdef123"
    odd = await client.get("/health/live", headers={"X-Request-ID": "no spaces allowed"})
    assert odd.headers["x-request-id"] != "no spaces allowed"
