"""Password hashing: bcrypt over an HMAC-SHA256 pre-hash, always off the event loop.

bcrypt reads at most 72 bytes (bcrypt 5 raises beyond that). Passwords are NFKC-normalised,
then HMAC-SHA256'd with a fixed domain key and base64-encoded (44 bytes), so every character
of a 128+ character password counts and nothing is silently truncated (docs/api.md §5). The fixed
key separates these digests from plain SHA-256 hashes leaked elsewhere ("password shucking").

The work runs in a bounded pool of dedicated threads (STYLE habit 7) whose scheduling
priority is lowered (nice +10 on Linux): under a login storm the event loop and the database
still get a core as soon as they need one, while hashing keeps every idle cycle. Without it,
each of a request's database round trips waited behind the hash threads for a time slice.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import os
import re
import secrets
import threading
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import bcrypt

T = TypeVar("T")
HASH_THREAD_NICENESS = 10

_PREHASH_KEY = b"quantagro/user-service/password/v1"
_COST_RE = re.compile(r"^\$2[abxy]\$(\d{2})\$")


def normalise_password(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def _prehash(password: str) -> bytes:
    digest = hmac.new(_PREHASH_KEY, normalise_password(password).encode("utf-8"), hashlib.sha256)
    return base64.b64encode(digest.digest())


# An account created through an identity provider has no password (docs/oidc.md): its stored
# "hash" starts with "!", which no bcrypt hash does, and no password ever matches it.
UNUSABLE_PASSWORD_PREFIX = "!"


def unusable_password() -> str:
    return UNUSABLE_PASSWORD_PREFIX + secrets.token_urlsafe(32)


def has_usable_password(password_hash: str) -> bool:
    return not password_hash.startswith(UNUSABLE_PASSWORD_PREFIX)


def hash_cost(password_hash: str) -> int | None:
    match = _COST_RE.match(password_hash)
    return int(match.group(1)) if match else None


def _lower_thread_priority() -> None:
    """Lower this thread's priority (Linux gives each thread its own nice value)."""
    with contextlib.suppress(AttributeError, OSError, PermissionError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASH_THREAD_NICENESS)


class PasswordHasher:
    def __init__(self, rounds: int = 12, workers: int = 4) -> None:
        self.rounds = rounds
        self._executor = ThreadPoolExecutor(
            max_workers=workers,
            thread_name_prefix="password-hash",
            initializer=_lower_thread_priority,
        )
        self._dummy_hash: str | None = None

    async def _run(self, function: Callable[..., T], *args: str) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def hash_sync(self, password: str) -> str:
        return bcrypt.hashpw(_prehash(password), bcrypt.gensalt(self.rounds)).decode("ascii")

    @staticmethod
    def verify_sync(password: str, password_hash: str) -> bool:
        try:
            return bcrypt.checkpw(_prehash(password), password_hash.encode("ascii"))
        except ValueError:
            return False

    async def hash(self, password: str) -> str:
        return await self._run(self.hash_sync, password)

    async def verify(self, password: str, password_hash: str) -> bool:
        if not has_usable_password(password_hash):
            # Spend the same time as a real check: the answer must not tell that the account
            # has no password (it was created through an identity provider).
            await self.burn_time(password)
            return False
        return await self._run(self.verify_sync, password, password_hash)

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
