"""Several named factors, on both back-ends: list, rename, remove; the recent-authentication
rule; backup codes shared by all factors and the "few codes left" warning."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import httpx
import pytest
from sqlalchemy import select

from tests.fixtures.users import signed_in_user
from tests.mfa.authenticator import SoftAuthenticator
from tests.mfa.helpers import (
    Clock,
    controlled_clock,
    enable_mfa,
    mails_to,
    mfa_login,
    wait_for_mail,
)
from tests.mfa.test_passkeys import audit_types, passwordless, register_passkey
from user_service.models import OutboxEvent

if TYPE_CHECKING:
    from tests.fixtures.users import TestUser

pytestmark = pytest.mark.anyio


async def add_totp(
    client: httpx.AsyncClient, user: TestUser, clock: Clock, name: str
) -> tuple[str, list[str]]:
    setup = await client.post("/v1/mfa/totp/setup", json={"name": name}, headers=user.headers)
    assert setup.status_code == 200, setup.text
    secret = setup.json()["secret"]
    enabled = await client.post(
        "/v1/mfa/totp/enable", json={"code": clock.code(secret)}, headers=user.headers
    )
    assert enabled.status_code == 200, enabled.text
    return secret, enabled.json()["backup_codes"]


async def factors(client: httpx.AsyncClient, user: TestUser) -> dict[str, Any]:
    response = await client.get("/v1/mfa/factors", headers=user.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_several_named_authenticators_each_work_and_go_on_their_own(app, client):
    user = await signed_in_user(client)
    with controlled_clock() as clock:
        phone, codes = await add_totp(client, user, clock, "work phone")
        assert len(codes) == 10
        tablet, more = await add_totp(client, user, clock, "tablet")
        assert more == []  # backup codes come once, with the first factor
        authenticator = SoftAuthenticator()
        key = await register_passkey(client, user, authenticator, name="YubiKey")
        assert key.json()["backup_codes"] == []

        listed = await factors(client, user)
        assert [(f["type"], f["name"]) for f in listed["factors"]] == [
            ("totp", "work phone"),
            ("totp", "tablet"),
            ("passkey", "YubiKey"),
        ]
        assert listed["factors"][2]["last_used_at"] is None  # the passkey was never used

        clock.advance()
        # Each device's code signs in; one device's code does not block the other's.
        await mfa_login(client, user, clock.code(phone))
        await mfa_login(client, user, clock.code(tablet))
        assert (await passwordless(client, authenticator)).status_code == 200

        ids = {f["name"]: f["id"] for f in (await factors(client, user))["factors"]}
        renamed = await client.patch(
            f"/v1/mfa/factors/{ids['tablet']}", json={"name": "  old tablet "}, headers=user.headers
        )
        assert renamed.status_code == 200
        assert renamed.json()["name"] == "old tablet"

        removed = await client.delete(f"/v1/mfa/factors/{ids['work phone']}", headers=user.headers)
        assert removed.status_code == 200, removed.text
        assert removed.json()["mfa_enabled"] is True
        clock.advance()
        stale = await client.post(
            "/v1/auth/login", json={"email": user.email, "password": user.password}
        )
        gone = await client.post(
            "/v1/auth/mfa/verify",
            json={"session_token": stale.json()["session_token"], "code": clock.code(phone)},
        )
        assert gone.json()["code"] == "invalid_mfa_code"
        # Backup codes survive the removal of the device that came with them.
        await mfa_login(client, user, codes[0])

        left = [f["name"] for f in (await factors(client, user))["factors"]]
        assert left == ["old tablet", "YubiKey"]

    mail_dir = app.state.services.settings.mail_dir
    await wait_for_mail(mail_dir, user.email, "mfa_factor_added", count=2)
    removed_mail = await wait_for_mail(mail_dir, user.email, "mfa_factor_removed")
    assert "work phone" in removed_mail[0].get_body(("plain",)).get_content()
    async with app.state.services.sessionmaker() as db:
        events = (await db.execute(select(OutboxEvent.event_type))).scalars().all()
    assert {"mfa.factor_added", "mfa.factor_removed", "mfa.enabled"} <= set(events)


async def test_removing_the_last_factor_turns_mfa_off_and_drops_backup_codes(app, client):
    user = await signed_in_user(client)
    with controlled_clock() as clock:
        await enable_mfa(client, user, clock)
    factor_id = (await factors(client, user))["factors"][0]["id"]
    response = await client.delete(f"/v1/mfa/factors/{factor_id}", headers=user.headers)
    assert response.status_code == 200
    assert response.json()["mfa_enabled"] is False
    listed = await factors(client, user)
    assert listed == {**listed, "factors": [], "mfa_enabled": False, "backup_codes_remaining": 0}
    login = await client.post(
        "/v1/auth/login", json={"email": user.email, "password": user.password}
    )
    assert "access_token" in login.json()
    await wait_for_mail(app.state.services.settings.mail_dir, user.email, "mfa_disabled")


async def test_totp_disable_keeps_passkeys_and_mfa_on(client):
    user = await signed_in_user(client)
    with controlled_clock() as clock:
        await enable_mfa(client, user, clock)
        assert (await register_passkey(client, user, SoftAuthenticator())).status_code == 200
        response = await client.post(
            "/v1/mfa/totp/disable", json={"password": user.password}, headers=user.headers
        )
    assert response.status_code == 200
    assert response.json()["mfa_enabled"] is True
    listed = await factors(client, user)
    assert [f["type"] for f in listed["factors"]] == ["passkey"]
    login = await client.post(
        "/v1/auth/login", json={"email": user.email, "password": user.password}
    )
    assert login.json()["methods"] == ["passkey", "backup_code"]


async def test_factors_of_another_user_are_not_found(client):
    owner = await signed_in_user(client)
    stranger = await signed_in_user(client)
    with controlled_clock() as clock:
        await enable_mfa(client, owner, clock)
    factor_id = (await factors(client, owner))["factors"][0]["id"]
    for method in ("patch", "delete"):
        kwargs: dict[str, Any] = {"json": {"name": "mine"}} if method == "patch" else {}
        response = await client.request(
            method, f"/v1/mfa/factors/{factor_id}", headers=stranger.headers, **kwargs
        )
        assert response.status_code == 404
        assert response.json()["code"] == "factor_not_found"
    bad = await client.delete("/v1/mfa/factors/not-a-uuid", headers=owner.headers)
    assert bad.status_code == 422


async def test_names_are_validated(client):
    user = await signed_in_user(client)
    for name in ("", "   ", "x" * 65):
        response = await client.post(
            "/v1/mfa/totp/setup", json={"name": name}, headers=user.headers
        )
        assert response.status_code == 422, name
        assert response.json()["code"] == "validation_error"


# --- recent authentication ------------------------------------------------------------------


async def test_enrolling_or_removing_needs_recent_authentication(client):
    user = await signed_in_user(client)
    with controlled_clock() as clock:
        await enable_mfa(client, user, clock)
        factor_id = (await factors(client, user))["factors"][0]["id"]
        clock.advance(301)
        for method, path in (
            ("post", "/v1/mfa/totp/setup"),
            ("post", "/v1/mfa/passkeys/register/options"),
            ("delete", f"/v1/mfa/factors/{factor_id}"),
        ):
            response = await client.request(method, path, headers=user.headers)
            assert response.status_code == 403, path
            assert response.json()["code"] == "recent_auth_required"
        assert (await factors(client, user))["recent_auth_until"] is None

        wrong = await client.post(
            "/v1/auth/reauthenticate", json={"password": "not-my-password"}, headers=user.headers
        )
        assert wrong.status_code == 400
        assert wrong.json()["code"] == "invalid_password"
        ok = await client.post(
            "/v1/auth/reauthenticate", json={"password": user.password}, headers=user.headers
        )
        assert ok.status_code == 200, ok.text
        assert (await factors(client, user))["recent_auth_until"] is not None
        assert (await client.post("/v1/mfa/totp/setup", headers=user.headers)).status_code == 200


async def test_a_second_factor_code_also_reauthenticates(client):
    user = await signed_in_user(client)
    with controlled_clock() as clock:
        secret, _ = await enable_mfa(client, user, clock)
        clock.advance(301)
        response = await client.post(
            "/v1/auth/reauthenticate", json={"code": clock.code(secret)}, headers=user.headers
        )
        assert response.status_code == 200
        setup = await client.post("/v1/mfa/totp/setup", headers=user.headers)
        assert setup.status_code == 200
        both = await client.post(
            "/v1/auth/reauthenticate",
            json={"code": "123456", "password": user.password},
            headers=user.headers,
        )
        assert both.status_code == 422


async def test_a_passkey_step_up_counts_as_recent_authentication(client):
    user = await signed_in_user(client)
    authenticator = SoftAuthenticator()
    with controlled_clock() as clock:
        assert (await register_passkey(client, user, authenticator)).status_code == 200
        clock.advance(301)
        blocked = await client.post("/v1/mfa/passkeys/register/options", headers=user.headers)
        assert blocked.json()["code"] == "recent_auth_required"
        options = (
            await client.post("/v1/auth/passkey/step-up/options", headers=user.headers)
        ).json()
        stepped = await client.post(
            "/v1/auth/passkey/step-up/verify",
            json={
                "challenge_id": options["challenge_id"],
                "credential": authenticator.get(options["options"]),
            },
            headers=user.headers,
        )
        assert stepped.status_code == 200
        again = await client.post("/v1/mfa/passkeys/register/options", headers=user.headers)
        assert again.status_code == 200
        # …and lets a passkey-only user renew backup codes without a code.
        renewed = await client.post(
            "/v1/mfa/backup-codes/regenerate", json={}, headers=user.headers
        )
        assert renewed.status_code == 200
        assert len(renewed.json()["backup_codes"]) == 10


async def test_regenerating_without_a_code_needs_a_recent_second_factor(client):
    user = await signed_in_user(client)
    with controlled_clock() as clock:
        await enable_mfa(client, user, clock)
        response = await client.post(
            "/v1/mfa/backup-codes/regenerate", json={}, headers=user.headers
        )
    assert response.status_code == 403
    assert response.json()["code"] == "recent_auth_required"


# --- backup codes ---------------------------------------------------------------------------


async def test_few_backup_codes_left_are_reported_and_e_mailed(app, client):
    user = await signed_in_user(client)
    with controlled_clock() as clock:
        _, codes = await enable_mfa(client, user, clock)
    mail_dir = app.state.services.settings.mail_dir
    for code in codes[:6]:
        await mfa_login(client, user, code)
    assert (await factors(client, user))["backup_codes_remaining"] == 4
    assert mails_to(mail_dir, user.email, "backup_codes_low") == []
    await mfa_login(client, user, codes[6])
    assert (await factors(client, user))["backup_codes_remaining"] == 3
    warned = await wait_for_mail(mail_dir, user.email, "backup_codes_low")
    assert "3 backup codes" in warned[0].get_body(("plain",)).get_content()


# --- every change is audited and e-mailed ---------------------------------------------------


async def test_every_kind_of_change_is_audited_and_e_mailed(app, client):
    """Add, rename and remove an authenticator app and a passkey, new backup codes, the last
    factor: each change leaves its audit record and its own e-mail naming the factor."""
    user = await signed_in_user(client)
    mail_dir = app.state.services.settings.mail_dir
    seen: dict[str, int] = {}

    async def expect(response: httpx.Response, audit_type: str, mail_kind: str, text: str) -> None:
        assert response.status_code == 200, response.text
        seen[mail_kind] = seen.get(mail_kind, 0) + 1
        mails = await wait_for_mail(mail_dir, user.email, mail_kind, count=seen[mail_kind])
        bodies = [m.get_body(("plain",)).get_content() for m in mails]
        assert any(text in body for body in bodies), (mail_kind, text)
        assert (await audit_types(app, user.user_id))[-1] == audit_type

    with controlled_clock() as clock:
        setup = await client.post(
            "/v1/mfa/totp/setup", json={"name": "work phone"}, headers=user.headers
        )
        phone = setup.json()["secret"]
        enabled = await client.post(
            "/v1/mfa/totp/enable", json={"code": clock.code(phone)}, headers=user.headers
        )
        await expect(enabled, "mfa.enabled", "mfa_enabled", "authenticator app “work phone”")

        setup = await client.post(
            "/v1/mfa/totp/setup", json={"name": "tablet"}, headers=user.headers
        )
        tablet = setup.json()["secret"]
        added = await client.post(
            "/v1/mfa/totp/enable", json={"code": clock.code(tablet)}, headers=user.headers
        )
        await expect(added, "mfa.factor_added", "mfa_factor_added", "authenticator app “tablet”")
        ids = {f["name"]: f["id"] for f in (await factors(client, user))["factors"]}

        renamed = await client.patch(
            f"/v1/mfa/factors/{ids['tablet']}", json={"name": "old tablet"}, headers=user.headers
        )
        await expect(
            renamed,
            "mfa.factor_renamed",
            "mfa_factor_renamed",
            "authenticator app “tablet” is now called “old tablet”",
        )

        key = await register_passkey(client, user, SoftAuthenticator(), name="YubiKey")
        await expect(key, "mfa.factor_added", "mfa_factor_added", "passkey “YubiKey”")
        key_id = key.json()["factor"]["id"]
        renamed = await client.patch(
            f"/v1/mfa/factors/{key_id}", json={"name": "Blue key"}, headers=user.headers
        )
        await expect(
            renamed,
            "mfa.factor_renamed",
            "mfa_factor_renamed",
            "passkey “YubiKey” is now called “Blue key”",
        )
        removed = await client.delete(f"/v1/mfa/factors/{key_id}", headers=user.headers)
        await expect(removed, "mfa.factor_removed", "mfa_factor_removed", "passkey “Blue key”")

        clock.advance()
        regenerated = await client.post(
            "/v1/mfa/backup-codes/regenerate",
            json={"code": clock.code(phone)},
            headers=user.headers,
        )
        await expect(
            regenerated,
            "mfa.backup_codes_regenerated",
            "backup_codes_regenerated",
            "earlier backup codes no longer work",
        )

        removed = await client.delete(f"/v1/mfa/factors/{ids['tablet']}", headers=user.headers)
        await expect(
            removed, "mfa.factor_removed", "mfa_factor_removed", "authenticator app “old tablet”"
        )
        last = await client.delete(f"/v1/mfa/factors/{ids['work phone']}", headers=user.headers)
        await expect(last, "mfa.disabled", "mfa_disabled", "turned off")

    # Renaming to the same name changes nothing and sends nothing.
    with controlled_clock() as clock:
        await add_totp(client, user, clock, "phone")
    only = (await factors(client, user))["factors"][0]["id"]
    for name in ("phone", "phone 2"):
        answer = await client.patch(
            f"/v1/mfa/factors/{only}", json={"name": name}, headers=user.headers
        )
        assert answer.status_code == 200
    notices = await wait_for_mail(mail_dir, user.email, "mfa_factor_renamed", count=3)
    await anyio.sleep(0.2)
    assert len(mails_to(mail_dir, user.email, "mfa_factor_renamed")) == len(notices) == 3
    assert (await audit_types(app, user.user_id)).count("mfa.factor_renamed") == 4
