"""Review items 1 and 3: attempts are counted before the expensive check, atomically, and every
endpoint that checks a password shares one per-user budget (both back-ends)."""

import anyio
import pytest

from tests.fixtures.users import STRONG_PASSWORD, register, signed_in_user
from tests.oauth.support import ServiceCaller, create_client

pytestmark = pytest.mark.anyio

FIVE = {"rate_limit_login_account": "5 per 15 minutes"}
THREE = {"rate_limit_login_account": "3 per 15 minutes"}


async def _burst(count: int, call) -> list[int]:
    statuses: list[int] = []

    async def one() -> None:
        statuses.append((await call()).status_code)

    async with anyio.create_task_group() as tg:
        for _ in range(count):
            tg.start_soon(one)
    return statuses


@pytest.mark.parametrize("settings_overrides", [FIVE])
async def test_a_parallel_burst_of_wrong_passwords_gets_at_most_the_limit(
    client, settings_overrides
):
    user = await register(client)
    statuses = await _burst(
        25,
        lambda: client.post(
            "/v1/auth/login", json={"email": user.email, "password": "Wrong-Password-123"}
        ),
    )
    assert statuses.count(401) == 5
    assert statuses.count(429) == 20
    # The right password is refused too while the window is full: the budget is per account.
    right = await client.post(
        "/v1/auth/login", json={"email": user.email, "password": STRONG_PASSWORD}
    )
    assert right.status_code == 429


@pytest.mark.parametrize("settings_overrides", [FIVE])
async def test_unknown_addresses_are_limited_like_known_ones(client, settings_overrides):
    statuses = await _burst(
        12,
        lambda: client.post(
            "/v1/auth/login", json={"email": "nobody@example.com", "password": "Wrong-Password-1"}
        ),
    )
    assert sorted(statuses) == [401] * 5 + [429] * 7


@pytest.mark.parametrize("settings_overrides", [FIVE])
async def test_successful_sign_ins_do_not_fill_the_window(client, settings_overrides):
    user = await register(client)
    for _ in range(8):
        response = await client.post(
            "/v1/auth/login", json={"email": user.email, "password": STRONG_PASSWORD}
        )
        assert response.status_code == 200


@pytest.mark.parametrize("settings_overrides", [THREE])
async def test_deactivation_is_not_an_unthrottled_password_oracle(client, settings_overrides):
    user = await signed_in_user(client)
    statuses = await _burst(
        10,
        lambda: client.post(
            "/v1/users/me/deactivate", json={"password": "Wrong-Password-123"}, headers=user.headers
        ),
    )
    assert statuses.count(429) == 7 and len(statuses) == 10
    assert (await client.get("/v1/users/me", headers=user.headers)).json()["status"] == "active"


@pytest.mark.parametrize("settings_overrides", [THREE])
async def test_every_password_check_draws_on_one_budget_per_user(client, settings_overrides):
    user = await signed_in_user(client)
    wrong = "Wrong-Password-123"
    change = await client.post(
        "/v1/auth/password/change",
        json={"current_password": wrong, "new_password": "Another-Strong-Pass-77"},
        headers=user.headers,
    )
    deactivate = await client.post(
        "/v1/users/me/deactivate", json={"password": wrong}, headers=user.headers
    )
    login = await client.post("/v1/auth/login", json={"email": user.email, "password": wrong})
    assert (change.status_code, deactivate.status_code, login.status_code) == (400, 400, 401)
    # Three failures across three endpoints: the fourth check anywhere is refused unheard.
    again = await client.post(
        "/v1/users/me/deactivate", json={"password": STRONG_PASSWORD}, headers=user.headers
    )
    assert again.status_code == 429
    assert again.json()["code"] == "rate_limited"
    assert int(again.headers["retry-after"]) > 0


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_client_auth": "4 per 5 minutes"}])
async def test_a_parallel_burst_of_wrong_client_secrets_gets_at_most_the_limit(
    client, app, settings_overrides
):
    await create_client(app, "burst_client", ["authz:check"])
    wrong = ServiceCaller("burst_client", "qcs_wrong-secret-wrong-secret-wrong")
    statuses = await _burst(
        12,
        lambda: client.post(
            "/v1/oauth/token", data={"grant_type": "client_credentials"}, headers=wrong.basic
        ),
    )
    assert statuses.count(401) == 4 and statuses.count(429) == 8


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_client_auth": "4 per 5 minutes"}])
async def test_successful_client_authentications_give_their_attempt_back(
    client, app, settings_overrides
):
    caller = ServiceCaller("busy_client", await create_client(app, "busy_client", ["authz:check"]))
    for _ in range(8):
        response = await client.post(
            "/v1/oauth/token", data={"grant_type": "client_credentials"}, headers=caller.basic
        )
        assert response.status_code == 200
