"""SQL for TOTP enrolments, backup codes and login MFA challenges.

Every "use it once" rule here is a conditional ``UPDATE`` whose row count says who won, so two
parallel requests can never both spend one TOTP step, one backup code or one challenge — on
PostgreSQL (the second UPDATE waits for the first's row lock, then re-checks its ``WHERE``)
and on SQLite (``BEGIN IMMEDIATE`` serialises writers) alike.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, cast

from sqlalchemy import CursorResult, Result, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from user_service.models import MfaBackupCode, MfaChallenge, MfaTotp


def _affected(result: Result[Any]) -> int:
    return cast(CursorResult[Any], result).rowcount


async def get_enrolment(db: AsyncSession, user_id: uuid.UUID) -> MfaTotp | None:
    return await db.get(MfaTotp, user_id, populate_existing=True)


async def is_enabled(db: AsyncSession, user_id: uuid.UUID) -> bool:
    result = await db.execute(
        select(MfaTotp.user_id).where(MfaTotp.user_id == user_id, MfaTotp.confirmed_at.is_not(None))
    )
    return result.first() is not None


async def challenge_by_hash(db: AsyncSession, token_hash: str) -> MfaChallenge | None:
    result = await db.execute(
        select(MfaChallenge)
        .where(MfaChallenge.token_hash == token_hash)
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def claim_totp_step(
    db: AsyncSession, user_id: uuid.UUID, step: int, *, now: dt.datetime
) -> bool:
    """Record ``step`` as the last accepted one if it is newer (RFC 6238 §5.2: no replay)."""
    result = await db.execute(
        update(MfaTotp)
        .where(
            MfaTotp.user_id == user_id,
            or_(MfaTotp.last_used_step.is_(None), MfaTotp.last_used_step < step),
        )
        .values(last_used_step=step, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return _affected(result) == 1


async def confirm_enrolment(db: AsyncSession, user_id: uuid.UUID, *, now: dt.datetime) -> bool:
    result = await db.execute(
        update(MfaTotp)
        .where(MfaTotp.user_id == user_id, MfaTotp.confirmed_at.is_(None))
        .values(confirmed_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return _affected(result) == 1


async def delete_enrolment(db: AsyncSession, user_id: uuid.UUID) -> bool:
    await db.execute(delete(MfaBackupCode).where(MfaBackupCode.user_id == user_id))
    result = await db.execute(
        delete(MfaTotp)
        .where(MfaTotp.user_id == user_id)
        .execution_options(synchronize_session=False)
    )
    return _affected(result) == 1


async def unused_backup_codes(db: AsyncSession, user_id: uuid.UUID) -> list[MfaBackupCode]:
    result = await db.execute(
        select(MfaBackupCode)
        .where(MfaBackupCode.user_id == user_id, MfaBackupCode.used_at.is_(None))
        .order_by(MfaBackupCode.id)
    )
    return list(result.scalars())


async def spend_backup_code(db: AsyncSession, code_id: uuid.UUID, *, now: dt.datetime) -> bool:
    result = await db.execute(
        update(MfaBackupCode)
        .where(MfaBackupCode.id == code_id, MfaBackupCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return _affected(result) == 1


async def replace_backup_codes(
    db: AsyncSession, user_id: uuid.UUID, code_hashes: list[str], *, now: dt.datetime
) -> None:
    """Drop every code of the user (used or not) and store the new hashes."""
    await db.execute(delete(MfaBackupCode).where(MfaBackupCode.user_id == user_id))
    db.add_all(
        MfaBackupCode(id=uuid.uuid4(), user_id=user_id, code_hash=code_hash, created_at=now)
        for code_hash in code_hashes
    )
    await db.flush()


async def count_challenge_failure(db: AsyncSession, challenge_id: uuid.UUID) -> int | None:
    """Add one wrong code to a challenge; returns the new count (atomic increment)."""
    result = await db.execute(
        update(MfaChallenge)
        .where(MfaChallenge.id == challenge_id)
        .values(failed_attempts=MfaChallenge.failed_attempts + 1)
        .returning(MfaChallenge.failed_attempts)
        .execution_options(synchronize_session=False)
    )
    return result.scalar_one_or_none()


async def consume_challenge(
    db: AsyncSession, challenge_id: uuid.UUID, *, now: dt.datetime, max_attempts: int
) -> bool:
    """Spend a challenge once: unconsumed, unexpired and under the wrong-code limit."""
    result = await db.execute(
        update(MfaChallenge)
        .where(
            MfaChallenge.id == challenge_id,
            MfaChallenge.consumed_at.is_(None),
            MfaChallenge.expires_at > now,
            MfaChallenge.failed_attempts < max_attempts,
        )
        .values(consumed_at=now)
        .execution_options(synchronize_session=False)
    )
    return _affected(result) == 1


async def end_pending_challenges(db: AsyncSession, user_id: uuid.UUID, *, now: dt.datetime) -> None:
    """A password change or reset ends half-finished logins made with the old password."""
    await db.execute(
        update(MfaChallenge)
        .where(MfaChallenge.user_id == user_id, MfaChallenge.consumed_at.is_(None))
        .values(consumed_at=now)
        .execution_options(synchronize_session=False)
    )


async def save_pending_secret(
    db: AsyncSession, user_id: uuid.UUID, secret_sealed: bytes, *, now: dt.datetime
) -> MfaTotp:
    """Create the enrolment, or give an existing one a new secret and a clean step history.

    Two parallel first setups race on the primary key: the loser (inside a savepoint, so the
    request's transaction survives) takes the row the winner created. The caller refuses to
    touch an enrolment that is already confirmed.
    """
    enrolment = await get_enrolment(db, user_id)
    if enrolment is None:
        try:
            async with db.begin_nested():
                enrolment = MfaTotp(
                    user_id=user_id, secret_sealed=secret_sealed, created_at=now, updated_at=now
                )
                db.add(enrolment)
            return enrolment
        except IntegrityError:
            enrolment = await get_enrolment(db, user_id)
            if enrolment is None:
                raise
    if enrolment.confirmed_at is None:
        enrolment.secret_sealed = secret_sealed
        enrolment.last_used_step = None
        enrolment.created_at = now
        enrolment.updated_at = now
        await db.flush()
    return enrolment
