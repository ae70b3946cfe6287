"""``user-service kms …``: the master key file and its rotation without downtime (docs/kms.md).

``rotate-master-key`` follows docs/kms.md step by step: add and activate a new master key,
re-wrap every sealed blob in batches with compare-and-set, wait for running instances to
re-read the key file, re-wrap once more, then retire old keys that no blob names any more.
Only data keys are re-wrapped; no secret is ever decrypted, and every old key keeps opening
old blobs until it is retired.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import anyio
import structlog
import typer
from sqlalchemy import select, true, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute

from user_service.config import Settings, get_settings
from user_service.db import create_engine, create_sessionmaker
from user_service.kms import (
    DecryptionError,
    KeyProviderError,
    LocalKeyProvider,
    rewrap,
    sealed_key_id,
)
from user_service.models import JwtSigningKey, MfaBackupKey, MfaTotp, TradingAccount

log = structlog.get_logger(__name__)

kms_app = typer.Typer(
    help="The KMS master key that wraps every secret at rest", no_args_is_help=True
)

DEFAULT_BATCH_SIZE = 200
RELOAD_INTERVAL_SECONDS = 5.0  # LocalKeyProvider's default: instances re-read the file this often


@dataclass(frozen=True)
class SealedColumn:
    """A column holding ``seal()`` blobs, with the primary key that addresses its rows."""

    name: str
    key: InstrumentedAttribute[Any]
    blob: InstrumentedAttribute[Any]


SEALED_COLUMNS: tuple[SealedColumn, ...] = (
    SealedColumn(
        "trading_accounts.credentials_sealed", TradingAccount.id, TradingAccount.credentials_sealed
    ),
    SealedColumn("mfa_totp_devices.secret_sealed", MfaTotp.id, MfaTotp.secret_sealed),
    SealedColumn("mfa_backup_keys.key_sealed", MfaBackupKey.user_id, MfaBackupKey.key_sealed),
    SealedColumn(
        "jwt_signing_keys.private_key_sealed", JwtSigningKey.kid, JwtSigningKey.private_key_sealed
    ),
)


@dataclass
class ColumnPass:
    rewrapped: int = 0
    current: int = 0
    changed_concurrently: int = 0
    unreadable: int = 0

    def describe(self) -> str:
        return (
            f"{self.rewrapped} re-wrapped, {self.current} already current, "
            f"{self.changed_concurrently} changed concurrently, {self.unreadable} unreadable"
        )


@dataclass
class RotationReport:
    previous_key_id: str
    new_key_id: str
    passes: list[dict[str, ColumnPass]] = field(default_factory=list)
    references: dict[str, int] = field(default_factory=dict)
    retired: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"previous master key: {self.previous_key_id}"]
        for number, columns in enumerate(self.passes, start=1):
            for name, result in columns.items():
                out.append(f"pass {number}: {name}: {result.describe()}")
        for key_id, count in sorted(self.references.items()):
            out.append(f"blobs under {key_id}: {count}")
        for key_id in self.retired:
            out.append(f"retired: {key_id}")
        for key_id in self.kept:
            still = self.references.get(key_id, 0)
            why = f"{still} blob(s) still name it; run again later" if still else "--keep-old-key"
            out.append(f"kept: {key_id} ({why})")
        out.append(f"new master key: {self.new_key_id}")
        return out


# --- SQL ------------------------------------------------------------------------------------


async def _batch(
    session: AsyncSession, column: SealedColumn, after: Any, limit: int
) -> list[tuple[Any, bytes]]:
    query = (
        select(column.key, column.blob)
        .where(column.blob.is_not(None))
        .where(column.key > after if after is not None else true())
        .order_by(column.key)
        .limit(limit)
    )
    return [(row[0], row[1]) for row in (await session.execute(query)).all()]


async def _compare_and_set(
    session: AsyncSession, column: SealedColumn, key: Any, old: bytes, new: bytes
) -> bool:
    """``UPDATE … SET blob = :new WHERE pk = :key AND blob = :old`` (keeps ``updated_at``)."""
    table = column.blob.class_.__table__
    values: dict[Any, Any] = {table.c[column.blob.key]: new}
    if "updated_at" in table.c:
        values[table.c.updated_at] = table.c.updated_at  # re-wrapping is not a change of value
    result = await session.execute(
        update(table).where(column.key == key, column.blob == old).values(values)
    )
    return bool(getattr(result, "rowcount", 0))


# --- the procedure --------------------------------------------------------------------------


async def rewrap_all(
    sessionmaker: async_sessionmaker[AsyncSession],
    provider: LocalKeyProvider,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> dict[str, ColumnPass]:
    """One pass over every sealed column; each batch is its own short transaction."""
    report: dict[str, ColumnPass] = {}
    for column in SEALED_COLUMNS:
        result = report[column.name] = ColumnPass()
        after: Any = None
        while True:
            async with sessionmaker() as session:
                rows = await _batch(session, column, after, batch_size)
                for key, blob in rows:
                    try:
                        if sealed_key_id(blob) == provider.current_key_id():
                            result.current += 1
                            continue
                        new = await rewrap(provider, blob)
                    except DecryptionError as exc:
                        result.unreadable += 1
                        log.error(
                            "kms.rewrap_failed", column=column.name, row=str(key), why=str(exc)
                        )
                        continue
                    if await _compare_and_set(session, column, key, blob, new):
                        result.rewrapped += 1
                    else:
                        result.changed_concurrently += 1  # re-sealed meanwhile: next pass
                await session.commit()
            if len(rows) < batch_size:
                break
            after = rows[-1][0]
    return report


async def count_references(sessionmaker: async_sessionmaker[AsyncSession]) -> Counter[str]:
    """How many blobs name each master key id (``"<malformed>"`` for blobs that do not parse)."""
    counts: Counter[str] = Counter()
    for column in SEALED_COLUMNS:
        after: Any = None
        while True:
            async with sessionmaker() as session:
                rows = await _batch(session, column, after, 1000)
            for _key, blob in rows:
                try:
                    counts[sealed_key_id(blob)] += 1
                except DecryptionError:
                    counts["<malformed>"] += 1
            if len(rows) < 1000:
                break
            after = rows[-1][0]
    return counts


async def rotate_master_key(
    settings: Settings,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    settle_seconds: float = RELOAD_INTERVAL_SECONDS + 1,
    retire: bool = True,
) -> RotationReport:
    """docs/kms.md "Master-key rotation", steps 1 to 5."""
    provider = LocalKeyProvider.load(settings.kms_master_key_file)
    previous = provider.current_key_id()
    new_key_id = provider.add_key_and_activate()
    report = RotationReport(previous_key_id=previous, new_key_id=new_key_id)
    engine = create_engine(settings.database_url)
    try:
        sessionmaker = create_sessionmaker(engine)
        report.passes.append(await rewrap_all(sessionmaker, provider, batch_size=batch_size))
        # Instances re-read the key file within RELOAD_INTERVAL_SECONDS; until then they may
        # still seal under the old key. Wait, then catch what they sealed.
        if settle_seconds > 0:
            await anyio.sleep(settle_seconds)
        report.passes.append(await rewrap_all(sessionmaker, provider, batch_size=batch_size))
        counts = await count_references(sessionmaker)
    finally:
        await engine.dispose()
    report.references = dict(counts)
    for key_id in provider.key_ids():
        if key_id == new_key_id:
            continue
        if retire and counts.get(key_id, 0) == 0:
            provider.retire_key(key_id)
            report.retired.append(key_id)
        else:
            report.kept.append(key_id)
    log.info(
        "kms.rotation_finished",
        new_key_id=new_key_id,
        retired=report.retired,
        kept=report.kept,
    )
    return report


async def _sealed_rows_exist(settings: Settings) -> bool:
    engine = create_engine(settings.database_url)
    try:
        counts = await count_references(create_sessionmaker(engine))
    except DBAPIError:
        return False  # no tables yet: a fresh database
    finally:
        await engine.dispose()
    return sum(counts.values()) > 0


async def init_key_file(settings: Settings) -> tuple[LocalKeyProvider, bool]:
    """Load the key file, or create it when nothing sealed exists yet; ``True`` if created."""
    path = Path(settings.kms_master_key_file)
    if await anyio.Path(path).exists() or await anyio.Path(path).is_symlink():
        return LocalKeyProvider.load(path), False
    if await _sealed_rows_exist(settings):
        raise KeyProviderError(
            f"KMS_MASTER_KEY_FILE {path} does not exist, but the database already holds data "
            "sealed under a master key. Restore the original key file from your backup; a new "
            "key could not open that data."
        )
    return LocalKeyProvider.create(path), True


# --- commands -------------------------------------------------------------------------------


@kms_app.command("init")
def init_command() -> None:
    """Create the master key file (KMS_MASTER_KEY_FILE, mode 0600) if it does not exist yet."""
    provider, created = asyncio.run(init_key_file(get_settings()))
    verb = "created" if created else "exists"
    typer.echo(
        f"master key file {verb}: {provider.path} (active key {provider.current_key_id()}, "
        f"{len(provider.key_ids())} key(s))"
    )


@kms_app.command("status")
def status_command() -> None:
    """Show the key ring and how many sealed values each master key still wraps."""
    settings = get_settings()
    provider = LocalKeyProvider.load(settings.kms_master_key_file)

    async def run() -> Counter[str]:
        engine = create_engine(settings.database_url)
        try:
            return await count_references(create_sessionmaker(engine))
        finally:
            await engine.dispose()

    counts = asyncio.run(run())
    for key_id in provider.key_ids():
        marker = " (active)" if key_id == provider.current_key_id() else ""
        typer.echo(f"{key_id}{marker}: {counts.pop(key_id, 0)} sealed value(s)")
    for key_id, count in sorted(counts.items()):
        typer.echo(f"{key_id} (NOT IN THE KEY RING): {count} sealed value(s)")


@kms_app.command("rotate-master-key")
def rotate_command(
    batch_size: Annotated[int, typer.Option(min=1, max=10_000)] = DEFAULT_BATCH_SIZE,
    settle_seconds: Annotated[
        float,
        typer.Option(min=0, help="wait this long for running instances to re-read the key file"),
    ] = RELOAD_INTERVAL_SECONDS + 1,
    keep_old_key: Annotated[
        bool, typer.Option("--keep-old-key", help="re-wrap only; retire the old key later")
    ] = False,
) -> None:
    """Activate a new master key, re-wrap every sealed value under it, retire the old key.

    Safe while the service runs. Keep an offline copy of the old key file for as long as you
    keep database backups taken before the rotation.
    """
    report = asyncio.run(
        rotate_master_key(
            get_settings(),
            batch_size=batch_size,
            settle_seconds=settle_seconds,
            retire=not keep_old_key,
        )
    )
    for line in report.lines():
        typer.echo(line)
