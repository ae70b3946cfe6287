"""``user-service clients …``: create OAuth clients, rotate their secrets, list them.

A new secret is printed once, alone on the last line, so scripts can capture it with
``tail -n 1``; only its SHA-256 digest is stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from user_service.config import get_settings
from user_service.exceptions import UserServiceError
from user_service.state import AppServices

T = TypeVar("T")

clients_app = typer.Typer(help="OAuth clients of the platform's services", no_args_is_help=True)


@asynccontextmanager
async def command_unit_of_work() -> AsyncIterator[tuple[AppServices, AsyncSession]]:
    """Services and one committed transaction, with after-commit hooks (cache invalidation)."""
    from user_service.bootstrap import build_services, close_services

    services = await build_services(get_settings())
    try:
        async with services.unit_of_work() as db:
            yield services, db
    finally:
        await close_services(services)


def run_command(work: Callable[[AppServices, AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in a unit of work; a ``UserServiceError`` becomes ``error: …`` and exit 1."""

    async def main() -> T:
        async with command_unit_of_work() as (services, db):
            return await work(services, db)

    try:
        return asyncio.run(main())
    except UserServiceError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        for error in exc.extra.get("errors", []):
            typer.echo(f"  - {error.get('message', error)}", err=True)
        raise typer.Exit(1) from None


def _print_secret(client_id: str, scopes: list[str], secret: str, action: str) -> None:
    typer.echo(f"client {client_id} {action}; scopes: {' '.join(scopes)}")
    typer.echo("store this secret now, it is not shown again:")
    typer.echo(secret)


@clients_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="the client id, e.g. risk_service")],
    scope: Annotated[list[str], typer.Option("--scope", help="a permission; repeat for more")],
    display_name: Annotated[str | None, typer.Option(help="a human-readable name")] = None,
) -> None:
    """Create a client with the given scopes and print its first secret."""
    from user_service.oauth import service

    async def work(services: AppServices, db: AsyncSession) -> tuple[list[str], str]:
        client, secret = await service.create_client(db, name, scope, name=display_name)
        return list(client.scopes), secret

    scopes, secret = run_command(work)
    _print_secret(name, scopes, secret, "created")


@clients_app.command("rotate-secret")
def rotate_secret(name: Annotated[str, typer.Argument(help="the client id")]) -> None:
    """Issue a new secret (the old one stops working at once) and print it."""
    from user_service.oauth import service

    async def work(services: AppServices, db: AsyncSession) -> tuple[list[str], str]:
        client, secret = await service.rotate_secret(db, name)
        return list(client.scopes), secret

    scopes, secret = run_command(work)
    _print_secret(name, scopes, secret, "has a new secret")


@clients_app.command("list")
def list_clients() -> None:
    """List clients and their scopes; secrets are never shown."""
    from user_service.oauth import service

    async def work(services: AppServices, db: AsyncSession) -> list[str]:
        lines = []
        for client in await service.list_clients(db):
            state = "disabled" if client.disabled_at else "enabled"
            secret = (
                f"secret rotated {client.secret_rotated_at:%Y-%m-%d %H:%M}Z"
                if client.secret_hash and client.secret_rotated_at
                else "secret set"
                if client.secret_hash
                else "no secret (run: user-service clients rotate-secret " + client.client_id + ")"
            )
            lines.append(f"{client.client_id}\t{state}\t{' '.join(client.scopes)}\t{secret}")
        return lines

    for line in run_command(work):
        typer.echo(line)
