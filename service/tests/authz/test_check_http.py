"""POST /v1/authz/check and /check-batch over HTTP, on both back-ends."""

import uuid

import pytest

from tests.admin.support import signed_in_with_roles
from tests.authz.support import ask, share, stepped_up_headers, trading_account
from tests.fixtures.users import register, signed_in_user
from tests.oauth.support import ServiceCaller, create_client, request_token, service_with_token

pytestmark = pytest.mark.anyio


async def test_a_user_asks_about_themselves(client):
    user = await signed_in_user(client)
    body = await ask(client, user.headers, "profile:read")
    assert body == {
        "allowed": True,
        "code": "allowed_by_policy",
        "reason": "Allowed by policy 'users-own-resources'.",
        "policy": "users-own-resources",
        "permission": "profile:read",
        "resource": None,
        "subject": f"user:{user.user_id}",
        "ttl": 60,
        "cached": False,
    }
    denied = await ask(client, user.headers, "users:read")
    assert denied["allowed"] is False
    assert denied["code"] == "no_matching_policy"
    assert denied["policy"] is None
    assert denied["reason"].startswith("Denied: no policy allows user")


async def test_owner_facts_from_the_calling_service(client):
    user = await signed_in_user(client)
    other = str(uuid.uuid4())
    mine = {"type": "alerts", "id": "42", "owner_id": user.user_id}
    theirs = {"type": "alerts", "id": "43", "owner_id": other}
    assert (await ask(client, user.headers, "alerts:update", resource=mine))["allowed"] is True
    body = await ask(client, user.headers, "alerts:update", resource=theirs)
    assert body["allowed"] is False
    assert body["code"] == "condition_failed:resource_owner"
    assert body["resource"] == "alerts:43"
    unknown_owner = await ask(client, user.headers, "alerts:update", resource="alerts:44")
    assert unknown_owner["allowed"] is False  # an instance without an owner fails closed
    collection = await ask(client, user.headers, "alerts:read", resource="alerts")
    assert collection["allowed"] is True


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"permission": "alerts:fly"}, 422, "unknown_permission"),
        ({"permission": "alerts:*"}, 422, "unknown_permission"),
        ({"permission": "*"}, 422, "unknown_permission"),
        ({"permission": "alerts:read", "resource": "widgets:1"}, 422, "invalid_resource"),
        ({"permission": "alerts:read", "resource": "alerts:*"}, 422, "invalid_resource"),
        ({"permission": "alerts:read", "resource": "alerts:1:2"}, 422, "invalid_resource"),
        (
            {"permission": "alerts:read", "resource": {"type": "alerts", "owner_id": "me"}},
            422,
            "invalid_resource",
        ),
        ({"permission": "alerts:read", "subject": str(uuid.uuid4())}, 403, "subject_not_allowed"),
        ({"permission": "alerts:read", "subject": "not-a-uuid"}, 422, "invalid_subject"),
        ({"permission": "alerts:read", "extra": 1}, 422, "validation_error"),
        ({"permission": 42}, 422, "validation_error"),
    ],
)
async def test_bad_questions_get_stable_codes(client, body, status, code):
    user = await signed_in_user(client)
    response = await client.post("/v1/authz/check", json=body, headers=user.headers)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code


async def test_a_user_may_name_themselves(client):
    user = await signed_in_user(client)
    body = await ask(client, user.headers, "profile:read", subject=user.user_id)
    assert body["allowed"] is True


async def test_callers_must_authenticate(client):
    response = await client.post("/v1/authz/check", json={"permission": "profile:read"})
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


async def test_a_service_asks_about_a_user(client, app):
    alerts = await service_with_token(client, app, "alert_service")
    user = await register(client)
    body = await ask(client, alerts.headers, "profile:update", subject=user.user_id)
    assert body["allowed"] is True and body["subject"] == f"user:{user.user_id}"
    assert (await ask(client, alerts.headers, "audit:read", subject=user.user_id))[
        "allowed"
    ] is False
    missing = await client.post(
        "/v1/authz/check",
        json={"permission": "profile:read", "subject": str(uuid.uuid4())},
        headers=alerts.headers,
    )
    assert missing.status_code == 404 and missing.json()["code"] == "subject_not_found"


async def test_a_service_asks_about_itself_by_its_scopes(client, app):
    alerts = await service_with_token(client, app, "alert_service")
    body = await ask(client, alerts.headers, "alerts:delete", resource="alerts:7")
    assert body["allowed"] is True
    assert body["policy"] == "services-on-their-scopes"
    assert body["subject"] == "client:alert_service"
    assert (await ask(client, alerts.headers, "positions:read"))["code"] == (
        "condition_failed:scope"
    )


async def test_a_service_without_the_authz_check_scope_is_refused(client, app):
    name = f"noscope_{uuid.uuid4().hex[:6]}"
    caller = ServiceCaller(name, await create_client(app, name, ["profile:read"]))
    caller.token = (await request_token(client, caller)).json()["access_token"]
    response = await client.post(
        "/v1/authz/check", json={"permission": "profile:read"}, headers=caller.headers
    )
    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"
    narrowed = await service_with_token(client, app, "alert_service")
    narrow = await request_token(client, narrowed, scope="alerts:read")
    response = await client.post(
        "/v1/authz/check",
        json={"permission": "alerts:read"},
        headers={"Authorization": f"Bearer {narrow.json()['access_token']}"},
    )
    assert response.status_code == 403


async def test_trading_account_decisions_read_the_database_and_are_never_cached(client, app):
    owner = await signed_in_user(client)
    viewer = await signed_in_user(client)
    account = await trading_account(app, owner.user_id)
    await share(app, account, viewer.user_id, ["view"])
    resource = f"trading_account:{account}"

    for _ in range(2):
        view = await ask(client, owner.headers, "trading_account:view", resource=resource)
        assert view["allowed"] is True and view["cached"] is False and view["ttl"] == 0
    assert (await ask(client, viewer.headers, "trading_account:view", resource=resource))[
        "allowed"
    ] is True
    manage = await ask(client, viewer.headers, "trading_account:manage", resource=resource)
    assert manage["code"] == "condition_failed:account_permission"

    no_step_up = await ask(client, owner.headers, "trading_account:trade", resource=resource)
    assert no_step_up["code"] == "condition_failed:mfa_within"
    fresh = await stepped_up_headers(app, owner, mfa_age_seconds=30)
    traded = await ask(client, fresh, "trading_account:trade", resource=resource)
    assert traded["allowed"] is True and traded["cached"] is False
    stale = await stepped_up_headers(app, owner, mfa_age_seconds=600)
    assert (await ask(client, stale, "trading_account:trade", resource=resource))[
        "code"
    ] == "condition_failed:mfa_within"

    await share(app, account, (await register(client)).user_id, ["trade"])
    missing = await ask(
        client, owner.headers, "trading_account:view", resource=f"trading_account:{uuid.uuid4()}"
    )
    assert missing["allowed"] is False and missing["code"] == "resource_not_found"
    with_owner = await client.post(
        "/v1/authz/check",
        json={
            "permission": "trading_account:view",
            "resource": {"type": "trading_account", "id": account, "owner_id": owner.user_id},
        },
        headers=owner.headers,
    )
    assert with_owner.status_code == 422 and with_owner.json()["code"] == "invalid_resource"


async def test_delegated_checks_prove_no_second_factor(client, app):
    ticker = await service_with_token(client, app, "ticker_service")
    owner = await signed_in_user(client)
    account = await trading_account(app, owner.user_id)
    body = await ask(
        client,
        ticker.headers,
        "trading_account:trade",
        subject=owner.user_id,
        resource=f"trading_account:{account}",
    )
    assert body["allowed"] is False and body["code"] == "condition_failed:mfa_within"


async def test_cacheable_decisions_are_served_from_the_cache(client, app):
    user = await signed_in_user(client)
    first = await ask(client, user.headers, "quotes:subscribe")
    second = await ask(client, user.headers, "quotes:subscribe")
    assert (first["cached"], second["cached"]) == (False, True)
    assert {**first, "cached": True} == second


@pytest.mark.parametrize("settings_overrides", [{"authz_cache_ttl_seconds": 0}])
async def test_the_cache_can_be_switched_off(client, settings_overrides):
    user = await signed_in_user(client)
    for _ in range(2):
        assert (await ask(client, user.headers, "quotes:subscribe"))["cached"] is False


async def test_batch_answers_in_order(client, app):
    alerts = await service_with_token(client, app, "alert_service")
    user = await register(client)
    response = await client.post(
        "/v1/authz/check-batch",
        json={
            "subject": user.user_id,
            "checks": [
                {"permission": "alerts:read"},
                {"permission": "audit:read"},
                {
                    "permission": "alerts:delete",
                    "resource": {"type": "alerts", "id": "9", "owner_id": user.user_id},
                },
            ],
        },
        headers=alerts.headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["subject"] == f"user:{user.user_id}"
    assert [r["allowed"] for r in body["results"]] == [True, False, True]
    assert [r["permission"] for r in body["results"]] == [
        "alerts:read",
        "audit:read",
        "alerts:delete",
    ]


async def test_a_bad_batch_is_refused_whole_naming_the_item(client):
    user = await signed_in_user(client)
    checks = [{"permission": "alerts:read"}, {"permission": "alerts:fly"}]
    response = await client.post(
        "/v1/authz/check-batch", json={"checks": checks}, headers=user.headers
    )
    assert response.status_code == 422
    assert response.json()["code"] == "unknown_permission"
    assert response.json()["index"] == 1
    too_many = await client.post(
        "/v1/authz/check-batch",
        json={"checks": [{"permission": "alerts:read"}] * 51},
        headers=user.headers,
    )
    assert too_many.status_code == 422
    empty = await client.post("/v1/authz/check-batch", json={"checks": []}, headers=user.headers)
    assert empty.status_code == 422


async def test_a_compliance_officer_reads_the_audit_log(client, app):
    officer = await signed_in_with_roles(client, app, ["compliance"])
    assert (await ask(client, officer.headers, "audit:read"))["allowed"] is True
    assert (await ask(client, officer.headers, "profile:read"))["allowed"] is False
