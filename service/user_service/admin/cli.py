"""``user-service users create-admin EMAIL``: bootstrap the first admin (or promote a user)."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from user_service.kit.validation import Email
from user_service.models import UserStatus
from user_service.oauth.cli import run_command
from user_service.state import AppServices

users_app = typer.Typer(help="User accounts", no_args_is_help=True)


@users_app.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Argument(help="the admin's email address")],
    password: Annotated[
        str | None, typer.Option(help="for a new user; prompted for when absent")
    ] = None,
    name: Annotated[str, typer.Option(help="display name of a new user")] = "Administrator",
) -> None:
    """Create an admin (the password policy applies) or give an existing user the admin role."""
    from user_service.admin import service
    from user_service.users import repository as users_repository

    try:
        address = TypeAdapter(Email).validate_python(email)
    except ValidationError:
        typer.echo(f"error: {email!r} is not a valid email address", err=True)
        raise typer.Exit(1) from None

    async def exists(services: AppServices, db: AsyncSession) -> bool:
        return await users_repository.get_by_email(db, address) is not None

    if password is None and not run_command(exists):
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def work(services: AppServices, db: AsyncSession) -> tuple[str, bool, list[str], str]:
        grant = await service.create_admin(db, services, address, password, name)
        return str(grant.user.id), grant.created, grant.roles, grant.user.status

    user_id, created, roles, status = run_command(work)
    action = "created" if created else "promoted"
    typer.echo(f"{action} {address} (user {user_id}); roles: {', '.join(roles)}")
    if not created and password is not None:
        typer.echo("note: the existing user's password was left unchanged")
    if status != UserStatus.ACTIVE:
        typer.echo(f"warning: the account is {status}; activate it through the admin API")
