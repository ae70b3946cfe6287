"""Sign in with an OpenID Connect provider (a local stand-in), on both back-ends."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import client_for, make_settings, running_app
from tests.fixtures.users import login, register, signed_in_user
from tests.identities.support import Provider, authorize, callback, google_sign_in
from tests.mfa.helpers import controlled_clock, enable_mfa, jwt_claims, mails_to, wait_for_mail
from user_service.models import OidcFlow, OutboxEvent

pytestmark = pytest.mark.anyio


async def _audit_types(client: Any, headers: dict[str, str]) -> list[str]:
    answer = await client.get("/v1/users/me/audit", headers=headers)
    assert answer.status_code == 200, answer.text
    return [item["event_type"] for item in answer.json()["items"]]


async def _session_amr(app: Any, access_token: str) -> list[str]:
    """How the session of ``access_token`` was authenticated (``sessions.amr``)."""
    import uuid

    from user_service.models import UserSession

    async with app.state.services.sessionmaker() as db:
        session = await db.get(UserSession, uuid.UUID(jwt_claims(access_token)["sid"]))
    assert session is not None
    return list(session.amr or [])


async def test_providers_lists_google_when_configured(client):
    answer = await client.get("/v1/auth/providers")
    assert answer.status_code == 200
    assert answer.json() == {"providers": [{"provider": "google", "display_name": "Google"}]}


async def test_without_configuration_the_feature_is_off(backend):
    async with running_app(make_settings(backend)) as app, client_for(app) as client:
        assert (await client.get("/v1/auth/providers")).json() == {"providers": []}
        for path in ("/v1/auth/oidc/google/start", "/v1/auth/oidc/github/start"):
            answer = await client.post(path, json={})
            assert answer.status_code == 404
            assert answer.json()["code"] == "provider_not_configured"
        answer = await client.post(
            "/v1/auth/oidc/google/callback", json={"code": "c", "state": "s"}
        )
        assert answer.json()["code"] == "provider_not_configured"


async def test_authorization_request_uses_pkce_state_and_nonce(client, provider: Provider):
    started = await client.post("/v1/auth/oidc/google/start", json={})
    assert started.status_code == 200
    url = started.json()["authorization_url"]
    assert url.startswith(provider.issuer + "/authorize?")
    for parameter in ("state=", "nonce=", "code_challenge=", "code_challenge_method=S256"):
        assert parameter in url
    assert "scope=openid+email+profile" in url or "scope=openid%20email%20profile" in url
    cookie = started.headers["set-cookie"]
    assert "oidc_binding=" in cookie and "HttpOnly" in cookie and "Path=/v1/auth/oidc" in cookie


async def test_new_google_user_gets_a_verified_account_without_password(
    client, app, provider: Provider
):
    who = provider.next_user(name="Asha Rao")
    answer = await google_sign_in(client)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["user"]["email"] == who.email
    assert body["user"]["email_verified"] is True
    assert body["user"]["name"] == "Asha Rao"
    assert "refresh_token" in answer.headers["set-cookie"]
    claims = jwt_claims(body["access_token"])
    assert claims["mfa"] is False
    assert await _session_amr(app, body["access_token"]) == ["fed"]
    headers = {"Authorization": f"Bearer {body['access_token']}"}

    listed = await client.get("/v1/users/me/identities", headers=headers)
    assert listed.status_code == 200
    assert listed.json()["has_password"] is False
    [identity] = listed.json()["items"]
    assert identity["provider"] == "google" and identity["email"] == who.email

    # No password works for it (and the answer is the ordinary one).
    refused = await client.post(
        "/v1/auth/login", json={"email": who.email, "password": "anything-at-all-1"}
    )
    assert refused.status_code == 401 and refused.json()["code"] == "invalid_credentials"

    types = await _audit_types(client, headers)
    assert {"user.registered", "identity.linked", "login.success"} <= set(types)
    async with app.state.services.sessionmaker() as db:
        events = set(
            (
                await db.execute(
                    select(OutboxEvent.event_type).where(
                        OutboxEvent.aggregate_id == body["user"]["user_id"]
                    )
                )
            ).scalars()
        )
    assert {"user.registered", "user.identity_linked"} <= events
    mail_dir = app.state.services.settings.mail_dir
    await wait_for_mail(mail_dir, who.email, "identity_linked")
    assert mails_to(mail_dir, who.email, "email_verification") == []


async def test_known_sub_signs_in_again_to_the_same_account(client, provider: Provider):
    who = provider.next_user()
    first = (await google_sign_in(client)).json()
    provider.next_user(sub=who.sub, email="changed-" + (who.email or ""))
    second = await google_sign_in(client)
    assert second.status_code == 200, second.text
    assert second.json()["user"]["user_id"] == first["user"]["user_id"]
    assert second.json()["user"]["email"] == who.email  # the account's e-mail is not changed
    assert (
        jwt_claims(second.json()["access_token"])["sid"] != jwt_claims(first["access_token"])["sid"]
    )


async def test_existing_email_needs_the_password_before_linking(client, app, provider: Provider):
    owner = await register(client)
    provider.next_user(email=owner.email.upper())
    answer = await google_sign_in(client)
    assert answer.status_code == 200, answer.text
    pending = answer.json()
    assert pending["status"] == "link_required"
    assert pending["email"] == owner.email
    assert pending["mfa_required"] is False and pending["methods"] == []
    assert "access_token" not in pending
    assert "refresh_token" not in answer.headers.get("set-cookie", "")

    wrong = await client.post(
        "/v1/auth/oidc/link",
        json={"link_token": pending["link_token"], "password": "Not-The-Password-1"},
    )
    assert wrong.status_code == 401 and wrong.json()["code"] == "invalid_credentials"

    linked = await client.post(
        "/v1/auth/oidc/link",
        json={"link_token": pending["link_token"], "password": owner.password},
    )
    assert linked.status_code == 200, linked.text
    assert linked.json()["user"]["user_id"] == owner.user_id
    assert await _session_amr(app, linked.json()["access_token"]) == ["fed", "pwd"]

    again = await client.post(
        "/v1/auth/oidc/link",
        json={"link_token": pending["link_token"], "password": owner.password},
    )
    assert again.status_code == 401 and again.json()["code"] == "invalid_link_token"

    # From now on the Google account signs in directly.
    direct = await google_sign_in(client)
    assert direct.status_code == 200 and direct.json()["user"]["user_id"] == owner.user_id
    await wait_for_mail(app.state.services.settings.mail_dir, owner.email, "identity_linked")


async def test_existing_account_with_mfa_needs_password_and_code_to_link_then_mfa_applies(
    client, app, provider: Provider
):
    with controlled_clock() as clock:
        owner = await signed_in_user(client)
        secret, _ = await enable_mfa(client, owner, clock)
        who = provider.next_user(email=owner.email)
        pending = (await google_sign_in(client)).json()
        assert pending["status"] == "link_required" and pending["mfa_required"] is True

        no_code = await client.post(
            "/v1/auth/oidc/link",
            json={"link_token": pending["link_token"], "password": owner.password},
        )
        assert no_code.status_code == 400 and no_code.json()["code"] == "mfa_code_required"
        bad_code = await client.post(
            "/v1/auth/oidc/link",
            json={
                "link_token": pending["link_token"],
                "password": owner.password,
                "code": "000000",
            },
        )
        assert bad_code.status_code in (400, 401)
        assert bad_code.json()["code"] == "invalid_mfa_code"
        linked = await client.post(
            "/v1/auth/oidc/link",
            json={
                "link_token": pending["link_token"],
                "password": owner.password,
                "code": clock.code(secret),
            },
        )
        assert linked.status_code == 200, linked.text
        claims = jwt_claims(linked.json()["access_token"])
        assert claims["mfa"] is True and claims["mfa_at"] is not None
        clock.advance()

        # The next Google sign-in still asks for the second factor.
        provider.next_user(sub=who.sub, email=who.email)
        step = await google_sign_in(client)
        assert step.status_code == 200
        assert step.json()["status"] == "mfa_required"
        assert "refresh_token" not in step.headers.get("set-cookie", "")
        verified = await client.post(
            "/v1/auth/mfa/verify",
            json={"session_token": step.json()["session_token"], "code": clock.code(secret)},
        )
        assert verified.status_code == 200, verified.text
        assert verified.json()["user"]["user_id"] == owner.user_id
        assert await _session_amr(app, verified.json()["access_token"]) == ["fed", "otp"]


async def test_a_passkey_account_links_with_a_backup_code_then_google_asks_for_the_passkey(
    client, app, provider: Provider
):
    """The second factor after a Google sign-in may be the account's passkey (the MFA step's
    passkey ceremony takes the same ``session_token``); linking takes a backup code."""
    from tests.mfa.authenticator import SoftAuthenticator
    from tests.mfa.test_passkeys import register_passkey

    owner = await signed_in_user(client)
    authenticator = SoftAuthenticator()
    registered = await register_passkey(client, owner, authenticator)
    assert registered.status_code == 200, registered.text
    backup_codes = registered.json()["backup_codes"]
    who = provider.next_user(email=owner.email)
    pending = (await google_sign_in(client)).json()
    assert pending["status"] == "link_required" and pending["mfa_required"] is True
    linked = await client.post(
        "/v1/auth/oidc/link",
        json={
            "link_token": pending["link_token"],
            "password": owner.password,
            "code": backup_codes[0],
        },
    )
    assert linked.status_code == 200, linked.text

    provider.next_user(sub=who.sub, email=who.email)
    step = await google_sign_in(client)
    assert step.json()["status"] == "mfa_required"
    assert step.json()["methods"] == ["passkey", "backup_code"]
    token = step.json()["session_token"]
    options = await client.post("/v1/auth/passkey/mfa/options", json={"session_token": token})
    assert options.status_code == 200, options.text
    verified = await client.post(
        "/v1/auth/passkey/mfa/verify",
        json={
            "session_token": token,
            "challenge_id": options.json()["challenge_id"],
            "credential": authenticator.get(options.json()["options"]),
        },
    )
    assert verified.status_code == 200, verified.text
    assert verified.json()["user"]["user_id"] == owner.user_id
    assert jwt_claims(verified.json()["access_token"])["mfa"] is True
    assert await _session_amr(app, verified.json()["access_token"]) == ["fed", "hwk", "user"]


async def test_a_passkey_account_links_with_its_passkey(client, app, provider: Provider):
    """The second factor of a pending link may be one of the account's passkeys; someone
    else's passkey, another link's challenge, a reused challenge or a wrong password do not
    link, and each wrong proof counts against the link token."""
    from tests.mfa.authenticator import SoftAuthenticator
    from tests.mfa.test_passkeys import register_passkey

    async def account_with_passkey() -> tuple[Any, SoftAuthenticator, dict[str, Any]]:
        owner = await signed_in_user(client)
        key = SoftAuthenticator()
        assert (await register_passkey(client, owner, key)).status_code == 200
        provider.next_user(email=owner.email)
        pending = (await google_sign_in(client)).json()
        return owner, key, pending

    async def options(link_token: str) -> dict[str, Any]:
        answer = await client.post(
            "/v1/auth/oidc/link/passkey/options", json={"link_token": link_token}
        )
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    async def link(pending: dict[str, Any], password: str, challenge: dict[str, Any], key: Any):
        credential = key.get({**challenge["options"], "allowCredentials": []})
        return await client.post(
            "/v1/auth/oidc/link",
            json={
                "link_token": pending["link_token"],
                "password": password,
                "passkey": {"challenge_id": challenge["challenge_id"], "credential": credential},
            },
        )

    owner, key, pending = await account_with_passkey()
    assert pending["status"] == "link_required" and pending["mfa_required"] is True
    assert pending["methods"] == ["passkey", "backup_code"]
    _, stranger_key, stranger_pending = await account_with_passkey()

    challenge = await options(pending["link_token"])
    assert len(challenge["options"]["allowCredentials"]) == 1  # the account's own passkey
    foreign = await link(pending, owner.password, challenge, stranger_key)
    assert foreign.status_code == 401 and foreign.json()["code"] == "passkey_invalid"
    reused = await link(pending, owner.password, challenge, key)
    assert reused.status_code == 400 and reused.json()["code"] == "passkey_challenge_invalid"
    crossed = await link(
        pending, owner.password, await options(stranger_pending["link_token"]), key
    )
    assert crossed.status_code == 400 and crossed.json()["code"] == "passkey_challenge_invalid"
    wrong_password = await link(
        pending, "Not-The-Password-1", await options(pending["link_token"]), key
    )
    assert wrong_password.status_code == 401
    assert wrong_password.json()["code"] == "invalid_credentials"
    both = await client.post(
        "/v1/auth/oidc/link",
        json={
            "link_token": pending["link_token"],
            "password": owner.password,
            "code": "123456",
            "passkey": {"challenge_id": challenge["challenge_id"], "credential": {}},
        },
    )
    assert both.status_code == 422 and both.json()["code"] == "validation_error"
    bad_token = await client.post(
        "/v1/auth/oidc/link/passkey/options", json={"link_token": "qol_" + "a" * 43}
    )
    assert bad_token.status_code == 401 and bad_token.json()["code"] == "invalid_link_token"

    linked = await link(pending, owner.password, await options(pending["link_token"]), key)
    assert linked.status_code == 200, linked.text
    assert linked.json()["user"]["user_id"] == owner.user_id
    assert jwt_claims(linked.json()["access_token"])["mfa"] is True
    assert await _session_amr(app, linked.json()["access_token"]) == ["fed", "pwd", "hwk"]
    # Spent: the token links nothing more.
    again = await client.post(
        "/v1/auth/oidc/link/passkey/options", json={"link_token": pending["link_token"]}
    )
    assert again.status_code == 401 and again.json()["code"] == "invalid_link_token"


async def test_wrong_passkeys_at_a_link_count_against_its_token(client, provider: Provider):
    from tests.mfa.authenticator import SoftAuthenticator
    from tests.mfa.test_passkeys import register_passkey

    owner = await signed_in_user(client)
    assert (await register_passkey(client, owner, SoftAuthenticator())).status_code == 200
    provider.next_user(email=owner.email)
    token = (await google_sign_in(client)).json()["link_token"]
    for _ in range(5):
        challenge = (
            await client.post("/v1/auth/oidc/link/passkey/options", json={"link_token": token})
        ).json()
        forged = SoftAuthenticator()
        forged.create({"rp": {"id": "testserver"}, "user": {"id": "AAAA"}, "challenge": "AAAA"})
        wrong = await client.post(
            "/v1/auth/oidc/link",
            json={
                "link_token": token,
                "password": owner.password,
                "passkey": {
                    "challenge_id": challenge["challenge_id"],
                    "credential": forged.get(challenge["options"] | {"allowCredentials": []}),
                },
            },
        )
        assert wrong.status_code == 401 and wrong.json()["code"] == "passkey_invalid"
    dead = await client.post("/v1/auth/oidc/link/passkey/options", json={"link_token": token})
    assert dead.status_code == 401 and dead.json()["code"] == "invalid_link_token"


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        ({"nonce": "another-nonce"}, "wrong_nonce"),
        ({"aud": "someone-else", "azp": None}, "wrong_audience"),
        ({"azp": "someone-else"}, "wrong_authorized_party"),
        ({"iss": "https://evil.example"}, "wrong_issuer"),
        ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, "expired"),
        ({"iat": int(time.time()) - 3 * 3600, "exp": int(time.time()) + 3600}, "issued_at"),
        ({"sign_with_rogue_key": True}, "bad_signature"),
        ({"nonce": None}, "wrong_nonce"),
    ],
)
async def test_a_bad_id_token_is_refused_and_audited(
    client, app, provider: Provider, tamper: dict[str, Any], reason: str
):
    who = provider.next_user()
    provider.state.tamper = tamper
    answer = await google_sign_in(client)
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "invalid_id_token"
    assert "refresh_token" not in answer.headers.get("set-cookie", "")
    async with app.state.services.sessionmaker() as db:
        from user_service.models import AuthEvent, User

        users = (await db.execute(select(User).where(User.email == who.email))).all()
        failures = (
            (
                await db.execute(
                    select(AuthEvent)
                    .where(AuthEvent.event_type == "login.failed")
                    .order_by(AuthEvent.id.desc())
                    .limit(1)
                )
            )
            .scalars()
            .all()
        )
    assert users == []  # nothing was created
    assert reason in failures[0].details["reason"]


async def _accounts_and_links(app: Any, email: str) -> tuple[int, int]:
    """How many accounts have ``email``, and how many identities are linked to them."""
    from sqlalchemy import func

    from user_service.models import ExternalIdentity, User

    async with app.state.services.sessionmaker() as db:
        users = (await db.execute(select(User.id).where(User.email == email))).scalars().all()
        links = await db.scalar(
            select(func.count())
            .select_from(ExternalIdentity)
            .where(ExternalIdentity.user_id.in_(users))
        )
    return len(users), int(links or 0)


async def test_unverified_email_is_refused_and_creates_nothing(client, app, provider: Provider):
    """A new ``sub`` whose e-mail the provider has not verified gets no account: the address
    might be someone else's, and an account made now would squat it."""
    who = provider.next_user(email_verified=False)
    answer = await google_sign_in(client)
    assert answer.status_code == 400
    assert answer.json()["code"] == "oidc_email_not_verified"
    assert "refresh_token" not in answer.headers.get("set-cookie", "")
    assert await _accounts_and_links(app, who.email or "") == (0, 0)
    # The address stays free: registering it with a password works as for anyone.
    assert (await register(client, email=who.email)).email == who.email
    provider.next_user(email_verified="false")
    assert (await google_sign_in(client)).json()["code"] == "oidc_email_not_verified"
    no_email = provider.next_user()
    no_email.email = None  # the provider shares no address at all
    assert (await google_sign_in(client)).json()["code"] == "oidc_email_not_verified"


async def test_unverified_email_never_offers_a_link_to_an_existing_account(
    client, app, provider: Provider
):
    owner = await register(client)
    who = provider.next_user(email=owner.email, email_verified=False)
    answer = await google_sign_in(client)
    assert answer.status_code == 400
    assert answer.json()["code"] == "oidc_email_not_verified"
    assert "link_token" not in answer.json()
    assert await _accounts_and_links(app, owner.email) == (1, 0)
    # Once the provider has verified the address, the ordinary rule applies: the password.
    provider.next_user(sub=who.sub, email=owner.email)
    pending = (await google_sign_in(client)).json()
    assert pending["status"] == "link_required"
    assert await _accounts_and_links(app, owner.email) == (1, 0)


async def test_wrong_state_is_refused(client, provider: Provider):
    provider.next_user()
    code, state = await authorize(client)
    answer = await callback(client, code, state[:-2] + ("AA" if state[-2:] != "AA" else "BB"))
    assert answer.status_code == 400 and answer.json()["code"] == "invalid_oidc_state"


async def test_replayed_state_is_refused(client, provider: Provider):
    provider.next_user()
    code, state = await authorize(client)
    assert (await callback(client, code, state)).status_code == 200
    # The binding cookie is cleared by the first callback; a replay from a browser that kept
    # it is refused too (the state is spent).
    replay = await callback(client, code, state)
    assert replay.status_code == 400 and replay.json()["code"] == "invalid_oidc_state"


async def test_state_is_bound_to_the_browser_that_started(client, new_client, provider):
    provider.next_user()
    code, state = await authorize(client)
    async with new_client() as other_browser:
        stolen = await callback(other_browser, code, state)
    assert stolen.status_code == 400 and stolen.json()["code"] == "invalid_oidc_state"


async def test_a_second_start_in_the_same_browser_ends_the_first(client, provider: Provider):
    provider.next_user()
    first_code, first_state = await authorize(client)
    await authorize(client)  # overwrites the binding cookie
    stale = await callback(client, first_code, first_state)
    assert stale.status_code == 400 and stale.json()["code"] == "invalid_oidc_state"


async def test_expired_flow_is_refused(client, app, provider: Provider):
    provider.next_user()
    code, state = await authorize(client)
    async with app.state.services.sessionmaker() as db, db.begin():
        from sqlalchemy import update

        from user_service.db import utcnow

        await db.execute(update(OidcFlow).values(expires_at=utcnow()))
    answer = await callback(client, code, state)
    assert answer.status_code == 400 and answer.json()["code"] == "invalid_oidc_state"


async def test_the_code_is_exchanged_with_the_pkce_verifier_and_client_secret(
    client, provider: Provider
):
    provider.next_user()
    provider.state.token_requests.clear()
    assert (await google_sign_in(client)).status_code == 200
    [request] = provider.state.token_requests
    assert request["grant_type"] == "authorization_code"
    assert len(request["code_verifier"]) >= 43
    assert request["redirect_uri"] == "http://testserver/login/google/callback"


async def test_a_rejected_code_is_a_clear_error(client, provider: Provider):
    provider.next_user()
    code, state = await authorize(client)
    provider.state.codes.clear()  # the provider forgot (or already spent) the code
    answer = await callback(client, code, state)
    assert answer.status_code == 400 and answer.json()["code"] == "oidc_code_rejected"


async def test_inactive_account_cannot_sign_in_with_google(client, provider: Provider):
    owner = await signed_in_user(client)
    who = provider.next_user(email=owner.email)
    pending = (await google_sign_in(client)).json()
    linked = await client.post(
        "/v1/auth/oidc/link",
        json={"link_token": pending["link_token"], "password": owner.password},
    )
    assert linked.status_code == 200
    gone = await client.post(
        "/v1/users/me/deactivate", json={"password": owner.password}, headers=owner.headers
    )
    assert gone.status_code == 200, gone.text
    provider.next_user(sub=who.sub, email=who.email)
    answer = await google_sign_in(client)
    assert answer.status_code == 403 and answer.json()["code"] == "account_inactive"


async def test_link_tokens_die_after_five_wrong_passwords(client, provider: Provider):
    owner = await register(client)
    provider.next_user(email=owner.email)
    token = (await google_sign_in(client)).json()["link_token"]
    for _ in range(5):
        wrong = await client.post(
            "/v1/auth/oidc/link", json={"link_token": token, "password": "Wrong-Password-11"}
        )
        assert wrong.status_code in (401, 429)
    right = await client.post(
        "/v1/auth/oidc/link", json={"link_token": token, "password": owner.password}
    )
    assert right.status_code in (401, 429)
    assert right.json()["code"] in ("invalid_link_token", "rate_limited")


async def test_link_token_is_opaque_and_checked(client):
    for token in ("", "qol_short", "x" * 300, "qrt_" + "a" * 43):
        answer = await client.post(
            "/v1/auth/oidc/link", json={"link_token": token, "password": "whatever-123"}
        )
        assert answer.status_code in (401, 422)


async def test_login_with_password_still_works_after_linking(client, provider: Provider):
    owner = await register(client)
    provider.next_user(email=owner.email)
    token = (await google_sign_in(client)).json()["link_token"]
    await client.post("/v1/auth/oidc/link", json={"link_token": token, "password": owner.password})
    body = await login(client, owner)
    assert "access_token" in body


async def test_the_service_authenticates_itself_at_the_token_endpoint(backend, provider: Provider):
    settings = make_settings(
        backend,
        oidc_google_issuer=provider.issuer,
        oidc_google_client_id=provider.client_id,
        oidc_google_client_secret="not-the-secret",
    )
    async with running_app(settings) as app, client_for(app) as client:
        provider.next_user()
        answer = await google_sign_in(client)
    assert answer.status_code == 400
    assert answer.json()["code"] == "oidc_code_rejected"


async def test_an_unreachable_provider_is_a_clear_502(backend):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    settings = make_settings(
        backend,
        oidc_google_issuer=f"http://127.0.0.1:{port}",
        oidc_google_client_id="c",
        oidc_google_client_secret="s",
    )
    async with running_app(settings) as app, client_for(app) as client:
        answer = await client.post("/v1/auth/oidc/google/start", json={})
    assert answer.status_code == 502
    assert answer.json()["code"] == "oidc_provider_unavailable"


async def test_starting_flows_is_rate_limited_per_ip(backend, provider: Provider):
    settings = make_settings(
        backend,
        oidc_google_issuer=provider.issuer,
        oidc_google_client_id=provider.client_id,
        oidc_google_client_secret=provider.state.clients[provider.client_id],
        rate_limit_oidc_start_ip="2 per minute",
    )
    async with running_app(settings) as app, client_for(app) as client:
        answers = [await client.post("/v1/auth/oidc/google/start", json={}) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json()["code"] == "rate_limited" and "retry-after" in answers[2].headers
