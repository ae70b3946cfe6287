"""Changes to roles, policies, status and memberships reach the very next decision, on every
instance; the decision path fails closed when the database is gone."""

import time
import uuid

import anyio
import pytest
from sqlalchemy import delete

from tests.admin.support import db_session, set_roles, signed_in_admin
from tests.authz.support import ask, share, trading_account
from tests.conftest import client_for, running_app
from tests.fixtures.users import register, signed_in_user
from tests.oauth.support import service_with_token
from user_service.authz.invalidation import invalidate_decisions
from user_service.db import create_engine, create_sessionmaker
from user_service.models import Policy

pytestmark = pytest.mark.anyio


async def test_a_role_change_flips_the_next_decision(client, app):
    admin = await signed_in_admin(client, app)
    user = await signed_in_user(client)
    backend = await service_with_token(client, app, "backend")
    for headers, subject in ((user.headers, {}), (backend.headers, {"subject": user.user_id})):
        await ask(client, headers, "users:read", **subject)
        warm = await ask(client, headers, "users:read", **subject)
        assert (warm["allowed"], warm["cached"]) == (False, True)

    response = await client.put(
        f"/v1/admin/users/{user.user_id}/roles",
        json={"roles": ["user", "admin"]},
        headers=admin.headers,
    )
    assert response.status_code == 200
    flipped = await ask(client, backend.headers, "users:read", subject=user.user_id)
    assert (flipped["allowed"], flipped["cached"]) == (True, False)
    assert flipped["policy"] == "admin-everything"
    # the user's own token (no MFA either) asks the very same question: same answer, cached
    assert (await ask(client, user.headers, "users:read"))["allowed"] is True


async def test_a_role_changed_by_another_domain_flips_the_next_decision(client, app):
    user = await signed_in_user(client)
    await ask(client, user.headers, "audit:read")
    assert (await ask(client, user.headers, "audit:read"))["cached"] is True
    await set_roles(app, user.user_id, ["user", "compliance"])
    assert (await ask(client, user.headers, "audit:read"))["allowed"] is True


async def test_a_policy_created_by_the_admin_api_changes_decisions_at_once(client, app):
    admin = await signed_in_admin(client, app)
    user = await signed_in_user(client)
    before = await ask(client, user.headers, "positions:read")
    assert before["allowed"] is True
    assert (await ask(client, user.headers, "positions:read"))["cached"] is True
    name = f"no-positions-{uuid.uuid4().hex[:6]}"
    created = await client.post(
        "/v1/admin/policies",
        json={
            "name": name,
            "effect": "deny",
            "subjects": [f"user:{user.user_id}"],
            "actions": ["positions:read"],
            "resources": ["*"],
        },
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text
    after = await ask(client, user.headers, "positions:read")
    assert (after["allowed"], after["code"], after["policy"]) == (False, "denied_by_policy", name)
    await client.delete(f"/v1/admin/policies/{created.json()['id']}", headers=admin.headers)
    assert (await ask(client, user.headers, "positions:read"))["allowed"] is True


async def test_suspension_flips_delegated_decisions(client, app):
    admin = await signed_in_admin(client, app)
    user = await register(client)
    alerts = await service_with_token(client, app, "alert_service")
    await ask(client, alerts.headers, "alerts:read", subject=user.user_id)
    assert (await ask(client, alerts.headers, "alerts:read", subject=user.user_id))["cached"]
    response = await client.patch(
        f"/v1/admin/users/{user.user_id}/status",
        json={"status": "suspended"},
        headers=admin.headers,
    )
    assert response.status_code == 200
    body = await ask(client, alerts.headers, "alerts:read", subject=user.user_id)
    assert (body["allowed"], body["policy"]) == (False, "deny-non-active-users")


async def test_a_new_membership_counts_at_once(client, app):
    owner = await signed_in_user(client)
    member = await signed_in_user(client)
    account = await trading_account(app, owner.user_id)
    resource = f"trading_account:{account}"
    assert (await ask(client, member.headers, "trading_account:view", resource=resource))[
        "allowed"
    ] is False
    await share(app, account, member.user_id, ["manage"])
    assert (await ask(client, member.headers, "trading_account:view", resource=resource))[
        "allowed"
    ] is True


async def test_a_rolled_back_change_invalidates_nothing(client, app):
    user = await signed_in_user(client)
    await ask(client, user.headers, "quotes:subscribe")
    cache = app.state.services.decision_cache
    version = cache.version
    with pytest.raises(RuntimeError):
        async with db_session(app) as db:
            invalidate_decisions(db, user_ids=[uuid.UUID(user.user_id)])
            raise RuntimeError("the change failed")
    assert cache.version == version
    assert (await ask(client, user.headers, "quotes:subscribe"))["cached"] is True


async def test_an_unreachable_database_answers_503_never_allow(client, app, backend):
    user = await signed_in_user(client)
    alerts = await service_with_token(client, app, "alert_service")
    assert (await ask(client, user.headers, "quotes:subscribe"))["allowed"] is True
    services = app.state.services
    dead_url = (
        "sqlite+aiosqlite:////nonexistent-dir/qus.db"
        if backend.name == "sqlite"
        else "postgresql+asyncpg://postgres@127.0.0.1:1/nowhere"
    )
    dead = create_engine(dead_url)
    real = services.sessionmaker
    services.sessionmaker = create_sessionmaker(dead)
    try:
        for headers, body in (
            (user.headers, {"permission": "quotes:subscribe"}),
            (alerts.headers, {"permission": "alerts:read", "subject": user.user_id}),
            (alerts.headers, {"permission": "alerts:read"}),
        ):
            response = await client.post("/v1/authz/check", json=body, headers=headers)
            assert response.status_code == 503, response.text
            assert response.json()["code"] == "decision_unavailable"
            assert "allowed" not in response.json()
    finally:
        services.sessionmaker = real
        await dead.dispose()
    assert (await ask(client, user.headers, "quotes:subscribe"))["allowed"] is True


async def test_a_stored_policy_that_no_longer_validates_fails_closed(client, app):
    user = await signed_in_user(client)
    policy_id = uuid.uuid4()
    async with db_session(app) as db:  # written behind the API's back, as a bad migration would
        db.add(
            Policy(
                id=policy_id,
                name=f"broken-{policy_id.hex[:6]}",
                effect="deny",
                subjects=["*"],
                actions=["alertz:read"],
                resources=["*"],
                conditions=[],
            )
        )
        invalidate_decisions(db)
    try:
        response = await client.post(
            "/v1/authz/check", json={"permission": "profile:read"}, headers=user.headers
        )
        assert response.status_code == 503
        assert response.json()["code"] == "decision_unavailable"
    finally:
        async with db_session(app) as db:
            await db.execute(delete(Policy).where(Policy.id == policy_id))
            invalidate_decisions(db)
    assert (await ask(client, user.headers, "profile:read"))["allowed"] is True


async def _eventually(predicate, timeout: float = 2.0):
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value or time.monotonic() > deadline:
            return value
        await anyio.sleep(0.01)


async def test_an_invalidation_on_one_instance_reaches_another(backend, backend_settings):
    if backend.redis_url is None:
        pytest.skip(
            "the embedded back-end has no Redis: one instance per database, so there is no "
            "second instance to reach (the single-instance tests above cover it)"
        )
    settings = backend_settings()  # one Redis prefix, two in-process caches
    async with running_app(settings) as app_a, running_app(settings) as app_b:
        assert app_a.state.services.decision_cache is not app_b.state.services.decision_cache
        async with client_for(app_a) as a, client_for(app_b) as b:
            admin = await signed_in_admin(a, app_a)
            user = await register(a)
            backend_service = await service_with_token(a, app_a, "backend")
            question = {"subject": user.user_id}

            on_a = await ask(a, backend_service.headers, "audit:read", **question)
            on_b = await ask(b, backend_service.headers, "audit:read", **question)
            assert (on_a["cached"], on_b["cached"]) == (False, True)  # shared through Redis
            again_b = await ask(b, backend_service.headers, "audit:read", **question)
            assert (again_b["allowed"], again_b["cached"]) == (False, True)

            response = await a.put(
                f"/v1/admin/users/{user.user_id}/roles",
                json={"roles": ["user", "compliance"]},
                headers=admin.headers,
            )
            assert response.status_code == 200

            async def flipped_on_b() -> bool:
                body = await ask(b, backend_service.headers, "audit:read", **question)
                return body["allowed"] is True

            # pub/sub delivery takes well under a millisecond here (B usually flips on the first
            # try); the deadline only keeps a slow machine from failing the test
            assert await _eventually(flipped_on_b), "instance B still serves the old decision"
            version_a = app_a.state.services.decision_cache.version
            assert app_b.state.services.decision_cache.version == version_a


async def test_without_its_invalidation_channel_an_instance_bypasses_the_cache(
    client, app, backend
):
    if backend.redis_url is None:
        pytest.skip("the embedded back-end has no invalidation channel to lose")
    user = await signed_in_user(client)
    await ask(client, user.headers, "quotes:subscribe")
    assert (await ask(client, user.headers, "quotes:subscribe"))["cached"] is True
    cache = app.state.services.decision_cache
    await cache.stop()  # as if Redis pub/sub were down
    assert cache.usable is False
    for _ in range(2):
        body = await ask(client, user.headers, "quotes:subscribe")
        assert (body["allowed"], body["cached"]) == (True, False)
    await cache.start()
    assert cache.usable is True
