"""The last factor stays while policy requires MFA: every holder of a role in
``MFA_REQUIRED_ROLES`` (here ``user``), or everyone under ``RISKY_SIGN_IN_POLICY=require_mfa``."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.users import signed_in_user
from tests.mfa.authenticator import SoftAuthenticator
from tests.mfa.helpers import controlled_clock, enable_mfa
from tests.mfa.test_passkeys import register_passkey

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    "settings_overrides",
    [{"mfa_required_roles": ["user"]}, {"risky_sign_in_policy": "require_mfa"}],
    ids=["role", "risky-sign-in-policy"],
)
async def test_the_last_factor_cannot_be_removed_while_policy_requires_mfa(
    client, settings_overrides: dict[str, Any]
):
    user = await signed_in_user(client)
    with controlled_clock() as clock:
        await enable_mfa(client, user, clock)
        listed = (await client.get("/v1/mfa/factors", headers=user.headers)).json()
        assert listed["mfa_required"] is True
        only = listed["factors"][0]["id"]
        refused = await client.delete(f"/v1/mfa/factors/{only}", headers=user.headers)
        assert refused.status_code == 409
        assert refused.json()["code"] == "last_factor"
        disable = await client.post(
            "/v1/mfa/totp/disable", json={"password": user.password}, headers=user.headers
        )
        assert disable.status_code == 409
        assert disable.json()["code"] == "last_factor"

        # With a second factor, either one may go — but not both.
        assert (await register_passkey(client, user, SoftAuthenticator())).status_code == 200
        assert (
            await client.delete(f"/v1/mfa/factors/{only}", headers=user.headers)
        ).status_code == 200
        passkey = (await client.get("/v1/mfa/factors", headers=user.headers)).json()["factors"]
        assert [f["type"] for f in passkey] == ["passkey"]
        last = await client.delete(f"/v1/mfa/factors/{passkey[0]['id']}", headers=user.headers)
        assert last.json()["code"] == "last_factor"
