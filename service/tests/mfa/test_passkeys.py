"""Passkeys through HTTP, on both back-ends: registration, passwordless sign-in, second factor
at login, step-up, and what an attacker would try (cloned counter, replayed challenge, wrong
origin or RP id, no user verification)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import select, update

from tests.fixtures.users import signed_in_user
from tests.mfa.authenticator import SoftAuthenticator
from tests.mfa.helpers import controlled_clock, jwt_claims, password_step, wait_for_mail
from user_service.models import AuthEvent, MfaPasskey, User, UserSession, WebauthnChallenge

if TYPE_CHECKING:
    from tests.fixtures.users import TestUser

pytestmark = pytest.mark.anyio


async def register_passkey(
    client: httpx.AsyncClient,
    user: TestUser,
    authenticator: SoftAuthenticator,
    name: str | None = "YubiKey",
    **create: Any,
) -> httpx.Response:
    options = await client.post("/v1/mfa/passkeys/register/options", headers=user.headers)
    assert options.status_code == 200, options.text
    body = options.json()
    credential = authenticator.create(body["options"], **create)
    payload: dict[str, Any] = {"challenge_id": body["challenge_id"], "credential": credential}
    if name is not None:
        payload["name"] = name
    return await client.post("/v1/mfa/passkeys/register/verify", json=payload, headers=user.headers)


async def with_passkey(client: httpx.AsyncClient) -> tuple[TestUser, SoftAuthenticator, dict]:
    user = await signed_in_user(client)
    authenticator = SoftAuthenticator()
    response = await register_passkey(client, user, authenticator)
    assert response.status_code == 200, response.text
    return user, authenticator, response.json()


async def passwordless(
    client: httpx.AsyncClient, authenticator: SoftAuthenticator, **get: Any
) -> httpx.Response:
    options = (await client.post("/v1/auth/passkey/options")).json()
    credential = authenticator.get(options["options"], **get)
    return await client.post(
        "/v1/auth/passkey/verify",
        json={"challenge_id": options["challenge_id"], "credential": credential},
    )


async def audit_types(app, user_id: str) -> list[str]:
    async with app.state.services.sessionmaker() as db:
        rows = await db.execute(
            select(AuthEvent.event_type)
            .where(AuthEvent.user_id == uuid.UUID(user_id))
            .order_by(AuthEvent.id)
        )
        return list(rows.scalars())


async def test_register_lists_the_named_passkey_and_turns_mfa_on(app, client):
    user, _, body = await with_passkey(client)
    assert body["factor"]["type"] == "passkey"
    assert body["factor"]["name"] == "YubiKey"
    assert len(body["backup_codes"]) == 10  # the first factor brings backup codes

    listed = (await client.get("/v1/mfa/factors", headers=user.headers)).json()
    assert [(f["type"], f["name"]) for f in listed["factors"]] == [("passkey", "YubiKey")]
    assert listed["mfa_enabled"] is True
    assert listed["backup_codes_remaining"] == 10
    me = (await client.get("/v1/users/me", headers=user.headers)).json()
    assert me["mfa_enabled"] is True
    await wait_for_mail(app.state.services.settings.mail_dir, user.email, "mfa_enabled")
    assert "mfa.enabled" in await audit_types(app, user.user_id)

    async with app.state.services.sessionmaker() as db:
        stored = (await db.execute(select(MfaPasskey))).scalars().all()
    mine = [k for k in stored if str(k.user_id) == user.user_id]
    assert mine[0].user_verified is True
    assert mine[0].transports == ["internal"]


async def test_options_ask_for_a_discoverable_user_verified_credential(client):
    user = await signed_in_user(client)
    body = (await client.post("/v1/mfa/passkeys/register/options", headers=user.headers)).json()
    options = body["options"]
    assert options["rp"] == {"id": "testserver", "name": "Quantagro"}
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert options["attestation"] == "none"
    assert options["user"]["name"] == user.email


async def test_passwordless_sign_in_counts_as_multi_factor(app, client):
    user, authenticator, _ = await with_passkey(client)
    response = await passwordless(client, authenticator)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"]["email"] == user.email
    claims = jwt_claims(body["access_token"])
    assert claims["mfa"] is True
    assert isinstance(claims["mfa_at"], int)
    assert "refresh_token" in response.headers.get("set-cookie", "")

    # A session like a password login's: recorded with its risk assessment, audited.
    async with app.state.services.sessionmaker() as db:
        session = await db.get(UserSession, uuid.UUID(claims["sid"]))
        success = (
            (
                await db.execute(
                    select(AuthEvent)
                    .where(
                        AuthEvent.user_id == uuid.UUID(user.user_id),
                        AuthEvent.event_type == "login.success",
                    )
                    .order_by(AuthEvent.id.desc())
                )
            )
            .scalars()
            .first()
        )
    assert session is not None and session.amr == ["hwk", "user", "mfa"]
    assert session.mfa_verified_at is not None
    assert success is not None and success.details["mfa_method"] == "passkey"
    assert success.details["session_id"] == claims["sid"]


async def test_password_login_offers_the_passkey_as_second_factor(client):
    user, authenticator, _ = await with_passkey(client)
    login = await client.post(
        "/v1/auth/login", json={"email": user.email, "password": user.password}
    )
    assert login.json()["status"] == "mfa_required"
    assert login.json()["methods"] == ["passkey", "backup_code"]
    token = login.json()["session_token"]
    options = await client.post("/v1/auth/passkey/mfa/options", json={"session_token": token})
    assert options.status_code == 200, options.text
    allowed = options.json()["options"]["allowCredentials"]
    assert len(allowed) == 1
    credential = authenticator.get(options.json()["options"])
    verified = await client.post(
        "/v1/auth/passkey/mfa/verify",
        json={
            "session_token": token,
            "challenge_id": options.json()["challenge_id"],
            "credential": credential,
        },
    )
    assert verified.status_code == 200, verified.text
    assert jwt_claims(verified.json()["access_token"])["mfa"] is True
    # The pending login is spent.
    again = await client.post("/v1/auth/passkey/mfa/options", json={"session_token": token})
    assert again.status_code == 401


async def test_a_passkey_of_another_user_does_not_finish_my_login(client):
    user, _, _ = await with_passkey(client)
    _, other_authenticator, _ = await with_passkey(client)
    token = await password_step(client, user)
    options = (
        await client.post("/v1/auth/passkey/mfa/options", json={"session_token": token})
    ).json()
    credential = other_authenticator.get({**options["options"], "allowCredentials": []})
    response = await client.post(
        "/v1/auth/passkey/mfa/verify",
        json={
            "session_token": token,
            "challenge_id": options["challenge_id"],
            "credential": credential,
        },
    )
    assert response.status_code == 401
    assert response.json()["code"] == "passkey_invalid"
    assert response.json()["attempts_remaining"] == 4


async def test_cloned_authenticator_is_refused_and_audited(app, client):
    user, authenticator, _ = await with_passkey(client)
    assert (await passwordless(client, authenticator, sign_count=5)).status_code == 200
    cloned = await passwordless(client, authenticator, sign_count=3)
    assert cloned.status_code == 400
    assert cloned.json()["code"] == "passkey_cloned"
    same = await passwordless(client, authenticator, sign_count=5)
    assert same.json()["code"] == "passkey_cloned"
    assert (await audit_types(app, user.user_id)).count("mfa.passkey_cloned") == 2
    assert (await passwordless(client, authenticator, sign_count=6)).status_code == 200


async def test_counterless_authenticators_keep_working(client):
    _, authenticator, _ = await with_passkey(client)
    authenticator.counter_step = 0
    for _ in range(2):
        assert (await passwordless(client, authenticator)).status_code == 200


async def test_a_challenge_is_single_use(client):
    _, authenticator, _ = await with_passkey(client)
    options = (await client.post("/v1/auth/passkey/options")).json()
    body = {
        "challenge_id": options["challenge_id"],
        "credential": authenticator.get(options["options"]),
    }
    assert (await client.post("/v1/auth/passkey/verify", json=body)).status_code == 200
    replay = await client.post("/v1/auth/passkey/verify", json=body)
    assert replay.status_code == 400
    assert replay.json()["code"] == "passkey_challenge_invalid"


async def test_a_failed_verification_still_spends_the_challenge(client):
    _, authenticator, _ = await with_passkey(client)
    options = (await client.post("/v1/auth/passkey/options")).json()
    bad = authenticator.get(options["options"], origin="https://evil.example")
    first = await client.post(
        "/v1/auth/passkey/verify", json={"challenge_id": options["challenge_id"], "credential": bad}
    )
    assert first.json()["code"] == "passkey_invalid"
    good = authenticator.get(options["options"])
    second = await client.post(
        "/v1/auth/passkey/verify",
        json={"challenge_id": options["challenge_id"], "credential": good},
    )
    assert second.json()["code"] == "passkey_challenge_invalid"


async def test_an_expired_challenge_is_refused(client):
    _, authenticator, _ = await with_passkey(client)
    with controlled_clock() as clock:
        options = (await client.post("/v1/auth/passkey/options")).json()
        clock.advance(301)
        response = await client.post(
            "/v1/auth/passkey/verify",
            json={
                "challenge_id": options["challenge_id"],
                "credential": authenticator.get(options["options"]),
            },
        )
    assert response.json()["code"] == "passkey_challenge_invalid"


@pytest.mark.parametrize(
    "tamper",
    [
        {"origin": "https://evil.example"},
        {"rp_id": "evil.example"},
        {"user_verified": False},
    ],
    ids=["wrong-origin", "wrong-rp-id", "no-user-verification"],
)
async def test_assertions_from_elsewhere_are_refused(client, tamper):
    _, authenticator, _ = await with_passkey(client)
    response = await passwordless(client, authenticator, **tamper)
    assert response.status_code == 401
    assert response.json()["code"] == "passkey_invalid"


@pytest.mark.parametrize(
    "tamper",
    [{"origin": "https://evil.example"}, {"rp_id": "evil.example"}, {"user_verified": False}],
    ids=["wrong-origin", "wrong-rp-id", "no-user-verification"],
)
async def test_registrations_from_elsewhere_are_refused(client, tamper):
    user = await signed_in_user(client)
    response = await register_passkey(client, user, SoftAuthenticator(), **tamper)
    assert response.status_code == 400
    assert response.json()["code"] == "passkey_invalid"
    listed = (await client.get("/v1/mfa/factors", headers=user.headers)).json()
    assert listed["factors"] == []


async def test_a_registration_challenge_belongs_to_its_session(client):
    user = await signed_in_user(client)
    other = await signed_in_user(client)
    options = (await client.post("/v1/mfa/passkeys/register/options", headers=user.headers)).json()
    credential = SoftAuthenticator().create(options["options"])
    response = await client.post(
        "/v1/mfa/passkeys/register/verify",
        json={"challenge_id": options["challenge_id"], "credential": credential},
        headers=other.headers,
    )
    assert response.json()["code"] == "passkey_challenge_invalid"


async def test_garbage_credentials_answer_4xx(client):
    user = await signed_in_user(client)
    options = (await client.post("/v1/mfa/passkeys/register/options", headers=user.headers)).json()
    for credential in ({}, {"id": "x", "rawId": "y"}, {"rawId": "!!", "response": "nope"}):
        response = await client.post(
            "/v1/mfa/passkeys/register/verify",
            json={"challenge_id": options["challenge_id"], "credential": credential},
            headers=user.headers,
        )
        assert response.status_code == 400, response.text
        options = (
            await client.post("/v1/mfa/passkeys/register/options", headers=user.headers)
        ).json()
        assert response.json()["code"] == "passkey_invalid"
    # A registration challenge is no sign-in challenge, whatever the credential.
    signin = await client.post(
        "/v1/auth/passkey/verify",
        json={"challenge_id": options["challenge_id"], "credential": {"rawId": 5}},
    )
    assert signin.status_code == 400
    assert signin.json()["code"] == "passkey_challenge_invalid"
    fresh = (await client.post("/v1/auth/passkey/options")).json()
    for credential in ({"rawId": 5}, {"rawId": "", "response": {}}, {"rawId": "AAAA"}):
        refused = await client.post(
            "/v1/auth/passkey/verify",
            json={"challenge_id": fresh["challenge_id"], "credential": credential},
        )
        assert refused.status_code == 401, refused.text
        assert refused.json()["code"] == "passkey_invalid"
        fresh = (await client.post("/v1/auth/passkey/options")).json()


async def test_passkey_sign_in_refuses_a_deactivated_account(app, client):
    user, authenticator, _ = await with_passkey(client)
    async with app.state.services.sessionmaker() as db:
        await db.execute(
            update(User).where(User.id == uuid.UUID(user.user_id)).values(status="suspended")
        )
        await db.commit()
    response = await passwordless(client, authenticator)
    assert response.status_code == 403
    assert response.json()["code"] == "account_inactive"


async def test_passkey_step_up_sets_a_fresh_mfa_at(client):
    user, authenticator, _ = await with_passkey(client)
    options = (await client.post("/v1/auth/passkey/step-up/options", headers=user.headers)).json()
    response = await client.post(
        "/v1/auth/passkey/step-up/verify",
        json={
            "challenge_id": options["challenge_id"],
            "credential": authenticator.get(options["options"]),
        },
        headers=user.headers,
    )
    assert response.status_code == 200, response.text
    claims = jwt_claims(response.json()["access_token"])
    assert claims["mfa"] is True and isinstance(claims["mfa_at"], int)


async def test_the_same_authenticator_cannot_register_twice(client):
    user, _, _ = await with_passkey(client)
    options = (await client.post("/v1/mfa/passkeys/register/options", headers=user.headers)).json()
    assert len(options["options"]["excludeCredentials"]) == 1


async def test_expired_challenges_are_swept(app, client):
    with controlled_clock() as clock:
        await client.post("/v1/auth/passkey/options")
        clock.advance(3600)
        await client.post("/v1/auth/passkey/options")
        async with app.state.services.sessionmaker() as db:
            rows = (await db.execute(select(WebauthnChallenge))).scalars().all()
    assert all(row.expires_at > clock.now() for row in rows)


# --- what an attacker would try -------------------------------------------------------------


async def step_up_options(client: httpx.AsyncClient, user: TestUser) -> dict[str, Any]:
    response = await client.post("/v1/auth/passkey/step-up/options", headers=user.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_recorded_assertion_does_not_answer_a_new_challenge(client):
    """A captured (or replayed) assertion signs its own challenge: it opens nothing later,
    at sign-in, at the MFA step or at a step-up."""
    user, authenticator, _ = await with_passkey(client)
    first = (await client.post("/v1/auth/passkey/options")).json()
    recorded = authenticator.get(first["options"])
    used = await client.post(
        "/v1/auth/passkey/verify",
        json={"challenge_id": first["challenge_id"], "credential": recorded},
    )
    assert used.status_code == 200

    second = (await client.post("/v1/auth/passkey/options")).json()
    replay = await client.post(
        "/v1/auth/passkey/verify",
        json={"challenge_id": second["challenge_id"], "credential": recorded},
    )
    assert replay.status_code == 401 and replay.json()["code"] == "passkey_invalid"

    token = await password_step(client, user)
    mfa = (await client.post("/v1/auth/passkey/mfa/options", json={"session_token": token})).json()
    at_mfa = await client.post(
        "/v1/auth/passkey/mfa/verify",
        json={"session_token": token, "challenge_id": mfa["challenge_id"], "credential": recorded},
    )
    assert at_mfa.status_code == 401 and at_mfa.json()["code"] == "passkey_invalid"

    step = await step_up_options(client, user)
    at_step_up = await client.post(
        "/v1/auth/passkey/step-up/verify",
        json={"challenge_id": step["challenge_id"], "credential": recorded},
        headers=user.headers,
    )
    assert at_step_up.status_code == 400 and at_step_up.json()["code"] == "passkey_invalid"


async def test_another_users_passkey_does_not_step_me_up(client):
    user, _, _ = await with_passkey(client)
    _, stranger_key, _ = await with_passkey(client)
    options = await step_up_options(client, user)
    credential = stranger_key.get({**options["options"], "allowCredentials": []})
    response = await client.post(
        "/v1/auth/passkey/step-up/verify",
        json={"challenge_id": options["challenge_id"], "credential": credential},
        headers=user.headers,
    )
    assert response.status_code == 400
    assert response.json()["code"] == "passkey_invalid"


async def test_a_credential_claiming_another_users_handle_is_refused(client):
    """The assertion is signed by my key but names the victim as its user (``userHandle``)."""
    victim, _, _ = await with_passkey(client)
    _, mine, _ = await with_passkey(client)
    [credential] = mine.credentials.values()
    credential.user_handle = uuid.UUID(victim.user_id).bytes
    options = (await client.post("/v1/auth/passkey/options")).json()
    response = await client.post(
        "/v1/auth/passkey/verify",
        json={"challenge_id": options["challenge_id"], "credential": mine.get(options["options"])},
    )
    assert response.status_code == 401
    assert response.json()["code"] == "passkey_invalid"


async def test_ceremony_challenges_are_single_use_and_bound_everywhere(client):
    """A step-up challenge: once, and only for the session that asked; an MFA-step challenge
    only for its pending login; no challenge works at another ceremony's endpoint."""
    user, authenticator, _ = await with_passkey(client)

    def verify(options: dict[str, Any]) -> dict[str, Any]:
        return {
            "challenge_id": options["challenge_id"],
            "credential": authenticator.get(options["options"]),
        }

    step = await step_up_options(client, user)
    body = verify(step)
    ok = await client.post("/v1/auth/passkey/step-up/verify", json=body, headers=user.headers)
    assert ok.status_code == 200, ok.text
    again = await client.post("/v1/auth/passkey/step-up/verify", json=body, headers=user.headers)
    assert again.status_code == 400 and again.json()["code"] == "passkey_challenge_invalid"

    # Another session of the same user cannot finish this session's step-up.
    step = await step_up_options(client, user)
    other = await passwordless(client, authenticator)
    assert other.status_code == 200, other.text
    other_headers = {"Authorization": f"Bearer {other.json()['access_token']}"}
    second_session = await client.post(
        "/v1/auth/passkey/step-up/verify", json=verify(step), headers=other_headers
    )
    assert second_session.status_code == 400
    assert second_session.json()["code"] == "passkey_challenge_invalid"
    # …nor is a step-up challenge an MFA-step one.
    token = await password_step(client, user)
    step = await step_up_options(client, user)
    as_mfa = await client.post(
        "/v1/auth/passkey/mfa/verify", json={"session_token": token, **verify(step)}
    )
    assert as_mfa.status_code == 400 and as_mfa.json()["code"] == "passkey_challenge_invalid"

    # An MFA-step challenge of one pending login does not finish another.
    first_token = await password_step(client, user)
    second_token = await password_step(client, user)
    mfa = (
        await client.post("/v1/auth/passkey/mfa/options", json={"session_token": first_token})
    ).json()
    crossed = await client.post(
        "/v1/auth/passkey/mfa/verify", json={"session_token": second_token, **verify(mfa)}
    )
    assert crossed.status_code == 400 and crossed.json()["code"] == "passkey_challenge_invalid"

    # Challenges of one ceremony are refused by the others.
    sign_in = (await client.post("/v1/auth/passkey/options")).json()
    as_step_up = await client.post(
        "/v1/auth/passkey/step-up/verify", json=verify(sign_in), headers=user.headers
    )
    assert as_step_up.json()["code"] == "passkey_challenge_invalid"
    step = await step_up_options(client, user)
    as_sign_in = await client.post("/v1/auth/passkey/verify", json=verify(step))
    assert as_sign_in.status_code == 400
    assert as_sign_in.json()["code"] == "passkey_challenge_invalid"


async def test_a_registration_challenge_is_single_use(client):
    user = await signed_in_user(client)
    options = (await client.post("/v1/mfa/passkeys/register/options", headers=user.headers)).json()
    body = {
        "challenge_id": options["challenge_id"],
        "credential": SoftAuthenticator().create(options["options"]),
    }
    first = await client.post("/v1/mfa/passkeys/register/verify", json=body, headers=user.headers)
    assert first.status_code == 200, first.text
    body["credential"] = SoftAuthenticator().create(options["options"])  # another key, same run
    again = await client.post("/v1/mfa/passkeys/register/verify", json=body, headers=user.headers)
    assert again.status_code == 400
    assert again.json()["code"] == "passkey_challenge_invalid"
    listed = (await client.get("/v1/mfa/factors", headers=user.headers)).json()
    assert len(listed["factors"]) == 1


async def test_each_assertion_stores_its_counter_and_backup_state(app, client):
    user, authenticator, _ = await with_passkey(client)
    assert (await passwordless(client, authenticator, sign_count=41)).status_code == 200
    async with app.state.services.sessionmaker() as db:
        [stored] = (
            (
                await db.execute(
                    select(MfaPasskey).where(MfaPasskey.user_id == uuid.UUID(user.user_id))
                )
            )
            .scalars()
            .all()
        )
    assert stored.sign_count == 41
    assert stored.backed_up is True and stored.backup_eligible is True
    assert stored.user_verified is True
    assert stored.last_used_at is not None
