"""``user-service users create-admin EMAIL``: create (password policy applies) or promote."""

import pytest

from tests.fixtures.users import STRONG_PASSWORD, login, register, unique_email
from tests.fixtures.users import TestUser as Account

pytestmark = pytest.mark.anyio


async def test_creates_an_admin_who_can_use_the_admin_api(client, cli):
    email = unique_email("root")
    result = await cli("users", "create-admin", email, "--password", STRONG_PASSWORD)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("created")
    admin = Account("", email, STRONG_PASSWORD)
    await login(client, admin)
    response = await client.get("/v1/admin/users", params={"q": email}, headers=admin.headers)
    assert response.status_code == 200
    [item] = response.json()["items"]
    assert item["roles"] == ["admin", "user"] and item["email_verified"] is True


async def test_prompts_for_the_password_and_applies_the_policy(client, cli):
    email = unique_email("root")
    weak = await cli("users", "create-admin", email, input="short\nshort\n")
    assert weak.exit_code == 1
    assert "password policy" in weak.output
    strong = await cli(
        "users", "create-admin", email, input=f"{STRONG_PASSWORD}\n{STRONG_PASSWORD}\n"
    )
    assert strong.exit_code == 0, strong.output
    await login(client, Account("", email, STRONG_PASSWORD))


async def test_promotes_an_existing_user_without_touching_the_password(client, cli):
    user = await register(client)
    result = await cli("users", "create-admin", user.email, "--password", "Another-Pass-123!")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("promoted")
    assert "password was left unchanged" in result.output
    await login(client, user)
    me = await client.get("/v1/users/me", headers=user.headers)
    assert me.json()["roles"] == ["admin", "user"]


async def test_refuses_a_malformed_email(cli):
    result = await cli("users", "create-admin", "not-an-email", "--password", STRONG_PASSWORD)
    assert result.exit_code == 1
