"""RSA signing keys: generation, rotation and the in-process keyring (docs/api.md §4).

Private keys are sealed with the KMS key provider (kid as associated data).

Rotation without a window: ``user-service keys rotate`` publishes the new key at once (the
JWKS endpoint reads keys at most ``JWKS_MAX_STALENESS`` old) but lets it sign only
``SIGNING_KEY_PUBLISH_LEAD_SECONDS`` later (default 45 s: the JWKS cache lifetime, 30 s, plus
that staleness and a margin), so a verifier that caches the JWKS already holds the key when
the first token signed with it arrives. Every instance learns the schedule on its next reload
(``SIGNING_KEY_REFRESH_SECONDS`` ≤ 30) and switches at ``signs_from`` itself, so all instances
sign with the new key within 60 s of the rotation. ``keys rotate --now`` (a compromised key)
switches at once. A retired key stays in the JWKS until the last token it could have signed
has expired.
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
from user_service.kms import KeyProvider, open_sealed, seal
from user_service.models import JwtSigningKey, SigningKeyStatus
from user_service.tokens import repository

ALGORITHM = "RS256"
JWKS_MAX_AGE_SECONDS = 30  # Cache-Control of the JWKS: how long a verifier may keep it
JWKS_MAX_STALENESS = 1.0  # the JWKS endpoint reloads keys older than this


def _aad(kid: str) -> bytes:
    return f"jwt_signing_key:{kid}".encode()


def _load_private_key(pem: bytes) -> Any:
    return serialization.load_pem_private_key(pem, password=None)


def _generate_private_key(key_size: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=key_size)


async def create_signing_key(
    session: AsyncSession,
    provider: KeyProvider,
    key_size: int,
    signs_from: dt.datetime | None = None,
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
        status=SigningKeyStatus.ACTIVE,
        created_at=now,
        signs_from=signs_from,
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
    session: AsyncSession,
    provider: KeyProvider,
    key_size: int,
    max_token_ttl_seconds: int,
    publish_lead_seconds: int = 0,
) -> tuple[JwtSigningKey, list[str]]:
    """Add a key that signs ``publish_lead_seconds`` from now; the current keys sign until
    then and stay published until the last token they signed has expired."""
    switch_at = utcnow() + dt.timedelta(seconds=publish_lead_seconds)
    new_key = await create_signing_key(session, provider, key_size, signs_from=switch_at)
    # Margin: an instance that has not reloaded yet may sign with the old key a little longer.
    verify_until = switch_at + dt.timedelta(seconds=max_token_ttl_seconds + 120)
    retired = await repository.retire_active_keys(session, new_key.kid, switch_at, verify_until)
    return new_key, retired


@dataclass
class PublishedKey:
    kid: str
    status: SigningKeyStatus
    created_at: dt.datetime
    public_key: Any
    jwk: dict[str, Any]
    sealed_private: bytes
    signs_from: dt.datetime
    retired_at: dt.datetime | None

    def may_sign(self, now: dt.datetime) -> bool:
        return self.signs_from <= now and (self.retired_at is None or now < self.retired_at)


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
        self._schedule: list[PublishedKey] = []  # signing keys, newest signs_from first
        self._private: dict[str, Any] = {}
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
                known.status, known.retired_at = row.status, row.retired_at
                known.signs_from = row.signs_from or row.created_at
                keys[row.kid] = known
                continue
            public_key = serialization.load_pem_public_key(row.public_key_pem.encode("ascii"))
            assert isinstance(public_key, rsa.RSAPublicKey)
            jwk = json.loads(RSAAlgorithm.to_jwk(public_key))
            jwk.update({"kid": row.kid, "alg": ALGORITHM, "use": "sig"})
            keys[row.kid] = PublishedKey(
                row.kid,
                row.status,
                row.created_at,
                public_key,
                jwk,
                row.private_key_sealed,
                row.signs_from or row.created_at,
                row.retired_at,
            )
        # The keys that sign now or will: the current one and any scheduled successor.
        now = utcnow()
        schedule = sorted(
            (key for key in keys.values() if key.retired_at is None or key.retired_at > now),
            key=lambda key: key.signs_from,
            reverse=True,
        )
        current = next((key for key in schedule if key.may_sign(now)), None)
        upcoming = [key for key in schedule if key.signs_from > now]
        wanted = [key for key in (current, *upcoming[-1:]) if key is not None]
        private: dict[str, Any] = {}
        for key in wanted:
            if key.kid in self._private:
                private[key.kid] = self._private[key.kid]
                continue
            pem = await open_sealed(self._provider, key.sealed_private, _aad(key.kid))
            # Loading (and checking) an RSA-4096 key costs ~260 ms: keep it off the event loop.
            private[key.kid] = await anyio.to_thread.run_sync(_load_private_key, pem)
        self._private = private
        self._schedule = [key for key in schedule if key.kid in private]
        self._keys = keys
        self._loaded_at = time.monotonic()

    async def refresh(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._loaded_at < self._refresh_seconds:
            return
        async with self._lock:
            if force or time.monotonic() - self._loaded_at >= self._refresh_seconds:
                await self._reload()

    def _current_signing(self) -> tuple[str, Any] | None:
        now = utcnow()
        for key in self._schedule:
            if key.may_sign(now):
                return key.kid, self._private[key.kid]
        return None

    async def signing_key(self) -> tuple[str, Any]:
        await self.refresh()
        signing = self._current_signing()
        if signing is None:
            await self.refresh(force=True)
            signing = self._current_signing()
        if signing is None:
            raise RuntimeError("no active signing key: run `user-service keys rotate`")
        return signing

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
        """Published keys, at most ``JWKS_MAX_STALENESS`` old: a rotated key appears here at
        once, a full ``SIGNING_KEY_PUBLISH_LEAD_SECONDS`` before it signs."""
        if time.monotonic() - self._loaded_at > JWKS_MAX_STALENESS:
            await self.refresh(force=True)
        return {"keys": [key.jwk for key in self._keys.values()]}
