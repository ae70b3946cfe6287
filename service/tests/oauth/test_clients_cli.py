"""`user-service clients create|rotate-secret|list`: a secret is shown once, on the last line."""

import uuid

import pytest

from tests.oauth.support import ServiceCaller, request_token

pytestmark = pytest.mark.anyio


async def test_create_prints_the_secret_once_on_the_last_line(client, cli):
    name = f"risk_{uuid.uuid4().hex[:6]}"
    result = await cli(
        "clients", "create", name, "--scope", "profile:read", "--scope", "authz:check"
    )
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    secret = lines[-1]
    assert secret.startswith("qcs_") and " " not in secret
    assert all("qcs_" not in line for line in lines[:-1])
    response = await request_token(client, ServiceCaller(name, secret))
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "profile:read authz:check"

    listed = await cli("clients", "list")
    assert listed.exit_code == 0
    assert name in listed.output and "qcs_" not in listed.output


async def test_rotate_secret_replaces_the_old_one(client, cli):
    first = (
        (await cli("clients", "rotate-secret", "calendar_service")).output.strip().splitlines()[-1]
    )
    second = await cli("clients", "rotate-secret", "calendar_service")
    assert second.exit_code == 0
    new = second.output.strip().splitlines()[-1]
    assert new.startswith("qcs_") and new != first
    assert (
        await request_token(client, ServiceCaller("calendar_service", first))
    ).status_code == 401
    assert (await request_token(client, ServiceCaller("calendar_service", new))).status_code == 200


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("clients", "create", "bad name!", "--scope", "profile:read"), "client name"),
        (("clients", "create", "good_name_x", "--scope", "alertz:read"), "Unknown scope"),
        (("clients", "create", "ticker_service", "--scope", "profile:read"), "exists"),
        (("clients", "rotate-secret", "no_such_client"), "No client"),
    ],
)
async def test_bad_commands_exit_1_with_a_message(cli, args, message):
    result = await cli(*args)
    assert result.exit_code == 1
    assert message in result.output
    assert "qcs_" not in result.output
