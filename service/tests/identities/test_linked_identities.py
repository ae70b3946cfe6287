"""Linked identities on the Security page: list, link while signed in, unlink (both back-ends)."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from tests.fixtures.users import register, signed_in_user
from tests.identities.support import Provider, authorize, callback, google_sign_in
from tests.mfa.helpers import controlled_clock, enable_mfa, wait_for_mail
from tests.standins.smtp import extract_link

pytestmark = pytest.mark.anyio

LINK_START = "/v1/users/me/identities/google/start"


def _bearer(body: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {body['access_token']}"}


async def _identities(client: Any, headers: dict[str, str]) -> dict[str, Any]:
    answer = await client.get("/v1/users/me/identities", headers=headers)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def test_identities_need_a_signed_in_user(client):
    assert (await client.get("/v1/users/me/identities")).status_code == 401
    gone = await client.delete(f"/v1/users/me/identities/{uuid.uuid4()}")
    assert gone.status_code == 401
    assert (await client.post(LINK_START, json={"password": "x"})).status_code == 401


async def test_password_user_links_google_from_security_and_unlinks_it(
    client, app, provider: Provider
):
    user = await signed_in_user(client)
    assert await _identities(client, user.headers) == {
        "items": [],
        "next_cursor": None,
        "has_password": True,
    }
    who = provider.next_user(email=f"other-{uuid.uuid4().hex[:6]}@example.com")
    code, state = await authorize(client, LINK_START, headers=user.headers, password=user.password)
    answer = await callback(client, code, state)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "linked"
    assert answer.json()["identity"]["email"] == who.email
    assert "refresh_token" not in answer.headers.get("set-cookie", "")  # no new session

    [identity] = (await _identities(client, user.headers))["items"]
    # The linked Google account now signs in to this account, whatever its e-mail.
    provider.next_user(sub=who.sub, email=who.email)
    signed_in = await google_sign_in(client)
    assert signed_in.status_code == 200 and signed_in.json()["user"]["user_id"] == user.user_id

    gone = await client.delete(
        f"/v1/users/me/identities/{identity['identity_id']}", headers=user.headers
    )
    assert gone.status_code == 204
    assert (await _identities(client, user.headers))["items"] == []
    mail_dir = app.state.services.settings.mail_dir
    await wait_for_mail(mail_dir, user.email, "identity_linked")
    await wait_for_mail(mail_dir, user.email, "identity_unlinked")
    audit = await client.get("/v1/users/me/audit", headers=user.headers)
    types = [item["event_type"] for item in audit.json()["items"]]
    assert "identity.linked" in types and "identity.unlinked" in types

    # Unlinked: a new Google sign-in with that sub creates a new account (its e-mail is new).
    provider.next_user(sub=who.sub, email=who.email)
    fresh = await google_sign_in(client)
    assert fresh.status_code == 200 and fresh.json()["user"]["user_id"] != user.user_id


async def test_linking_from_security_needs_the_password_or_a_code(client, provider: Provider):
    user = await signed_in_user(client)
    wrong = await client.post(
        LINK_START, json={"password": "Not-The-Password-9"}, headers=user.headers
    )
    assert wrong.status_code == 400 and wrong.json()["code"] == "invalid_password"
    neither = await client.post(LINK_START, json={}, headers=user.headers)
    assert neither.status_code == 422
    with controlled_clock() as clock:
        secret, _ = await enable_mfa(client, user, clock)
        provider.next_user()
        code, state = await authorize(
            client, LINK_START, headers=user.headers, code=clock.code(secret)
        )
    assert (await callback(client, code, state)).json()["status"] == "linked"


async def test_a_google_account_links_to_one_quantagro_account_only(client, provider: Provider):
    first = await signed_in_user(client)
    who = provider.next_user()
    code, state = await authorize(
        client, LINK_START, headers=first.headers, password=first.password
    )
    assert (await callback(client, code, state)).json()["status"] == "linked"

    second = await signed_in_user(client)
    provider.next_user(sub=who.sub, email=who.email)
    code, state = await authorize(
        client, LINK_START, headers=second.headers, password=second.password
    )
    taken = await callback(client, code, state)
    assert taken.status_code == 409 and taken.json()["code"] == "identity_in_use"

    # One identity per provider per account.
    provider.next_user()
    code, state = await authorize(
        client, LINK_START, headers=first.headers, password=first.password
    )
    again = await callback(client, code, state)
    assert again.status_code == 409 and again.json()["code"] == "identity_already_linked"


async def test_linking_needs_a_live_session(client, provider: Provider):
    user = await signed_in_user(client)
    provider.next_user()
    code, state = await authorize(client, LINK_START, headers=user.headers, password=user.password)
    out = await client.post("/v1/auth/logout", json={"all_devices": True}, headers=user.headers)
    assert out.status_code == 200
    answer = await callback(client, code, state)
    assert answer.status_code == 401 and answer.json()["code"] == "session_revoked"


async def test_the_last_way_to_sign_in_cannot_be_unlinked(client, provider: Provider):
    provider.next_user()
    body = (await google_sign_in(client)).json()
    listed = await _identities(client, _bearer(body))
    assert listed["has_password"] is False
    [identity] = listed["items"]
    refused = await client.delete(
        f"/v1/users/me/identities/{identity['identity_id']}", headers=_bearer(body)
    )
    assert refused.status_code == 409 and refused.json()["code"] == "last_sign_in_method"
    assert len((await _identities(client, _bearer(body)))["items"]) == 1


async def test_a_google_only_account_can_set_a_password_then_unlink(
    client, app, provider: Provider
):
    who = provider.next_user()
    body = (await google_sign_in(client)).json()
    assert who.email is not None
    requested = await client.post("/v1/auth/password/reset-request", json={"email": who.email})
    assert requested.status_code == 202
    [mail] = await wait_for_mail(app.state.services.settings.mail_dir, who.email, "password_reset")
    token = parse_qs(urlparse(extract_link(mail)).query)["token"][0]
    reset = await client.post(
        "/v1/auth/password/reset",
        json={"token": token, "new_password": "Brand-New-Password-77"},
    )
    assert reset.status_code == 200, reset.text
    # The reset signed every session out: sign in with Google again.
    provider.next_user(sub=who.sub, email=who.email)
    body = (await google_sign_in(client)).json()
    listed = await _identities(client, _bearer(body))
    assert listed["has_password"] is True
    gone = await client.delete(
        f"/v1/users/me/identities/{listed['items'][0]['identity_id']}", headers=_bearer(body)
    )
    assert gone.status_code == 204
    login = await client.post(
        "/v1/auth/login", json={"email": who.email, "password": "Brand-New-Password-77"}
    )
    assert login.status_code == 200


async def test_nobody_unlinks_someone_elses_identity(client, provider: Provider):
    owner = await register(client)
    provider.next_user(email=owner.email)
    pending = (await google_sign_in(client)).json()
    linked = await client.post(
        "/v1/auth/oidc/link",
        json={"link_token": pending["link_token"], "password": owner.password},
    )
    identity_id = (await _identities(client, _bearer(linked.json())))["items"][0]["identity_id"]
    stranger = await signed_in_user(client)
    refused = await client.delete(
        f"/v1/users/me/identities/{identity_id}", headers=stranger.headers
    )
    assert refused.status_code == 404 and refused.json()["code"] == "identity_not_found"
    bad_id = await client.delete("/v1/users/me/identities/not-a-uuid", headers=stranger.headers)
    assert bad_id.status_code == 422


async def test_the_gdpr_export_lists_linked_identities(client, provider: Provider):
    who = provider.next_user()
    body = (await google_sign_in(client)).json()
    export = await client.get("/v1/users/me/export", headers=_bearer(body))
    assert export.status_code == 200
    [identity] = export.json()["linked_identities"]
    assert identity["provider"] == "google"
    assert identity["subject"] == who.sub and identity["email"] == who.email
