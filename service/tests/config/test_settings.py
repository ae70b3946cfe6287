import pytest
from pydantic import ValidationError

from user_service.config import Settings


def settings(**values):
    return Settings(_env_file=None, **values)


def test_links_point_at_this_server_unless_frontend_url_is_set():
    assert settings(port=8099).frontend_url == "http://127.0.0.1:8099"
    assert settings(host="0.0.0.0", port=9000).frontend_url == "http://127.0.0.1:9000"
    assert settings(port=8099, frontend_url="https://app.quantagro.in").frontend_url == (
        "https://app.quantagro.in"
    )


def test_plain_postgres_and_sqlite_urls_get_async_drivers():
    assert settings(database_url="postgresql://u@h/db").database_url.startswith(
        "postgresql+asyncpg://"
    )
    assert settings(database_url="sqlite:///x.db").database_url == "sqlite+aiosqlite:///x.db"


@pytest.mark.parametrize(
    ("field", "value", "hint"),
    [
        ("trusted_proxies", "not-an-ip", "TRUSTED_PROXIES"),
        ("cors_origins", "*", "CORS_ORIGINS"),
        ("cors_origins", "https://app.example.com/", "CORS_ORIGINS"),
        ("database_url", "mysql://x", "DATABASE_URL"),
        ("redis_url", "http://x", "REDIS_URL"),
    ],
)
def test_bad_values_say_how_to_fix_them(field, value, hint):
    with pytest.raises(ValidationError) as error:
        settings(**{field: value})
    assert hint in str(error.value)


def test_insecure_cookies_are_refused_in_production():
    with pytest.raises(ValidationError, match="COOKIE_SECURE"):
        settings(environment="production", cookie_secure=False)


def test_passkeys_work_on_the_embedded_default_through_localhost():
    """Browsers refuse an IP address as a WebAuthn RP id: ``make run``'s 127.0.0.1 console
    gets ``localhost`` as its RP id, and the localhost twin of its origin is accepted."""
    embedded = settings(port=8001)
    assert embedded.webauthn_rp == "localhost"
    assert embedded.webauthn_expected_origins == ["http://127.0.0.1:8001", "http://localhost:8001"]
    assert {"http://127.0.0.1:8001", "http://localhost:8001"} <= embedded.allowed_origins
    assert "http://localhost:8002" not in embedded.allowed_origins


def test_a_named_host_is_its_own_rp_id_and_gets_no_twin():
    deployed = settings(
        frontend_url="https://app.quantagro.in", public_url="https://id.quantagro.in"
    )
    assert deployed.webauthn_rp == "app.quantagro.in"
    assert deployed.webauthn_expected_origins == [
        "https://app.quantagro.in",
        "https://id.quantagro.in",
    ]
    assert deployed.allowed_origins == {"https://app.quantagro.in"}


def test_make_run_on_localhost_gives_passkeys_and_google_one_address():
    """README: ``FRONTEND_URL=http://localhost:8001`` under ``make run`` (127.0.0.1:8001)."""
    local = settings(port=8001, frontend_url="http://localhost:8001")
    assert local.public_url == "http://127.0.0.1:8001"
    assert local.webauthn_rp == "localhost"
    assert "http://localhost:8001" in local.webauthn_expected_origins
    assert "http://localhost:8001" in local.allowed_origins


def test_a_parent_domain_rp_id_serves_every_subdomain():
    shared = settings(
        frontend_url="https://app.quantagro.in",
        webauthn_rp_id=" Quantagro.IN ",
        webauthn_origins="https://app.quantagro.in,https://id.quantagro.in",
    )
    assert shared.webauthn_rp == "quantagro.in"
    assert shared.webauthn_expected_origins == [
        "https://app.quantagro.in",
        "https://id.quantagro.in",
    ]
    local = settings(port=8001, webauthn_rp_id="localhost")
    assert local.webauthn_rp == "localhost"


@pytest.mark.parametrize(
    ("values", "hint"),
    [
        ({"webauthn_rp_id": "127.0.0.1"}, "IP address"),
        ({"webauthn_rp_id": "::1"}, "WEBAUTHN_RP_ID"),
        ({"webauthn_rp_id": "https://quantagro.in"}, "no scheme"),
        ({"webauthn_rp_id": "quantagro.in:443"}, "no scheme"),
        ({"webauthn_origins": "http://app.quantagro.in"}, "https"),
        ({"webauthn_origins": "https://app.quantagro.in/login"}, "no path"),
        ({"webauthn_origins": "app.quantagro.in"}, "WEBAUTHN_ORIGINS"),
        (
            {
                "frontend_url": "https://app.quantagro.in",
                "webauthn_origins": "https://evil.example",
            },
            "relying-party id",
        ),
        (
            {"frontend_url": "https://app.quantagro.in", "webauthn_rp_id": "other.example"},
            "parent domain",
        ),
        (
            # A suffix that is not a parent domain: "xquantagro.in" is not under "quantagro.in".
            {
                "frontend_url": "https://xquantagro.in",
                "webauthn_rp_id": "quantagro.in",
                "webauthn_origins": "https://xquantagro.in",
            },
            "relying-party id",
        ),
    ],
)
def test_passkey_settings_that_could_never_work_are_refused_at_start(values, hint):
    with pytest.raises(ValidationError) as error:
        settings(**values)
    assert hint in str(error.value)


def test_database_time_limits_are_settings_with_the_production_defaults():
    defaults = settings()
    assert (
        defaults.db_connect_timeout_seconds,
        defaults.db_pool_timeout_seconds,
        defaults.db_statement_timeout_seconds,
    ) == (2.0, 2.0, 5.0)
    with pytest.raises(ValidationError):
        settings(db_statement_timeout_seconds=0)


def test_a_slow_redis_call_gives_up_after_half_a_second_by_default():
    assert settings().redis_timeout_seconds == 0.5
    with pytest.raises(ValidationError):
        settings(redis_timeout_seconds=0)
