"""The default provider: a key ring in a local file (``KMS_MASTER_KEY_FILE``, docs/kms.md).

Master keys wrap data keys with AES-256-GCM; the file is created 0600, refused when other
users can read it, re-read when it changes (rotation by another process), and written
atomically.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import secrets
import stat
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import anyio.to_thread
import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from user_service.kms.provider import (
    KEY_BYTES,
    NONCE_BYTES,
    TAG_BYTES,
    DecryptionError,
    KeyProviderError,
    WrappedKey,
)

log = structlog.get_logger(__name__)

_WRAP_AAD_PREFIX = b"quantagro/kms/local/v1\x00"
_KEY_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+=-]{0,511}$")
_MAX_KEY_FILE_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class _KeyRing:
    active: str
    keys: Mapping[str, bytes] = field(repr=False)


def _new_key_id() -> str:
    return f"local-{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(4)}"


def _wrap_aad(key_id: str) -> bytes:
    # Binds the wrapped key to the master key id it claims, so a header cannot be relabelled.
    return _WRAP_AAD_PREFIX + key_id.encode()


def _parse_key_file(raw: bytes) -> _KeyRing:
    """Parse and validate the key ring; reasons never quote key material."""
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError("not JSON") from None
    if not isinstance(doc, dict) or doc.get("version") != 1:
        raise ValueError('expected {"version": 1, "active": ..., "keys": {...}}')
    active, keys = doc.get("active"), doc.get("keys")
    if not isinstance(keys, dict) or not keys:
        raise ValueError('"keys" must be a non-empty object')
    ring: dict[str, bytes] = {}
    for key_id, encoded in keys.items():
        if not _KEY_ID_RE.match(key_id):
            raise ValueError(f"key id {key_id[:64]!r} has unexpected characters")
        if not isinstance(encoded, str):
            raise ValueError(f"key {key_id!r} is not a base64 string")
        try:
            material = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"key {key_id!r} is not valid base64") from None
        if len(material) != KEY_BYTES:
            raise ValueError(f"key {key_id!r} is {len(material)} bytes, expected {KEY_BYTES}")
        ring[key_id] = material
    if not isinstance(active, str) or active not in ring:
        raise ValueError('"active" must name one of the keys')
    return _KeyRing(active=active, keys=MappingProxyType(ring))


def _dump_key_file(ring: _KeyRing) -> bytes:
    doc = {
        "version": 1,
        "active": ring.active,
        "keys": {kid: base64.b64encode(key).decode() for kid, key in ring.keys.items()},
    }
    return (json.dumps(doc, indent=2) + "\n").encode()


def _write_new_file(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 from the first byte (O_EXCL: never clobber, no window)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)  # in case a umask or ACL widened it
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    os.close(fd)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _atomic_replace(path: Path, data: bytes) -> None:
    """Write a sibling temp file (0600) and rename it over ``path``: readers see old or new."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    owner = path.stat()
    _write_new_file(tmp, data)
    try:
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            # A rotation run as root must leave the file readable by the service's user.
            os.chown(tmp, owner.st_uid, owner.st_gid)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


class LocalKeyProvider:
    """Master keys in a local JSON key-ring file (``KMS_MASTER_KEY_FILE``), mode 0600.

    Data keys are wrapped with AES-256-GCM under the active master key (random 96-bit nonce,
    the key id as associated data). The file is re-read when it changes on disk, so a
    ``kms rotate-master-key`` run by another process is picked up without a restart.
    """

    name = "local"

    def __init__(self, path: Path | str, *, reload_interval: float = 5.0) -> None:
        self._path = Path(path)
        self._reload_interval = reload_interval
        self._ring, self._signature = self._read()
        self._checked_at = time.monotonic()

    # --- construction -------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path | str, *, reload_interval: float = 5.0) -> LocalKeyProvider:
        """Open an existing key file; ``KeyProviderError`` says what to fix if it is unusable."""
        return cls(path, reload_interval=reload_interval)

    @classmethod
    def create(cls, path: Path | str, *, reload_interval: float = 5.0) -> LocalKeyProvider:
        """Write a new key file with one fresh master key; never overwrites an existing file."""
        path = Path(path)
        if path.exists() or path.is_symlink():
            raise KeyProviderError(
                f"KMS_MASTER_KEY_FILE {path} already exists; refusing to overwrite a master key "
                "(data sealed under it would become unreadable)"
            )
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key_id = _new_key_id()
        ring = _KeyRing(active=key_id, keys={key_id: AESGCM.generate_key(bit_length=256)})
        try:
            _write_new_file(path, _dump_key_file(ring))
        except FileExistsError:
            raise KeyProviderError(
                f"KMS_MASTER_KEY_FILE {path} already exists; refusing to overwrite it"
            ) from None
        log.info("kms.master_key_created", provider=cls.name, key_id=key_id, path=str(path))
        return cls(path, reload_interval=reload_interval)

    # --- introspection (no key material) ------------------------------------------------

    @property
    def path(self) -> Path:
        return self._path

    def key_ids(self) -> tuple[str, ...]:
        """Every master key id still in the ring, the active one included."""
        return tuple(self._ring.keys)

    def current_key_id(self) -> str:
        return self._ring.active

    def __repr__(self) -> str:
        return (
            f"LocalKeyProvider(path={str(self._path)!r}, active={self._ring.active!r}, "
            f"keys={len(self._ring.keys)})"
        )

    def __reduce__(self) -> Any:
        raise TypeError("LocalKeyProvider holds key material and cannot be pickled")

    # --- KeyProvider --------------------------------------------------------------------

    async def wrap_key(self, data_key: bytes) -> WrappedKey:
        if len(data_key) != KEY_BYTES:
            raise ValueError(f"data keys are {KEY_BYTES} bytes")
        await self._refresh(force=False)
        ring = self._ring
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(ring.keys[ring.active]).encrypt(nonce, data_key, _wrap_aad(ring.active))
        return WrappedKey(key_id=ring.active, ciphertext=nonce + sealed)

    async def unwrap_key(self, wrapped: WrappedKey) -> bytes:
        if wrapped.key_id not in self._ring.keys:
            # Another process may have just activated a key (rotation): look at the file once.
            await self._refresh(force=True)
        master = self._ring.keys.get(wrapped.key_id)
        if master is None:
            raise DecryptionError(f"master key {wrapped.key_id!r} is not in the key ring")
        blob = wrapped.ciphertext
        if len(blob) != NONCE_BYTES + KEY_BYTES + TAG_BYTES:
            raise DecryptionError("wrapped data key is malformed")
        try:
            data_key = AESGCM(master).decrypt(
                blob[:NONCE_BYTES], blob[NONCE_BYTES:], _wrap_aad(wrapped.key_id)
            )
        except InvalidTag:
            raise DecryptionError("wrapped data key failed authentication") from None
        return data_key

    def derive_secret(self, purpose: bytes) -> bytes:
        """HKDF of the oldest master key still in the ring: stable across a rotation until
        that key is retired (then counters keyed by it start afresh, nothing else changes)."""
        oldest = min(self._ring.keys)
        return HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"quantagro-derived-secret", info=purpose
        ).derive(self._ring.keys[oldest])

    # --- rotation (used by `user-service kms rotate-master-key`) ------------------------

    def add_key_and_activate(self) -> str:
        """Add a fresh master key and make it the one new data keys are wrapped under.

        Old keys stay in the ring so everything wrapped under them keeps opening until
        ``rewrap`` has moved it; the file is replaced atomically and stays 0600.
        """
        ring, _ = self._read()
        key_id = _new_key_id()
        while key_id in ring.keys:
            key_id = _new_key_id()
        keys = {**ring.keys, key_id: AESGCM.generate_key(bit_length=256)}
        self._store(_KeyRing(active=key_id, keys=MappingProxyType(keys)))
        log.info("kms.master_key_activated", provider=self.name, key_id=key_id)
        return key_id

    def retire_key(self, key_id: str) -> None:
        """Remove an old master key; call only once no blob names it (see docs/kms.md)."""
        ring, _ = self._read()
        if key_id not in ring.keys:
            raise KeyProviderError(f"master key {key_id!r} is not in {self._path}")
        if key_id == ring.active:
            raise KeyProviderError(
                f"master key {key_id!r} is the active key; activate a new one before retiring it"
            )
        keys = {kid: key for kid, key in ring.keys.items() if kid != key_id}
        self._store(_KeyRing(active=ring.active, keys=MappingProxyType(keys)))
        log.info("kms.master_key_retired", provider=self.name, key_id=key_id)

    # --- file handling ------------------------------------------------------------------

    def _store(self, ring: _KeyRing) -> None:
        _atomic_replace(self._path, _dump_key_file(ring))
        self._ring, self._signature = self._read()

    def _read(self) -> tuple[_KeyRing, tuple[int, int, int]]:
        path = self._path
        env = "KMS_MASTER_KEY_FILE"
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            raise KeyProviderError(
                f"{env} {path} is missing; restore it from your backup, or on a fresh install "
                "create one (`user-service kms init`, which `make run` does for you). Without "
                "the original file, credentials sealed under it cannot be decrypted."
            ) from None
        except PermissionError:
            raise KeyProviderError(
                f"{env} {path} cannot be read by this user; give the service's user ownership "
                f"(chown) and run chmod 600 {path}"
            ) from None
        except OSError as exc:
            raise KeyProviderError(f"{env} {path} cannot be opened ({exc.strerror})") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise KeyProviderError(f"{env} {path} is not a regular file")
            if st.st_mode & 0o077:
                raise KeyProviderError(
                    f"{env} {path} is readable by group or others "
                    f"(mode {stat.S_IMODE(st.st_mode):04o}); run chmod 600 {path}"
                )
            if st.st_size > _MAX_KEY_FILE_BYTES:
                raise KeyProviderError(f"{env} {path} is not a valid key file (too large)")
            raw = b""
            while chunk := os.read(fd, 65536):
                raw += chunk
                if len(raw) > _MAX_KEY_FILE_BYTES:
                    raise KeyProviderError(f"{env} {path} is not a valid key file (too large)")
        finally:
            os.close(fd)
        try:
            ring = _parse_key_file(raw)
        except ValueError as exc:
            raise KeyProviderError(
                f"{env} {path} is not a valid key file ({exc}); restore it from your backup"
            ) from None
        return ring, (st.st_ino, st.st_mtime_ns, st.st_size)

    def _reload_if_changed(self) -> None:
        try:
            st = os.stat(self._path)
        except OSError:
            log.error("kms.key_file_unreadable", path=str(self._path))
            return
        if (st.st_ino, st.st_mtime_ns, st.st_size) == self._signature:
            return
        try:
            self._ring, self._signature = self._read()
        except KeyProviderError as exc:
            # Keep serving with the keys already loaded; the message names the fix.
            log.error("kms.key_file_reload_failed", reason=str(exc))
            return
        log.info("kms.key_ring_reloaded", active=self._ring.active, keys=len(self._ring.keys))

    async def _refresh(self, *, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._checked_at < self._reload_interval:
            return
        self._checked_at = now
        await anyio.to_thread.run_sync(self._reload_if_changed)
