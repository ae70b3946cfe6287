"""SQL for second factors (TOTP devices, passkeys), backup codes and ceremony challenges.

Every "use it once" rule here is a conditional ``UPDATE`` whose row count says who won, so two
parallel requests can never both spend one TOTP step, one backup code or one challenge — on
PostgreSQL (the second UPDATE waits for the first's row lock, then re-checks its ``WHERE``)
and on SQLite (``BEGIN IMMEDIATE`` serialises writers) alike.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, cast

from sqlalchemy import CursorResult, Result, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from user_service.models import (
    MfaBackupCode,
    MfaBackupKey,
    MfaChallenge,
    MfaPasskey,
    MfaTotp,
    User,
    WebauthnChallenge,
)


def _affected(result: Result[Any]) -> int:
    return cast(CursorResult[Any], result).rowcount


async def totp_devices(
    db: AsyncSession, user_id: uuid.UUID, *, confirmed: bool = True
) -> list[MfaTotp]:
    """The user's TOTP devices, oldest first (confirmed ones, or only the pending setup)."""
    done = MfaTotp.confirmed_at.is_not(None) if confirmed else MfaTotp.confirmed_at.is_(None)
    result = await db.execute(
        select(MfaTotp)
        .where(MfaTotp.user_id == user_id, done)
        .order_by(MfaTotp.created_at, MfaTotp.id)
        .execution_options(populate_existing=True)
    )
    return list(result.scalars())


async def pending_totp(db: AsyncSession, user_id: uuid.UUID) -> MfaTotp | None:
    pending = await totp_devices(db, user_id, confirmed=False)
    return pending[-1] if pending else None


async def passkeys(db: AsyncSession, user_id: uuid.UUID) -> list[MfaPasskey]:
    result = await db.execute(
        select(MfaPasskey)
        .where(MfaPasskey.user_id == user_id)
        .order_by(MfaPasskey.created_at, MfaPasskey.id)
        .execution_options(populate_existing=True)
    )
    return list(result.scalars())


async def passkey_by_credential_id(db: AsyncSession, credential_id: bytes) -> MfaPasskey | None:
    result = await db.execute(
        select(MfaPasskey)
        .where(MfaPasskey.credential_id == credential_id)
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def factor(
    db: AsyncSession, user_id: uuid.UUID, factor_id: uuid.UUID
) -> MfaTotp | MfaPasskey | None:
    """A confirmed TOTP device or a passkey of this user (never another user's)."""
    device = await db.get(MfaTotp, factor_id, populate_existing=True)
    if device is not None and device.user_id == user_id and device.confirmed_at is not None:
        return device
    passkey = await db.get(MfaPasskey, factor_id, populate_existing=True)
    if passkey is not None and passkey.user_id == user_id:
        return passkey
    return None


async def factor_count(db: AsyncSession, user_id: uuid.UUID) -> int:
    totp = await db.scalar(
        select(func.count())
        .select_from(MfaTotp)
        .where(MfaTotp.user_id == user_id, MfaTotp.confirmed_at.is_not(None))
    )
    keys = await db.scalar(
        select(func.count()).select_from(MfaPasskey).where(MfaPasskey.user_id == user_id)
    )
    return int(totp or 0) + int(keys or 0)


async def is_enabled(db: AsyncSession, user_id: uuid.UUID) -> bool:
    """Two-factor authentication is on while the user holds any confirmed factor."""
    return await factor_count(db, user_id) > 0


async def delete_factor(db: AsyncSession, item: MfaTotp | MfaPasskey) -> bool:
    model = type(item)
    result = await db.execute(
        delete(model).where(model.id == item.id).execution_options(synchronize_session=False)
    )
    return _affected(result) == 1


async def delete_totp_devices(db: AsyncSession, user_id: uuid.UUID) -> int:
    result = await db.execute(
        delete(MfaTotp)
        .where(MfaTotp.user_id == user_id)
        .execution_options(synchronize_session=False)
    )
    return _affected(result)


async def delete_backup_material(db: AsyncSession, user_id: uuid.UUID) -> None:
    """The last factor went: backup codes and their key go too."""
    await db.execute(delete(MfaBackupCode).where(MfaBackupCode.user_id == user_id))
    await db.execute(delete(MfaBackupKey).where(MfaBackupKey.user_id == user_id))


async def backup_key(db: AsyncSession, user_id: uuid.UUID) -> MfaBackupKey | None:
    return await db.get(MfaBackupKey, user_id, populate_existing=True)


async def save_backup_key(
    db: AsyncSession, user_id: uuid.UUID, key_sealed: bytes, *, now: dt.datetime
) -> MfaBackupKey:
    await db.execute(delete(MfaBackupKey).where(MfaBackupKey.user_id == user_id))
    row = MfaBackupKey(user_id=user_id, key_sealed=key_sealed, created_at=now)
    db.add(row)
    await db.flush()
    return row


async def count_unused_backup_codes(db: AsyncSession, user_id: uuid.UUID) -> int:
    count = await db.scalar(
        select(func.count())
        .select_from(MfaBackupCode)
        .where(MfaBackupCode.user_id == user_id, MfaBackupCode.used_at.is_(None))
    )
    return int(count or 0)


async def add_challenge(db: AsyncSession, challenge: MfaChallenge) -> None:
    db.add(challenge)
    await db.flush()


async def challenge_by_hash(db: AsyncSession, token_hash: str) -> MfaChallenge | None:
    result = await db.execute(
        select(MfaChallenge)
        .where(MfaChallenge.token_hash == token_hash)
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def claim_totp_step(
    db: AsyncSession, device_id: uuid.UUID, step: int, *, now: dt.datetime
) -> bool:
    """Record ``step`` as the device's last accepted one if it is newer (RFC 6238 §5.2: no
    replay; per device, so a code of one device never blocks another's)."""
    result = await db.execute(
        update(MfaTotp)
        .where(
            MfaTotp.id == device_id,
            or_(MfaTotp.last_used_step.is_(None), MfaTotp.last_used_step < step),
        )
        .values(last_used_step=step, last_used_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return _affected(result) == 1


async def confirm_device(db: AsyncSession, device_id: uuid.UUID, *, now: dt.datetime) -> bool:
    result = await db.execute(
        update(MfaTotp)
        .where(MfaTotp.id == device_id, MfaTotp.confirmed_at.is_(None))
        .values(confirmed_at=now, updated_at=now)
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
    db: AsyncSession, user_id: uuid.UUID, name: str, secret_sealed: bytes, *, now: dt.datetime
) -> MfaTotp:
    """Start a TOTP setup; an earlier unfinished one of the user is dropped (one at a time).

    The user's row is locked first (PostgreSQL; SQLite serialises writers anyway), so
    parallel setups queue up and each sees — and drops — the one before it.
    """
    await db.execute(select(User.id).where(User.id == user_id).with_for_update())
    await db.execute(
        delete(MfaTotp)
        .where(MfaTotp.user_id == user_id, MfaTotp.confirmed_at.is_(None))
        .execution_options(synchronize_session=False)
    )
    device = MfaTotp(
        id=uuid.uuid4(),
        user_id=user_id,
        name=name,
        secret_sealed=secret_sealed,
        created_at=now,
        updated_at=now,
    )
    db.add(device)
    await db.flush()
    return device


async def record_passkey_use(
    db: AsyncSession,
    passkey_id: uuid.UUID,
    *,
    seen_count: int,
    new_count: int,
    backed_up: bool,
    now: dt.datetime,
) -> bool:
    """Store the new signature counter only if nobody moved it since we read it, so two
    parallel assertions with one counter value cannot both pass the clone check."""
    result = await db.execute(
        update(MfaPasskey)
        .where(MfaPasskey.id == passkey_id, MfaPasskey.sign_count == seen_count)
        .values(sign_count=new_count, backed_up=backed_up, last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    return _affected(result) == 1


# --- WebAuthn ceremony challenges -----------------------------------------------------------


async def add_webauthn_challenge(db: AsyncSession, row: WebauthnChallenge) -> None:
    """Store a challenge; expired ones (of anyone) are swept on the way, so the table stays
    the size of the ceremonies in flight."""
    await db.execute(
        delete(WebauthnChallenge)
        .where(WebauthnChallenge.expires_at < row.created_at - dt.timedelta(minutes=5))
        .execution_options(synchronize_session=False)
    )
    db.add(row)
    await db.flush()


async def webauthn_challenge(db: AsyncSession, challenge_id: uuid.UUID) -> WebauthnChallenge | None:
    return await db.get(WebauthnChallenge, challenge_id, populate_existing=True)


async def consume_webauthn_challenge(
    db: AsyncSession, challenge_id: uuid.UUID, *, now: dt.datetime
) -> bool:
    """Spend a ceremony challenge once, before it expires."""
    result = await db.execute(
        update(WebauthnChallenge)
        .where(
            WebauthnChallenge.id == challenge_id,
            WebauthnChallenge.consumed_at.is_(None),
            WebauthnChallenge.expires_at > now,
        )
        .values(consumed_at=now)
        .execution_options(synchronize_session=False)
    )
    return _affected(result) == 1
