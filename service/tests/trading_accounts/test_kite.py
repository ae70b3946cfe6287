import hashlib
import logging
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from tests.standins.kite import KiteApp, KiteStandinState, running_kite_standin
from user_service.trading_accounts.brokers.base import (
    Broker,
    BrokerAuthError,
    BrokerError,
    BrokerInputError,
    BrokerRejected,
    BrokerTimeout,
    BrokerUnavailable,
)
from user_service.trading_accounts.brokers.kite import (
    IST,
    KiteConnectBroker,
    kite_checksum,
    next_kite_expiry,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
async def kite(kite_url: str) -> AsyncIterator[KiteConnectBroker]:
    async with KiteConnectBroker(kite_url, f"{kite_url}/connect/login", timeout=2.0) as broker:
        yield broker


async def browser_login(kite: KiteConnectBroker, app: KiteApp) -> dict[str, list[str]]:
    """Open the login URL as a browser would and return the redirect's query."""
    async with httpx.AsyncClient() as browser:
        response = await browser.get(kite.login_url(app.api_key, {"account": "42"}))
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(app.redirect_url)
    return parse_qs(urlsplit(location).query)


# --- login URL and exchange -------------------------------------------------------------------


async def test_adapter_satisfies_the_broker_protocol(kite: KiteConnectBroker) -> None:
    assert isinstance(kite, Broker)
    assert kite.name == "kite"


def test_login_url_matches_kite() -> None:
    broker = KiteConnectBroker()
    assert broker.login_url("abc123") == "https://kite.zerodha.com/connect/login?v=3&api_key=abc123"


def test_login_url_carries_redirect_params() -> None:
    url = KiteConnectBroker().login_url("abc123", {"account": "7", "x": "a b"})
    query = parse_qs(urlsplit(url).query)
    assert query["redirect_params"] == ["account=7&x=a+b"]


def test_checksum_is_sha256_of_key_token_secret() -> None:
    assert kite_checksum("key", "token", "secret") == hashlib.sha256(b"keytokensecret").hexdigest()


async def test_browser_login_then_exchange_yields_a_working_session(
    kite: KiteConnectBroker, kite_app: KiteApp
) -> None:
    query = await browser_login(kite, kite_app)
    assert query["status"] == ["success"] and query["action"] == ["login"]
    assert query["account"] == ["42"]

    session = await kite.exchange_request_token(
        kite_app.api_key, kite_app.api_secret, query["request_token"][0]
    )
    assert session.user_id == kite_app.user_id
    assert session.user_name == kite_app.user_name
    assert session.expires_at.tzinfo is not None
    assert session.expires_at == next_kite_expiry(datetime.now(UTC))
    assert session.expires_at.astimezone(IST).hour == 6
    assert session.access_token not in repr(session)

    profile = await kite.fetch_profile(kite_app.api_key, session.access_token)
    assert profile.user_id == kite_app.user_id
    assert profile.broker == "kite"


async def test_wrong_secret_is_rejected_as_auth_error(
    kite: KiteConnectBroker, kite_app: KiteApp, kite_state: KiteStandinState
) -> None:
    token = kite_state.issue_request_token(kite_app.api_key)
    with pytest.raises(BrokerAuthError) as caught:
        await kite.exchange_request_token(kite_app.api_key, "wrong-secret-value", token)
    error = caught.value
    assert error.error_type == "TokenException"
    assert error.status_code == 400 and error.code == "broker_auth_failed"
    assert error.body()["error_type"] == "TokenException"
    assert "checksum" in error.message
    assert "wrong-secret-value" not in str(error) + repr(error)


async def test_request_token_is_single_use(
    kite: KiteConnectBroker, kite_app: KiteApp, kite_state: KiteStandinState
) -> None:
    token = kite_state.issue_request_token(kite_app.api_key)
    await kite.exchange_request_token(kite_app.api_key, kite_app.api_secret, token)
    with pytest.raises(BrokerAuthError, match="invalid or has expired"):
        await kite.exchange_request_token(kite_app.api_key, kite_app.api_secret, token)


async def test_unissued_request_token_is_rejected(
    kite: KiteConnectBroker, kite_app: KiteApp
) -> None:
    with pytest.raises(BrokerAuthError):
        await kite.exchange_request_token(kite_app.api_key, kite_app.api_secret, "never-issued")


async def test_session_exchange_is_not_retried_on_rejection(
    kite: KiteConnectBroker, kite_app: KiteApp, kite_state: KiteStandinState
) -> None:
    before = kite_state.api_calls("/session/token")
    with pytest.raises(BrokerAuthError):
        await kite.exchange_request_token(kite_app.api_key, "bad", "never-issued")
    assert kite_state.api_calls("/session/token") == before + 1


# --- profile ----------------------------------------------------------------------------------


async def test_profile_with_valid_token(
    kite: KiteConnectBroker, kite_app: KiteApp, kite_state: KiteStandinState
) -> None:
    token = kite_state.issue_access_token(kite_app.api_key)
    profile = await kite.fetch_profile(kite_app.api_key, token)
    assert (profile.user_id, profile.user_name) == (kite_app.user_id, kite_app.user_name)
    assert profile.email == kite_app.email


async def test_expired_token_is_an_auth_error_and_not_retried(
    kite: KiteConnectBroker, kite_app: KiteApp, kite_state: KiteStandinState
) -> None:
    token = kite_state.issue_access_token(kite_app.api_key)
    kite_state.expire_tokens(kite_app.api_key)
    before = kite_state.api_calls("/user/profile")
    with pytest.raises(BrokerAuthError) as caught:
        await kite.fetch_profile(kite_app.api_key, token)
    assert caught.value.error_type == "TokenException"
    assert caught.value.broker_status == 403
    assert token not in str(caught.value)
    assert kite_state.api_calls("/user/profile") == before + 1


async def test_token_of_another_app_is_rejected(
    kite: KiteConnectBroker, kite_app: KiteApp, kite_state: KiteStandinState
) -> None:
    other = kite_state.register_app()
    token = kite_state.issue_access_token(other.api_key)
    with pytest.raises(BrokerAuthError):
        await kite.fetch_profile(kite_app.api_key, token)


@pytest.mark.parametrize("bad", ["", "has space", "a:b", "x" * 600, "tab\there", "é"])
async def test_malformed_credentials_never_leave_the_process(
    kite: KiteConnectBroker, kite_app: KiteApp, kite_state: KiteStandinState, bad: str
) -> None:
    before = len(kite_state.calls)
    with pytest.raises(BrokerInputError) as caught:
        await kite.fetch_profile(kite_app.api_key, bad)
    assert caught.value.error_type is None
    if bad:
        assert bad not in str(caught.value)
    assert len(kite_state.calls) == before


# --- faults -----------------------------------------------------------------------------------


async def test_slow_broker_times_out_within_the_bound(
    kite_url: str, kite_app: KiteApp, kite_state: KiteStandinState
) -> None:
    token = kite_state.issue_access_token(kite_app.api_key)
    kite_state.delay = 3.0
    async with KiteConnectBroker(kite_url, timeout=0.3) as kite:
        started = time.monotonic()
        with pytest.raises(BrokerTimeout) as caught:
            await kite.fetch_profile(kite_app.api_key, token)
        elapsed = time.monotonic() - started
    assert 0.25 < elapsed < 1.0
    assert caught.value.status_code == 504 and caught.value.code == "broker_timeout"
    assert isinstance(caught.value, BrokerUnavailable)


async def test_slow_session_exchange_times_out(
    kite_url: str, kite_app: KiteApp, kite_state: KiteStandinState
) -> None:
    request_token = kite_state.issue_request_token(kite_app.api_key)
    kite_state.delay = 3.0
    async with KiteConnectBroker(kite_url, timeout=0.3) as kite:
        started = time.monotonic()
        with pytest.raises(BrokerTimeout):
            await kite.exchange_request_token(kite_app.api_key, kite_app.api_secret, request_token)
        assert time.monotonic() - started < 1.0


async def test_broker_5xx_is_unavailable(
    kite: KiteConnectBroker, kite_app: KiteApp, kite_state: KiteStandinState
) -> None:
    token = kite_state.issue_access_token(kite_app.api_key)
    kite_state.fail_status = 503
    before = kite_state.api_calls("/user/profile")
    with pytest.raises(BrokerUnavailable) as caught:
        await kite.fetch_profile(kite_app.api_key, token)
    assert caught.value.status_code == 502 and caught.value.code == "broker_unavailable"
    assert caught.value.error_type == "NetworkException"
    assert kite_state.api_calls("/user/profile") == before + 1  # no retry on an answer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_broker_down_is_unavailable_quickly() -> None:
    async with KiteConnectBroker(f"http://127.0.0.1:{free_port()}", timeout=2.0) as kite:
        started = time.monotonic()
        with pytest.raises(BrokerUnavailable) as caught:
            await kite.fetch_profile("kk_key", "tok")
        assert time.monotonic() - started < 1.5
        assert not isinstance(caught.value, BrokerTimeout)
        assert caught.value.status_code == 502
        with pytest.raises(BrokerUnavailable):
            await kite.exchange_request_token("kk_key", "secret", "rt")


async def test_stopped_standin_is_unavailable() -> None:
    with running_kite_standin() as (url, state):
        app = state.register_app()
        token = state.issue_access_token(app.api_key)
        async with KiteConnectBroker(url, timeout=2.0) as kite:
            assert (await kite.fetch_profile(app.api_key, token)).user_id == app.user_id
    async with KiteConnectBroker(url, timeout=2.0) as kite:
        with pytest.raises(BrokerUnavailable):
            await kite.fetch_profile(app.api_key, token)


# --- retry policy and response mapping (mocked transport) -------------------------------------

API = "https://kite.test"


@respx.mock
async def test_get_is_retried_once_after_a_connection_error() -> None:
    route = respx.get(f"{API}/user/profile").mock(
        side_effect=[
            httpx.ConnectError("refused"),
            httpx.Response(200, json={"status": "success", "data": {"user_id": "AB1"}}),
        ]
    )
    async with KiteConnectBroker(API, timeout=2.0) as kite:
        assert (await kite.fetch_profile("k", "t")).user_id == "AB1"
    assert route.call_count == 2


@respx.mock
async def test_get_is_retried_at_most_once() -> None:
    route = respx.get(f"{API}/user/profile").mock(side_effect=httpx.ConnectError("refused"))
    async with KiteConnectBroker(API, timeout=2.0) as kite:
        with pytest.raises(BrokerUnavailable):
            await kite.fetch_profile("k", "t")
    assert route.call_count == 2


@respx.mock
async def test_post_is_never_retried() -> None:
    route = respx.post(f"{API}/session/token").mock(side_effect=httpx.ConnectError("refused"))
    async with KiteConnectBroker(API, timeout=2.0) as kite:
        with pytest.raises(BrokerUnavailable):
            await kite.exchange_request_token("k", "s", "r")
    assert route.call_count == 1


@respx.mock
async def test_requests_carry_kite_headers_and_checksum() -> None:
    token = respx.post(f"{API}/session/token").mock(
        return_value=httpx.Response(
            200,
            json={
                "status": "success",
                "data": {
                    "user_id": "AB1",
                    "access_token": "at",
                    "login_time": "2025-01-10 09:30:00",
                },
            },
        )
    )
    profile = respx.get(f"{API}/user/profile").mock(
        return_value=httpx.Response(200, json={"status": "success", "data": {"user_id": "AB1"}})
    )
    fixed_now = datetime(2025, 1, 10, 4, 0, tzinfo=UTC)  # 09:30 IST
    async with KiteConnectBroker(API, timeout=2.0, clock=lambda: fixed_now) as kite:
        session = await kite.exchange_request_token("key", "secret", "req")
        await kite.fetch_profile("key", "at")
    sent = token.calls.last.request
    assert sent.headers["X-Kite-Version"] == "3"
    assert parse_qs(sent.content.decode()) == {
        "api_key": ["key"],
        "request_token": ["req"],
        "checksum": [kite_checksum("key", "req", "secret")],
    }
    assert session.login_time == datetime(2025, 1, 10, 4, 0, tzinfo=UTC)
    assert session.expires_at == datetime(2025, 1, 11, 0, 30, tzinfo=UTC)
    got = profile.calls.last.request
    assert got.headers["Authorization"] == "token key:at"
    assert got.headers["X-Kite-Version"] == "3"


@pytest.mark.parametrize(
    ("status", "body", "expected", "code"),
    [
        (
            403,
            {"status": "error", "message": "m", "error_type": "TokenException"},
            BrokerAuthError,
            "broker_auth_failed",
        ),
        (
            400,
            {"status": "error", "message": "Missing x", "error_type": "InputException"},
            BrokerInputError,
            "broker_input_invalid",
        ),
        (
            403,
            {"status": "error", "message": "m", "error_type": "PermissionException"},
            BrokerRejected,
            "broker_rejected",
        ),
        (403, None, BrokerAuthError, "broker_auth_failed"),
        (
            429,
            {"status": "error", "message": "Too many", "error_type": "NetworkException"},
            BrokerUnavailable,
            "broker_unavailable",
        ),
        (
            500,
            {"status": "error", "message": "m", "error_type": "GeneralException"},
            BrokerUnavailable,
            "broker_unavailable",
        ),
        (502, None, BrokerUnavailable, "broker_unavailable"),
        (504, None, BrokerTimeout, "broker_timeout"),
        (200, {"status": "success", "data": {}}, BrokerUnavailable, "broker_unavailable"),
        (200, None, BrokerUnavailable, "broker_unavailable"),
    ],
)
@respx.mock
async def test_kite_answers_map_to_broker_errors(
    status: int, body: dict | None, expected: type[BrokerError], code: str
) -> None:
    response = httpx.Response(status, json=body) if body else httpx.Response(status, text="<html>")
    respx.get(f"{API}/user/profile").mock(return_value=response)
    async with KiteConnectBroker(API, timeout=2.0) as kite:
        with pytest.raises(expected) as caught:
            await kite.fetch_profile("k", "t")
    assert caught.value.code == code
    assert caught.value.body()["broker"] == "kite"


@respx.mock
async def test_broker_message_echoing_a_secret_is_scrubbed() -> None:
    respx.post(f"{API}/session/token").mock(
        return_value=httpx.Response(
            400,
            json={
                "status": "error",
                "message": "Bad request_token reqtok-12345 for secret topsecret-1",
                "error_type": "InputException",
            },
        )
    )
    async with KiteConnectBroker(API, timeout=2.0) as kite:
        with pytest.raises(BrokerInputError) as caught:
            await kite.exchange_request_token("key", "topsecret-1", "reqtok-12345")
    assert "topsecret-1" not in caught.value.message
    assert "reqtok-12345" not in caught.value.message
    assert "[redacted]" in caught.value.message


async def test_secrets_never_reach_the_logs(
    kite: KiteConnectBroker,
    kite_app: KiteApp,
    kite_state: KiteStandinState,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    request_token = kite_state.issue_request_token(kite_app.api_key)
    session = await kite.exchange_request_token(
        kite_app.api_key, kite_app.api_secret, request_token
    )
    await kite.fetch_profile(kite_app.api_key, session.access_token)
    kite_state.expire_tokens(kite_app.api_key)
    with pytest.raises(BrokerAuthError):
        await kite.fetch_profile(kite_app.api_key, session.access_token)
    logged = caplog.text
    checksum = kite_checksum(kite_app.api_key, request_token, kite_app.api_secret)
    for secret in (kite_app.api_secret, session.access_token, checksum, request_token):
        assert secret not in logged


# --- expiry -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("login", "expected"),
    [
        (datetime(2025, 1, 10, 9, 30, tzinfo=IST), datetime(2025, 1, 11, 6, 0, tzinfo=IST)),
        (datetime(2025, 1, 10, 23, 59, tzinfo=IST), datetime(2025, 1, 11, 6, 0, tzinfo=IST)),
        (datetime(2025, 1, 10, 5, 59, tzinfo=IST), datetime(2025, 1, 10, 6, 0, tzinfo=IST)),
        (datetime(2025, 1, 10, 6, 0, tzinfo=IST), datetime(2025, 1, 11, 6, 0, tzinfo=IST)),
        (datetime(2024, 12, 31, 12, 0, tzinfo=IST), datetime(2025, 1, 1, 6, 0, tzinfo=IST)),
    ],
)
def test_kite_tokens_expire_at_the_next_six_am_ist(login: datetime, expected: datetime) -> None:
    expiry = next_kite_expiry(login)
    assert expiry.tzinfo is UTC
    assert expiry == expected
    assert timedelta(0) < expiry - login <= timedelta(days=1)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        next_kite_expiry(datetime(2025, 1, 10, 9, 30))
