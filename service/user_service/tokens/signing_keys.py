"""RSA signing keys: generation, rotation and the in-process keyring (SPEC §4).

Private keys are sealed with the KMS key provider (kid as associated data). Every instance
reloads its keyring at most ``SIGNING_KEY_REFRESH_SECONDS`` apart (default 30), so after
``user-service keys rotate`` all instances sign with the new key within 60 s. A retired key
stays in the JWKS until the last token it could have signed has expired.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from user_service.db import read_only, utcnow
from user_service.kit.encryption import KeyProvider, open_sealed, seal
from user_service.models import JwtSigningKey
from user_service.tokens import repository

ALGORITHM = "RS256"


def _aad(kid: str) -> bytes:
    return f"jwt_signing_key:{kid}".encode()


def _generate_private_key(key_size: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=key_size)


async def create_signing_key(
    session: AsyncSession, provider: KeyProvider, key_size: int
) -> JwtSigningKey:
    """Generate (off the event loop), seal and insert a new active key."""
    private_key = await anyio.to_thread.run_sync(_generate_private_key, key_size)
    now = utcnow()
    kid = f"{now:%Y%m%d}-{secrets.token_hex(6)}"
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    row = JwtSigningKey(
        kid=kid,
        algorithm=ALGORITHM,
        key_size=key_size,
        public_key_pem=public_pem.decode("ascii"),
        private_key_sealed=await seal(provider, private_pem, _aad(kid)),
        status="active",
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return row


async def ensure_signing_key(session: AsyncSession, provider: KeyProvider, key_size: int) -> bool:
    """Create the first key when there is none. Returns whether one was created."""
    if await repository.has_active_key(session):
        return False
    await create_signing_key(session, provider, key_size)
    return True


async def rotate_signing_key(
    session: AsyncSession, provider: KeyProvider, key_size: int, max_token_ttl_seconds: int
) -> tuple[JwtSigningKey, list[str]]:
    """Add a new active key and retire the others, keeping them published until expiry."""
    new_key = await create_signing_key(session, provider, key_size)
    now = utcnow()
    # Other instances may sign with the old key until their keyring refreshes (≤ 60 s).
    verify_until = now + dt.timedelta(seconds=max_token_ttl_seconds + 120)
    retired = await repository.retire_active_keys(session, new_key.kid, now, verify_until)
    return new_key, retired


@dataclass
class PublishedKey:
    kid: str
    status: str
    created_at: dt.datetime
    public_key: Any
    jwk: dict[str, Any]
    sealed_private: bytes


class Keyring:
    """The signing key and the verification keys of this instance, cached in memory."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        provider: KeyProvider,
        refresh_seconds: int = 30,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._provider = provider
        self._refresh_seconds = refresh_seconds
        self._keys: dict[str, PublishedKey] = {}
        self._signing: tuple[str, Any] | None = None
        self._loaded_at = 0.0
        self._lock = anyio.Lock()
        self._last_miss_refresh = 0.0

    async def _reload(self) -> None:
        async with read_only(self._sessionmaker) as session:
            rows = await repository.published_keys(session, utcnow())
        keys: dict[str, PublishedKey] = {}
        for row in rows:
            known = self._keys.get(row.kid)
            if known is not None:
                known.status = row.status
                keys[row.kid] = known
                continue
            public_key = serialization.load_pem_public_key(row.public_key_pem.encode("ascii"))
            assert isinstance(public_key, rsa.RSAPublicKey)
            jwk = json.loads(RSAAlgorithm.to_jwk(public_key))
            jwk.update({"kid": row.kid, "alg": ALGORITHM, "use": "sig"})
            keys[row.kid] = PublishedKey(
                row.kid, row.status, row.created_at, public_key, jwk, row.private_key_sealed
            )
        active = sorted(
            (key for key in keys.values() if key.status == "active"),
            key=lambda key: key.created_at,
            reverse=True,
        )
        if active and (self._signing is None or self._signing[0] != active[0].kid):
            pem = await open_sealed(self._provider, active[0].sealed_private, _aad(active[0].kid))
            # Loading (and checking) an RSA-4096 key costs ~260 ms: keep it off the event loop.
            private_key = await anyio.to_thread.run_sync(
                lambda: serialization.load_pem_private_key(pem, password=None)
            )
            self._signing = (active[0].kid, private_key)
        elif not active:
            self._signing = None
        self._keys = keys
        self._loaded_at = time.monotonic()

    async def refresh(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._loaded_at < self._refresh_seconds:
            return
        async with self._lock:
            if force or time.monotonic() - self._loaded_at >= self._refresh_seconds:
                await self._reload()

    async def signing_key(self) -> tuple[str, Any]:
        await self.refresh()
        if self._signing is None:
            await self.refresh(force=True)
        if self._signing is None:
            raise RuntimeError("no active signing key: run `user-service keys rotate`")
        return self._signing

    async def verification_key(self, kid: str) -> Any | None:
        await self.refresh()
        key = self._keys.get(kid)
        # An unknown kid may be a key another instance just created: reload, at most once a second.
        if key is None and time.monotonic() - self._last_miss_refresh > 1.0:
            self._last_miss_refresh = time.monotonic()
            await self.refresh(force=True)
            key = self._keys.get(kid)
        return key.public_key if key is not None else None

    async def jwks(self) -> dict[str, Any]:
        await self.refresh()
        return {"keys": [key.jwk for key in self._keys.values()]}
