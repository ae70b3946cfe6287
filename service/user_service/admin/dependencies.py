"""Role gates of the admin API (docs/api.md §3): ``AdminUser``, ``AuditReader``,
``RequireRole(...)``.

Roles are read from the database on every request, not from the token, so a demoted admin
loses the admin API at once. The gate is a plain role check rather than a policy on purpose:
no policy an admin writes can lock every admin out of the API that repairs policies.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends

from user_service.auth.dependencies import Authenticated, CurrentUser
from user_service.deps import DbSession
from user_service.exceptions import Forbidden
from user_service.users import repository as users_repository


def RequireRole(*roles: str) -> Any:
    """``Annotated`` alias of a signed-in user holding at least one of ``roles``."""
    wanted = frozenset(roles)

    async def dependency(auth: CurrentUser, db: DbSession) -> Authenticated:
        held = await users_repository.role_names(db, auth.user.id)
        if wanted.isdisjoint(held):
            raise Forbidden(
                f"This needs the role {' or '.join(sorted(wanted))}.", code="role_required"
            )
        return auth

    return Annotated[Authenticated, Depends(dependency)]


AdminUser = RequireRole("admin")
AuditReader = RequireRole("admin", "compliance")
FreezeOperator = RequireRole("admin", "compliance")
"""Who may freeze a user's account on their behalf (unfreezing needs ``admin``)."""
