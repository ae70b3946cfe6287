"""Sealing second-factor secrets, and the backup-code key derived from one.

TOTP secrets and the per-user backup key are 160-bit base32 secrets sealed with the key
provider, kind ``mfa_totp`` and the user id as associated data: a ciphertext copied to another
user's row does not open. (The backup key shares the kind on purpose: users migrated from one
TOTP device keep that device's sealed secret as their backup key, so printed codes stay valid.)
"""

from __future__ import annotations

import base64
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from user_service.db import utcnow
from user_service.kms import open_sealed, row_aad, seal
from user_service.mfa import backup_codes, repository, totp
from user_service.state import AppServices

_AAD_KIND = "mfa_totp"


async def seal_secret(services: AppServices, user_id: uuid.UUID, secret: str) -> bytes:
    return await seal(services.key_provider, secret.encode("ascii"), row_aad(_AAD_KIND, user_id))


async def open_secret(services: AppServices, user_id: uuid.UUID, sealed: bytes) -> str:
    plaintext = await open_sealed(services.key_provider, sealed, row_aad(_AAD_KIND, user_id))
    return plaintext.decode("ascii")


def backup_hmac_key(secret: str, user_id: uuid.UUID) -> bytes:
    return backup_codes.user_key(base64.b32decode(secret), str(user_id))


async def backup_key_of(
    db: AsyncSession, services: AppServices, user_id: uuid.UUID
) -> bytes | None:
    """The user's backup-code HMAC key, or ``None`` when they have no second factor."""
    row = await repository.backup_key(db, user_id)
    if row is None:
        return None
    return backup_hmac_key(await open_secret(services, user_id, row.key_sealed), user_id)


async def new_backup_codes(
    db: AsyncSession, services: AppServices, user_id: uuid.UUID
) -> list[str]:
    """A fresh set of codes (the old ones stop working); the backup key is created the first
    time, with the user's first factor."""
    key = await backup_key_of(db, services, user_id)
    if key is None:
        secret = totp.generate_secret()
        sealed = await seal_secret(services, user_id, secret)
        await repository.save_backup_key(db, user_id, sealed, now=utcnow())
        key = backup_hmac_key(secret, user_id)
    codes = backup_codes.generate_backup_codes()
    hashes = [backup_codes.hash_backup_code(code, key) for code in codes]
    await repository.replace_backup_codes(db, user_id, hashes, now=utcnow())
    return codes
