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
