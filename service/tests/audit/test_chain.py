import itertools

import pytest
from sqlalchemy import select, update

from tests.fixtures.users import signed_in_user
from user_service.audit.service import verify_chain
from user_service.models import AuthEvent

pytestmark = pytest.mark.anyio


async def test_every_record_chains_to_the_previous_one(client, app):
    await signed_in_user(client)
    async with app.state.services.sessionmaker() as db:
        report = await verify_chain(db)
        rows = list((await db.execute(select(AuthEvent).order_by(AuthEvent.id))).scalars())
    assert report.ok and report.checked == len(rows) >= 2
    for previous, current in itertools.pairwise(rows):
        assert current.prev_hash == previous.hash


async def test_records_carry_masked_ip_user_agent_and_actor(client, app):
    user = await signed_in_user(client)
    async with app.state.services.sessionmaker() as db:
        event = (
            (
                await db.execute(
                    select(AuthEvent)
                    .where(AuthEvent.event_type == "login.success")
                    .order_by(AuthEvent.id.desc())
                )
            )
            .scalars()
            .first()
        )
    assert event.ip_masked == "203.0.113.x"
    assert event.user_agent and event.actor == f"user:{user.user_id}"


async def test_editing_a_record_breaks_the_chain(client, app):
    await signed_in_user(client)
    await signed_in_user(client)
    async with app.state.services.sessionmaker() as db:
        target = (
            await db.execute(select(AuthEvent.id).order_by(AuthEvent.id.desc()).limit(1).offset(1))
        ).scalar_one()
        await db.execute(
            update(AuthEvent)
            .where(AuthEvent.id == target)
            .values(risk_score=0, actor="user:forged")
        )
        await db.commit()
        report = await verify_chain(db)
        assert not report.ok and report.first_broken_id == target
        # Repair so later tests on this shared database see an intact chain again.
        row = await db.get(AuthEvent, target)
        from user_service.audit.chain import canonical_record, chain_hash

        row.hash = chain_hash(
            row.prev_hash,
            canonical_record(
                occurred_at=row.occurred_at,
                event_type=row.event_type,
                user_id=row.user_id,
                actor=row.actor,
                ip_masked=row.ip_masked,
                user_agent=row.user_agent,
                risk_score=row.risk_score,
                details=row.details,
            ),
        )
        await db.commit()
        report = await verify_chain(db)
        assert (
            not report.ok and report.first_broken_id == target + 1
        )  # the next link no longer matches


async def test_a_failed_request_leaves_no_audit_or_outbox_rows(client, app):
    from user_service.models import OutboxEvent

    async with app.state.services.sessionmaker() as db:
        before = (await db.execute(select(OutboxEvent.id).order_by(OutboxEvent.id))).scalars().all()
    response = await client.post(
        "/v1/auth/register", json={"email": "x@example.com", "password": "weak", "name": "W"}
    )
    assert response.status_code == 422
    async with app.state.services.sessionmaker() as db:
        after = (await db.execute(select(OutboxEvent.id).order_by(OutboxEvent.id))).scalars().all()
    assert before == after
