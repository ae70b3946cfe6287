"""Password hashing: bcrypt over an HMAC-SHA256 pre-hash, always off the event loop.

bcrypt reads at most 72 bytes (bcrypt 5 raises beyond that). Passwords are NFKC-normalised,
then HMAC-SHA256'd with a fixed domain key and base64-encoded (44 bytes), so every character
of a 128+ character password counts and nothing is silently truncated (SPEC §5). The fixed
key separates these digests from plain SHA-256 hashes leaked elsewhere ("password shucking").

The work runs in a bounded thread pool: a login storm queues there instead of stalling every
other request (STYLE habit 7).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import unicodedata

import anyio
import anyio.to_thread
import bcrypt

_PREHASH_KEY = b"quantagro/user-service/password/v1"
_COST_RE = re.compile(r"^\$2[abxy]\$(\d{2})\$")


def normalise_password(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def _prehash(password: str) -> bytes:
    digest = hmac.new(_PREHASH_KEY, normalise_password(password).encode("utf-8"), hashlib.sha256)
    return base64.b64encode(digest.digest())


def hash_cost(password_hash: str) -> int | None:
    match = _COST_RE.match(password_hash)
    return int(match.group(1)) if match else None


class PasswordHasher:
    def __init__(self, rounds: int = 12, workers: int = 4) -> None:
        self.rounds = rounds
        self._limiter = anyio.CapacityLimiter(workers)
        self._dummy_hash: str | None = None

    def hash_sync(self, password: str) -> str:
        return bcrypt.hashpw(_prehash(password), bcrypt.gensalt(self.rounds)).decode("ascii")

    @staticmethod
    def verify_sync(password: str, password_hash: str) -> bool:
        try:
            return bcrypt.checkpw(_prehash(password), password_hash.encode("ascii"))
        except ValueError:
            return False

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(self.hash_sync, password, limiter=self._limiter)

    async def verify(self, password: str, password_hash: str) -> bool:
        return await anyio.to_thread.run_sync(
            self.verify_sync, password, password_hash, limiter=self._limiter
        )

    async def verify_and_update(self, password: str, password_hash: str) -> tuple[bool, str | None]:
        """Verify, and return a new hash when the stored one uses another cost."""
        if not await self.verify(password, password_hash):
            return False, None
        if hash_cost(password_hash) != self.rounds:
            return True, await self.hash(password)
        return True, None

    async def burn_time(self, password: str) -> None:
        """Spend one verify's worth of time for an unknown account (no user enumeration)."""
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash("dummy password for timing equalisation")
        await self.verify(password, self._dummy_hash)
