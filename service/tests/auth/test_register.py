import anyio
import pytest

from tests.fixtures.users import STRONG_PASSWORD, register, unique_email

pytestmark = pytest.mark.anyio


async def test_register_normalises_email_and_returns_the_user(client):
    email = unique_email()
    response = await client.post(
        "/v1/auth/register",
        json={"email": f"  {email.upper()} ", "password": STRONG_PASSWORD, "name": "Asha"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["email"] == email
    assert body["status"] == "active"
    assert set(body) == {"user_id", "email", "name", "status"}


async def test_duplicate_email_in_any_case_is_409(client):
    user = await register(client)
    response = await client.post(
        "/v1/auth/register",
        json={"email": user.email.upper(), "password": STRONG_PASSWORD, "name": "Twin"},
    )
    assert response.status_code == 409
    assert response.json()["code"] == "email_already_registered"


@pytest.mark.parametrize(
    ("password", "violation"),
    [
        ("Short-1a", "too_short"),
        ("alllowercase-and-long-1", "missing_uppercase"),
        ("ALLUPPERCASE-AND-LONG-1", "missing_lowercase"),
        ("No-Digits-In-Here-At-All", "missing_digit"),
        ("NoSpecials1234567abc", "missing_special"),
        ("Password123!", "too_guessable"),
    ],
)
async def test_weak_passwords_are_refused_with_the_rule_that_failed(client, password, violation):
    response = await client.post(
        "/v1/auth/register", json={"email": unique_email(), "password": password, "name": "W"}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "weak_password"
    assert violation in {error["code"] for error in body["errors"]}


async def test_long_unicode_passwords_are_kept_whole(client):
    # 130 characters, > 72 bytes in UTF-8: bcrypt alone would ignore the tail.
    password = "Ünïcødé-Pässwörd-9-" + "ж" * 100 + "-Tail-A1"
    user = await register(client, password=password)
    ok = await client.post("/v1/auth/login", json={"email": user.email, "password": password})
    assert ok.status_code == 200
    wrong_tail = password[:-1] + "B"
    bad = await client.post("/v1/auth/login", json={"email": user.email, "password": wrong_tail})
    assert bad.status_code == 401


async def test_nfkc_equivalent_passwords_match(client):
    composed = "Caf\u00e9-Strong-Pass-42"
    decomposed = "Cafe\u0301-Strong-Pass-42"
    user = await register(client, password=composed)
    response = await client.post(
        "/v1/auth/login", json={"email": user.email, "password": decomposed}
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "payload",
    [
        {"email": "not-an-email", "password": STRONG_PASSWORD, "name": "X"},
        {"email": "a@example.com", "password": STRONG_PASSWORD},
        {"email": "a@example.com", "password": STRONG_PASSWORD, "name": "X", "role": "admin"},
        {"email": ["a@example.com"], "password": STRONG_PASSWORD, "name": "X"},
        {"email": "a@example.com", "password": STRONG_PASSWORD, "name": "x" * 1_000},
        {
            "email": "a@example.com",
            "password": STRONG_PASSWORD,
            "name": "X",
            "timezone": "Mars/Base",
        },
        {"email": "a@example.com'; DROP TABLE users;--", "password": STRONG_PASSWORD, "name": "X"},
    ],
)
async def test_invalid_payloads_are_422_with_field_errors(client, payload):
    response = await client.post("/v1/auth/register", json=payload)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error"
    assert body["errors"] and all("field" in error for error in body["errors"])


async def test_malformed_json_and_huge_bodies_are_4xx(client):
    response = await client.post(
        "/v1/auth/register", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_json"
    huge = {"email": "a@example.com", "password": STRONG_PASSWORD, "name": "x" * 1_100_000}
    response = await client.post("/v1/auth/register", json=huge)
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


async def test_fifty_concurrent_registrations_of_one_email_give_one_201(client):
    email = unique_email("race")
    statuses: list[int] = []

    async def attempt() -> None:
        response = await client.post(
            "/v1/auth/register", json={"email": email, "password": STRONG_PASSWORD, "name": "R"}
        )
        statuses.append(response.status_code)

    async with anyio.create_task_group() as tg:
        for _ in range(50):
            tg.start_soon(attempt)
    assert sorted(statuses) == [201] + [409] * 49


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_register_ip": "3 per hour"}])
async def test_registration_is_rate_limited_per_ip(client, settings_overrides):
    for _ in range(3):
        await register(client)
    response = await client.post(
        "/v1/auth/register",
        json={"email": unique_email(), "password": STRONG_PASSWORD, "name": "X"},
    )
    assert response.status_code == 429
    assert response.json()["code"] == "rate_limited"
    assert int(response.headers["retry-after"]) > 0
