"""``user-service``: migrations, serving, keys, clients, admins and the audit chain.

Commands that create a secret print it once, alone on the last line, so scripts can capture
it with ``tail -n 1``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from user_service.admin.cli import users_app
from user_service.config import Settings, get_settings
from user_service.kms.cli import kms_app
from user_service.oauth.cli import clients_app

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

    from user_service.audit.service import ChainReport

app = typer.Typer(help="Quantagro User Service", no_args_is_help=True, add_completion=False)
keys_app = typer.Typer(help="JWT signing keys", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
audit_app = typer.Typer(help="The audit log", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
app.add_typer(kms_app, name="kms")
app.add_typer(clients_app, name="clients")
app.add_typer(users_app, name="users")

SERVICE_DIR = Path(__file__).resolve().parents[1]
T = TypeVar("T")


def _run(factory: Callable[[Settings], Coroutine[Any, Any, T]]) -> T:
    settings = get_settings()
    return asyncio.run(factory(settings))


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def alembic_config(database_url: str) -> AlembicConfig:
    from alembic.config import Config

    config = Config(str(SERVICE_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(SERVICE_DIR / "migrations"))
    config.attributes["database_url"] = database_url
    return config


@app.command()
def migrate(revision: str = "head") -> None:
    """Apply database migrations (creates the SQLite file and its folder if needed)."""
    from alembic import command

    from user_service.db import secure_sqlite_file

    settings = get_settings()
    if settings.is_sqlite:
        secure_sqlite_file(settings.database_url)
    command.upgrade(alembic_config(settings.database_url), revision)
    typer.echo(f"database migrated to {revision}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="defaults to HOST")] = None,
    port: Annotated[int | None, typer.Option(help="defaults to PORT")] = None,
    workers: int = 1,
) -> None:
    """Serve the API (and the built frontend) with uvicorn."""
    import uvicorn

    settings = get_settings()
    if settings.is_sqlite and workers != 1:
        _fail("SQLite (the embedded default) runs one worker; use PostgreSQL for more")
    uvicorn.run(
        "user_service.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        proxy_headers=False,  # X-Forwarded-For is read only from TRUSTED_PROXIES, by the app
        server_header=False,
        log_level=settings.log_level.lower(),
        # Our own access log (route templates, masked IPs) replaces uvicorn's, which would write
        # query strings (``?token=…``) and full client IPs; the app configures the loggers.
        access_log=False,
        log_config=None,
    )


@app.command()
def openapi(output: Annotated[Path | None, typer.Option("--output", "-o")] = None) -> None:
    """Print (or write) the OpenAPI document — the frontend's types are generated from it."""
    from user_service.app import create_app

    document = json.dumps(create_app().openapi(), indent=2, sort_keys=True) + "\n"
    if output:
        output.write_text(document)
    else:
        sys.stdout.write(document)


@keys_app.command("rotate")
def keys_rotate(
    now: Annotated[
        bool, typer.Option("--now", help="sign with the new key at once (a compromised key)")
    ] = False,
) -> None:
    """Add a new signing key: published at once, signing after SIGNING_KEY_PUBLISH_LEAD_SECONDS
    (so verifiers caching the JWKS already know it); older keys stay published until their
    tokens expire."""
    from user_service.bootstrap import build_services, close_services
    from user_service.tokens.signing_keys import rotate_signing_key

    async def run(settings: Settings) -> tuple[str, list[str], str]:
        services = await build_services(settings)
        try:
            async with services.sessionmaker() as session:
                key, retired = await rotate_signing_key(
                    session,
                    services.key_provider,
                    settings.jwt_key_size,
                    max(settings.access_token_ttl_seconds, settings.service_token_ttl_seconds),
                    publish_lead_seconds=0 if now else settings.signing_key_publish_lead_seconds,
                )
                await session.commit()
            signs_from = (key.signs_from or key.created_at).isoformat(timespec="seconds")
            return key.kid, retired, signs_from
        finally:
            await close_services(services)

    kid, retired, signs_from = _run(run)
    typer.echo(f"retired (still published until their tokens expire): {', '.join(retired) or '-'}")
    typer.echo(f"new signing key: {kid} (published now, signs from {signs_from})")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the hash chain of the audit log; exits 1 at the first broken link."""
    from user_service.audit.service import verify_chain
    from user_service.db import create_engine, create_sessionmaker

    async def run(settings: Settings) -> ChainReport:
        engine = create_engine(settings.database_url)
        try:
            async with create_sessionmaker(engine)() as session:
                return await verify_chain(session)
        finally:
            await engine.dispose()

    report = _run(run)
    start = (
        f" from anchor {report.anchor.id} (records before "
        f"{report.anchor.pruned_before.isoformat(timespec='seconds')} were pruned)"
        if report.anchor
        else ""
    )
    if report.ok:
        typer.echo(f"audit chain intact: {report.checked} records verified{start}")
    elif report.first_broken_id is None:
        _fail(f"audit chain not confirmed{start}: {report.problem}")
    else:
        _fail(
            f"audit chain broken at record {report.first_broken_id}: {report.problem} "
            f"({report.checked} records verified before it{start})"
        )


@audit_app.command("prune")
def audit_prune(
    retention_days: Annotated[
        int | None, typer.Option(help="defaults to AUDIT_RETENTION_DAYS", min=7)
    ] = None,
) -> None:
    """Count events per day, create the weekly partitions ahead (PostgreSQL) and remove the
    records older than the retention period, anchoring the hash chain where it now starts."""
    from user_service.audit.retention import MaintenanceReport, maintain
    from user_service.db import create_engine, create_sessionmaker

    async def run(settings: Settings) -> MaintenanceReport:
        engine = create_engine(settings.database_url)
        try:
            async with create_sessionmaker(engine)() as session:
                report = await maintain(
                    session,
                    retention_days=retention_days or settings.audit_retention_days,
                    ahead_weeks=settings.audit_partitions_ahead_weeks,
                )
                await session.commit()
                return report
        finally:
            await engine.dispose()

    report = _run(run)
    if report.skipped:
        typer.echo(f"skipped: {report.skipped}")
        return
    boundary = report.boundary.isoformat(timespec="seconds") if report.boundary else "-"
    typer.echo(f"table: {report.table}; records before {boundary} are removed")
    typer.echo(f"daily counts refreshed for {report.days_counted} day(s)")
    typer.echo(f"partitions created: {', '.join(report.partitions_created) or '-'}")
    typer.echo(f"partitions dropped: {', '.join(report.partitions_dropped) or '-'}")
    anchor = f" (anchor {report.anchor_id})" if report.anchor_id else ""
    typer.echo(f"records removed: {report.rows_removed}{anchor} in {report.seconds:.2f} s")


def main() -> None:
    try:
        app()
    except Exception as exc:  # a clean message for configuration errors, not a traceback
        from pydantic import ValidationError

        from user_service.kms import KeyProviderError

        if isinstance(exc, ValidationError | KeyProviderError):
            typer.echo(f"error: {exc}", err=True)
            raise SystemExit(2) from None
        raise


if __name__ == "__main__":
    main()
