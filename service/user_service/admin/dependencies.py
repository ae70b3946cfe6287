"""Role gates of the admin API (docs/api.md §3): ``AdminUser``, ``AuditReader``,
``FreezeOperator`` — ``RequireRole`` of ``auth/dependencies.py``.

The gate is a plain role check rather than a policy on purpose: no policy an admin writes can
lock every admin out of the API that repairs policies.
"""

from __future__ import annotations

from typing import Annotated

from user_service.auth.dependencies import RequireRole, SignedInUser

AdminUser = Annotated[SignedInUser, RequireRole("admin")]
AuditReader = Annotated[SignedInUser, RequireRole("admin", "compliance")]
FreezeOperator = Annotated[SignedInUser, RequireRole("admin", "compliance")]
"""Who may freeze a user's account on their behalf (unfreezing needs ``admin``)."""
