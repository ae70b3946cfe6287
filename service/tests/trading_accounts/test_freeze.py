"""Emergency freeze and unfreeze, end to end (issue 13 part 1; docs/freeze.md).

What a freeze must do at once: sign every device out, stop the PDP, the release endpoint
and the token claim for the user's accounts (delegates included), announce ``user.frozen``
and e-mail the user; a frozen user still signs in to unfreeze. Unfreezing needs the
password and a second factor (or the e-mailed confirmation without MFA, or an admin).
"""

import uuid

import pytest
from sqlalchemy import select

from tests.admin.support import db_session, signed_in_admin, signed_in_with_roles
from tests.authz.support import ask
from tests.fixtures.users import login
from tests.mfa.helpers import (
    controlled_clock,
    enable_mfa,
    jwt_claims,
    mfa_login,
    token_from,
    wait_for_mail,
)
from tests.trading_accounts.helpers import (
    linked_active_account,
    service_headers,
    settings_overrides,  # noqa: F401 - the Kite stand-in for the app
    verified_user,
)
from user_service.models import AuthEvent, OutboxEvent
from user_service.users import freeze

pytestmark = pytest.mark.anyio


def release_url(account_id: str) -> str:
    return f"/v1/internal/trading-accounts/{account_id}/credentials"


async def user_events(app, user_id: str, prefix: str) -> list[OutboxEvent]:
    async with app.state.services.sessionmaker() as db:
        rows = await db.execute(
            select(OutboxEvent)
            .where(OutboxEvent.event_type.startswith(prefix))
            .order_by(OutboxEvent.id)
        )
        return [row for row in rows.scalars() if row.payload.get("user_id") == user_id]


async def audit_of(app, user_id: str, event_type: str) -> list[AuthEvent]:
    async with app.state.services.sessionmaker() as db:
        rows = await db.execute(
            select(AuthEvent)
            .where(AuthEvent.event_type == event_type, AuthEvent.user_id == uuid.UUID(user_id))
            .order_by(AuthEvent.id)
        )
        return list(rows.scalars())


@pytest.fixture
async def shared(app, client, kite_state):
    """An owner with an active Kite account shared with a trading delegate."""
    owner = await verified_user(app, client)
    account = await linked_active_account(client, owner, kite_state.register_app())
    delegate = await verified_user(app, client)
    added = await client.post(
        f"/v1/trading-accounts/{account['account_id']}/members",
        json={"email": delegate.email, "permissions": ["trade"]},
        headers=owner.headers,
    )
    assert added.status_code == 201, added.text
    return owner, delegate, account["account_id"]


async def test_freeze_signs_out_everywhere_and_stops_trading_for_owner_and_delegates(
    app, client, shared
):
    owner, delegate, account_id = shared
    ticker = await service_headers(app, ["credentials:read"])
    old_headers = owner.headers
    assert (await client.post(release_url(account_id), headers=ticker)).status_code == 200

    frozen = await client.post(
        "/v1/users/me/freeze", json={"password": owner.password}, headers=owner.headers
    )
    assert frozen.status_code == 200, frozen.text
    assert frozen.json()["frozen"] is True and frozen.json()["sessions_revoked"] >= 1

    # Every session is gone, this one included.
    assert (await client.get("/v1/users/me", headers=old_headers)).status_code == 401
    # Nothing is released, for the owner or on behalf of the delegate.
    for body in ({}, {"on_behalf_of": delegate.user_id}, {"on_behalf_of": owner.user_id}):
        refused = await client.post(release_url(account_id), json=body, headers=ticker)
        assert refused.status_code == 409 and refused.json()["code"] == "account_frozen"
    # The PDP denies every trading_account action on the account, to the delegate too.
    for permission in ("trading_account:view", "trading_account:trade"):
        decision = await ask(
            client, delegate.headers, permission, resource=f"trading_account:{account_id}"
        )
        assert decision["allowed"] is False
        assert decision["policy"] == "deny-frozen-trading"
    # The delegate still sees the account, marked frozen, and cannot use it.
    listed = (await client.get("/v1/trading-accounts", headers=delegate.headers)).json()
    assert [(a["account_id"], a["frozen"]) for a in listed["items"]] == [(account_id, True)]

    # The owner signs in again (to unfreeze), sees the freeze, and changes nothing.
    await login(client, owner)
    me = (await client.get("/v1/users/me", headers=owner.headers)).json()
    assert me["frozen"] is True and me["frozen_at"]
    assert jwt_claims(owner.access_token)["trading_accounts"] == []
    verify = await client.post(f"/v1/trading-accounts/{account_id}/verify", headers=owner.headers)
    assert verify.status_code == 409 and verify.json()["code"] == "account_frozen"
    share = await client.post(
        f"/v1/trading-accounts/{account_id}/members",
        json={"email": delegate.email, "permissions": ["view"]},
        headers=owner.headers,
    )
    assert share.status_code == 409 and share.json()["code"] == "account_frozen"

    [event] = await user_events(app, owner.user_id, "user.frozen")
    assert event.payload["account_ids"] == [account_id] and event.payload["via"] == "self"
    revoked = await user_events(app, owner.user_id, "session.revoked")
    assert revoked and all(e.payload["reason"] == "account_frozen" for e in revoked)
    [row] = await audit_of(app, owner.user_id, "user.frozen")
    assert row.details["via"] == "self"
    await wait_for_mail(app.state.services.settings.mail_dir, owner.email, "account_frozen")


async def test_freeze_proofs_are_checked_and_bad_bodies_are_refused(app, client, shared):
    owner, _, _ = shared
    wrong = await client.post(
        "/v1/users/me/freeze", json={"password": "not-the-password"}, headers=owner.headers
    )
    assert wrong.status_code == 400 and wrong.json()["code"] == "invalid_password"
    for body in ({}, {"password": owner.password, "code": "123456"}):
        bad = await client.post("/v1/users/me/freeze", json=body, headers=owner.headers)
        assert bad.status_code == 422 and bad.json()["code"] == "validation_error"
    no_mfa = await client.post(
        "/v1/users/me/freeze", json={"code": "123456"}, headers=owner.headers
    )
    assert no_mfa.status_code == 400 and no_mfa.json()["code"] == "mfa_not_enabled"
    [failed] = await audit_of(app, owner.user_id, "user.freeze_failed")
    assert failed.risk_score == 50
    not_frozen = await client.post(
        "/v1/users/me/unfreeze", json={"password": owner.password}, headers=owner.headers
    )
    assert not_frozen.status_code == 409 and not_frozen.json()["code"] == "account_not_frozen"


async def test_unfreeze_needs_password_and_second_factor(app, client, shared):
    owner, delegate, account_id = shared
    ticker = await service_headers(app, ["credentials:read"])
    with controlled_clock() as clock:
        secret, _ = await enable_mfa(client, owner, clock)
        frozen = await client.post(
            "/v1/users/me/freeze", json={"code": clock.code(secret)}, headers=owner.headers
        )
        assert frozen.status_code == 200, frozen.text
        clock.advance()
        await mfa_login(client, owner, clock.code(secret))
        clock.advance()

        password_only = await client.post(
            "/v1/users/me/unfreeze", json={"password": owner.password}, headers=owner.headers
        )
        assert password_only.status_code == 400
        assert password_only.json()["code"] == "second_factor_required"
        wrong_code = await client.post(
            "/v1/users/me/unfreeze",
            json={"password": owner.password, "code": "000000"},
            headers=owner.headers,
        )
        assert wrong_code.status_code == 400 and wrong_code.json()["code"] == "invalid_mfa_code"
        unfrozen = await client.post(
            "/v1/users/me/unfreeze",
            json={"password": owner.password, "code": clock.code(secret)},
            headers=owner.headers,
        )
    assert unfrozen.status_code == 200, unfrozen.text
    assert unfrozen.json() == {
        "frozen": False,
        "frozen_at": None,
        "sessions_revoked": 0,
        "status": "unfrozen",
    }
    released = await client.post(
        release_url(account_id), json={"on_behalf_of": delegate.user_id}, headers=ticker
    )
    assert released.status_code == 200
    [event] = await user_events(app, owner.user_id, "user.unfrozen")
    assert event.payload["account_ids"] == [account_id]
    [row] = await audit_of(app, owner.user_id, "user.unfrozen")
    assert row.details["verified_with"] == ["password", "totp"]
    await wait_for_mail(app.state.services.settings.mail_dir, owner.email, "account_unfrozen")


async def test_unfreeze_without_mfa_needs_the_emailed_link_opened_signed_in(app, client, shared):
    owner, delegate, _ = shared
    await client.post(
        "/v1/users/me/freeze", json={"password": owner.password}, headers=owner.headers
    )
    await login(client, owner)
    asked = await client.post(
        "/v1/users/me/unfreeze", json={"password": owner.password}, headers=owner.headers
    )
    assert asked.status_code == 200 and asked.json()["status"] == "confirmation_sent"
    assert asked.json()["frozen"] is True
    mail_dir = app.state.services.settings.mail_dir
    [message] = await wait_for_mail(mail_dir, owner.email, "unfreeze_confirmation")
    token = token_from(message, "/unfreeze")

    other = await client.post(
        "/v1/users/me/unfreeze/confirm", json={"token": token}, headers=delegate.headers
    )
    assert other.status_code == 403 and other.json()["code"] == "unfreeze_token_other_user"
    confirmed = await client.post(
        "/v1/users/me/unfreeze/confirm", json={"token": token}, headers=owner.headers
    )
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "unfrozen"
    again = await client.post(
        "/v1/users/me/unfreeze/confirm", json={"token": token}, headers=owner.headers
    )
    assert again.status_code == 400 and again.json()["code"] == "unfreeze_token_invalid"


async def test_the_freeze_link_of_a_sign_in_email_works_once_without_a_session(app, client, shared):
    owner, _, account_id = shared
    async with db_session(app) as db:
        token = await freeze.issue_freeze_link(db, uuid.UUID(owner.user_id))
    for bad in ("qfz_" + "x" * 40, "not-a-token"):
        refused = await client.post("/v1/auth/freeze", json={"token": bad})
        assert refused.status_code == 400 and refused.json()["code"] == "freeze_token_invalid"
    frozen = await client.post("/v1/auth/freeze", json={"token": token})
    assert frozen.status_code == 200 and frozen.json()["frozen"] is True
    assert (await client.get("/v1/users/me", headers=owner.headers)).status_code == 401
    again = await client.post("/v1/auth/freeze", json={"token": token})
    assert again.status_code == 400 and again.json()["code"] == "freeze_token_invalid"
    [event] = await user_events(app, owner.user_id, "user.frozen")
    assert event.payload["via"] == "email_link" and event.payload["account_ids"] == [account_id]


async def test_support_freezes_with_a_reason_and_only_an_admin_unfreezes(app, client, shared):
    owner, _, account_id = shared
    officer = await signed_in_with_roles(client, app, ["user", "compliance"])
    admin = await signed_in_admin(client, app)
    url = f"/v1/admin/users/{owner.user_id}"
    short = await client.post(f"{url}/freeze", json={"reason": ""}, headers=officer.headers)
    assert short.status_code == 422
    stranger = await client.post(f"{url}/freeze", json={"reason": "x" * 5}, headers=owner.headers)
    assert stranger.status_code == 403 and stranger.json()["code"] == "role_required"

    frozen = await client.post(
        f"{url}/freeze", json={"reason": "Phone reported stolen"}, headers=officer.headers
    )
    assert frozen.status_code == 200, frozen.text
    detail = frozen.json()
    assert detail["frozen"] is True and detail["frozen_reason"] == "Phone reported stolen"
    assert detail["frozen_by"] == f"user:{officer.user_id}"
    assert detail["trading_accounts"] == []

    refused = await client.post(
        f"{url}/unfreeze", json={"reason": "Owner verified by phone"}, headers=officer.headers
    )
    assert refused.status_code == 403 and refused.json()["code"] == "role_required"
    too_short = await client.post(f"{url}/unfreeze", json={"reason": "ok"}, headers=admin.headers)
    assert too_short.status_code == 422, too_short.text
    lifted = await client.post(
        f"{url}/unfreeze", json={"reason": "Owner verified by phone"}, headers=admin.headers
    )
    assert lifted.status_code == 200 and lifted.json()["frozen"] is False
    assert lifted.json()["trading_accounts"] == [account_id]
    [row] = await audit_of(app, owner.user_id, "user.unfrozen")
    assert (
        row.actor == f"user:{admin.user_id}" and row.details["reason"] == "Owner verified by phone"
    )
    own = await client.post(
        f"/v1/admin/users/{admin.user_id}/unfreeze",
        json={"reason": "mine"},
        headers=admin.headers,
    )
    assert own.status_code == 409 and own.json()["code"] == "cannot_unfreeze_self"
