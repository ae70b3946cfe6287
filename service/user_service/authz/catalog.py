"""The permission catalog, the wildcard grammar and the seeded policies (docs/authorization.md).

One vocabulary serves permissions, policy actions, OAuth scopes and resource types: a
permission is ``<namespace>:<verb>`` and the namespace is also the resource type, so the
resource ``alerts:42`` is alert 42 and ``alerts`` (no id) is the subject's alert collection.
Keeping the list closed is what lets a typo in a policy or a check be refused with
``unknown_permission`` instead of silently never matching. See docs/authorization.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, Final

from user_service.exceptions import ValidationFailed

# --- the vocabulary ---------------------------------------------------------------------------

KNOWN_PERMISSIONS: Final[Mapping[str, str]] = {
    "profile:read": "Read a user profile (own profile for users).",
    "profile:update": "Change a user profile (name, phone, timezone, locale, preferences).",
    "positions:read": "Read F&O positions served by the backend.",
    "alerts:create": "Create a price/indicator alert in the alert service.",
    "alerts:read": "Read alerts.",
    "alerts:update": "Change an alert.",
    "alerts:delete": "Delete an alert.",
    "quotes:subscribe": "Subscribe to live quotes on the ticker service WebSocket.",
    "trading_account:view": "See a linked broker account (never its secrets).",
    "trading_account:trade": "Place orders through a linked broker account (needs step-up MFA).",
    "trading_account:manage": "Verify, rotate, share or unlink a broker account.",
    "audit:read": "Read the audit log across users (admin, compliance).",
    "users:read": "List and read user accounts (admin API).",
    "users:manage": "Change a user's status or roles (admin API).",
    "policies:manage": "Create, change and delete authorization policies (admin API).",
    "credentials:read": "Release decrypted broker credentials to a service (internal endpoint).",
    "authz:check": "Ask the policy decision point about another subject (service scope).",
}
"""Every permission the platform knows, with what it allows; also the OAuth scope names."""

RESOURCE_TYPES: Final[frozenset[str]] = frozenset(p.split(":", 1)[0] for p in KNOWN_PERMISSIONS)
"""Resource types are the permission namespaces (``alerts``, ``trading_account``, ...)."""

ACCOUNT_PERMISSIONS: Final[tuple[str, ...]] = ("view", "trade", "manage")
"""Trading-account membership permissions, weakest first: each one implies those before it."""

SUBJECT_KINDS: Final[tuple[str, ...]] = ("role", "user", "client")
"""Subject pattern prefixes: ``role:<name>``, ``user:<id>``, ``client:<client_id>``."""

ESCALATION_PERMISSIONS: Final[frozenset[str]] = frozenset({"users:manage", "policies:manage"})
"""Permissions that let a subject grant itself more (roles, policies): admin-only by design."""

NON_CACHEABLE_NAMESPACES: Final[frozenset[str]] = frozenset({"credentials", "trading_account"})
"""Decisions about credentials or trading are never served from a cache (issue 4)."""

MAX_PATTERN_LENGTH: Final = 200
MAX_WILDCARDS_PER_PATTERN: Final = 4

_PATTERN_CHARS = re.compile(r"[A-Za-z0-9_:.*-]+")


# --- the wildcard grammar ---------------------------------------------------------------------

Matcher = Callable[[str], bool]


def _match_all(_: str) -> bool:
    return True


def pattern_problem(pattern: str) -> str | None:
    """Say what is wrong with a wildcard pattern's syntax, or ``None`` when it is well formed.

    The grammar is deliberately small so a reviewer can predict every match: segments are
    separated by ``:``, ``*`` stands for any run of characters inside one segment (it never
    crosses a ``:``), a lone ``*`` matches everything, and nothing else is special.
    """
    if not pattern:
        return "must not be empty"
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"must be at most {MAX_PATTERN_LENGTH} characters"
    if not _PATTERN_CHARS.fullmatch(pattern):
        return "may only contain letters, digits and _ : . * -"
    if "**" in pattern:
        return "must not contain '**' (a single '*' already matches any run of characters)"
    if pattern.count("*") > MAX_WILDCARDS_PER_PATTERN:
        return f"must contain at most {MAX_WILDCARDS_PER_PATTERN} '*'"
    if pattern != "*" and any(not segment for segment in pattern.split(":")):
        return "must not have an empty segment (a leading, trailing or doubled ':')"
    return None


@lru_cache(maxsize=4096)
def compile_pattern(pattern: str) -> Matcher:
    """Turn a validated pattern into a predicate; ``fnmatch`` is avoided on purpose.

    ``fnmatch`` gives ``?`` and ``[...]`` meaning and lets ``*`` cross segments, so
    ``alerts*`` would match ``alertsx:create``. Here ``alerts:*`` matches ``alerts:create``
    and never ``alertsx:create`` or ``alerts:create:x``. Raises ``ValueError`` on bad syntax.
    """
    problem = pattern_problem(pattern)
    if problem is not None:
        raise ValueError(f"pattern {pattern!r} {problem}")
    if pattern == "*":
        return _match_all
    if "*" not in pattern:
        return pattern.__eq__
    if pattern.count("*") == 1 and pattern.endswith("*"):
        prefix, start = pattern[:-1], len(pattern) - 1

        def starts_with(value: str) -> bool:
            return value.startswith(prefix) and value.find(":", start) < 0

        return starts_with
    regex = re.compile("[^:]*".join(re.escape(piece) for piece in pattern.split("*")))

    def matches(value: str) -> bool:
        return regex.fullmatch(value) is not None

    return matches


def pattern_matches(pattern: str, value: str) -> bool:
    """Match one value against one pattern (convenience for callers outside the hot path)."""
    return compile_pattern(pattern)(value)


# --- permissions ------------------------------------------------------------------------------


def validate_permission(permission: str, *, allow_patterns: bool = False) -> str:
    """Return ``permission`` if the catalog knows it; otherwise raise ``unknown_permission``.

    With ``allow_patterns`` (policy actions, OAuth scopes) a wildcard pattern is accepted when
    it is well formed, has the ``namespace:verb`` shape (or is ``*``) and matches at least one
    known permission, so ``alerts:*`` and ``*:read`` pass and ``alertz:*`` does not.
    """
    if permission in KNOWN_PERMISSIONS:
        return permission
    if allow_patterns and "*" in permission:
        problem = pattern_problem(permission)
        if problem is not None:
            raise ValidationFailed(
                f"Permission pattern {permission!r} {problem}.", code="invalid_policy"
            )
        if permission != "*" and permission.count(":") != 1:
            raise ValidationFailed(
                f"Permission pattern {permission!r} must look like 'resource:action' or be '*'.",
                code="invalid_policy",
            )
        matcher = compile_pattern(permission)
        if any(matcher(known) for known in KNOWN_PERMISSIONS):
            return permission
    raise ValidationFailed(
        f"Unknown permission {permission!r}; known permissions are "
        f"{', '.join(sorted(KNOWN_PERMISSIONS))}.",
        code="unknown_permission",
    )


def permissions_matching(pattern: str) -> frozenset[str]:
    """The known permissions a (validated) pattern grants, e.g. to show what a scope covers."""
    matcher = compile_pattern(pattern)
    return frozenset(p for p in KNOWN_PERMISSIONS if matcher(p))


def account_permission_implies(held: str, required: str) -> bool:
    """``manage`` implies ``trade`` implies ``view``: a stronger grant covers a weaker need."""
    if held not in ACCOUNT_PERMISSIONS or required not in ACCOUNT_PERMISSIONS:
        return False
    return ACCOUNT_PERMISSIONS.index(held) >= ACCOUNT_PERMISSIONS.index(required)


# --- seeded policies --------------------------------------------------------------------------

TRADE_STEP_UP_SECONDS: Final = 300
"""A second factor proven in the last five minutes is required to trade (step-up)."""

SEEDED_POLICIES: Final[tuple[Mapping[str, Any], ...]] = (
    {
        "name": "users-own-resources",
        "description": (
            "Seed 1/5 (users on their own resources): a user reads and edits their own profile, "
            "positions and alerts, and subscribes to quotes. A request naming no resource "
            "instance is about the caller's own collection, which the calling service scopes."
        ),
        "effect": "allow",
        "subjects": ["role:user"],
        "actions": [
            "profile:read",
            "profile:update",
            "positions:read",
            "alerts:create",
            "alerts:read",
            "alerts:update",
            "alerts:delete",
            "quotes:subscribe",
        ],
        "resources": [
            "profile",
            "profile:*",
            "positions",
            "positions:*",
            "alerts",
            "alerts:*",
            "quotes",
        ],
        "conditions": [{"type": "resource_owner"}],
        "priority": 0,
        "enabled": True,
    },
    {
        "name": "users-trading-account-view",
        "description": (
            "Seed 1/5 (users on their own resources): the owner of a trading account, or a "
            "member holding view (or a stronger permission), may see it."
        ),
        "effect": "allow",
        "subjects": ["role:user"],
        "actions": ["trading_account:view"],
        "resources": ["trading_account:*"],
        "conditions": [{"type": "account_permission", "permission": "view"}],
        "priority": 0,
        "enabled": True,
    },
    {
        "name": "users-trading-account-trade",
        "description": (
            "Seed 1/5 (users on their own resources): the owner, or a member holding trade or "
            "manage, may trade, and only with a second factor proven in the last 5 minutes."
        ),
        "effect": "allow",
        "subjects": ["role:user"],
        "actions": ["trading_account:trade"],
        "resources": ["trading_account:*"],
        "conditions": [
            {"type": "account_permission", "permission": "trade"},
            {"type": "mfa_within", "seconds": TRADE_STEP_UP_SECONDS},
        ],
        "priority": 0,
        "enabled": True,
    },
    {
        "name": "users-trading-account-manage",
        "description": (
            "Seed 1/5 (users on their own resources): the owner, or a member holding manage, "
            "may verify, rotate, share or unlink a trading account."
        ),
        "effect": "allow",
        "subjects": ["role:user"],
        "actions": ["trading_account:manage"],
        "resources": ["trading_account:*"],
        "conditions": [{"type": "account_permission", "permission": "manage"}],
        "priority": 0,
        "enabled": True,
    },
    {
        "name": "admin-everything",
        "description": "Seed 2/5: the admin role may do everything (still subject to denies).",
        "effect": "allow",
        "subjects": ["role:admin"],
        "actions": ["*"],
        "resources": ["*"],
        "conditions": [],
        "priority": 0,
        "enabled": True,
    },
    {
        "name": "compliance-audit-read",
        "description": "Seed 3/5: the compliance role may read the audit log, nothing else.",
        "effect": "allow",
        "subjects": ["role:compliance"],
        "actions": ["audit:read"],
        "resources": ["audit", "audit:*"],
        "conditions": [],
        "priority": 0,
        "enabled": True,
    },
    {
        "name": "services-on-their-scopes",
        "description": (
            "Seed 4/5: an OAuth client may do what its token's scopes grant (a scope is a "
            "permission or a pattern such as alerts:*), on any resource."
        ),
        "effect": "allow",
        "subjects": ["client:*"],
        "actions": ["*"],
        "resources": ["*"],
        "conditions": [{"type": "scope"}],
        "priority": 0,
        "enabled": True,
    },
    {
        "name": "deny-non-active-users",
        "description": (
            "Seed 5/5: a user whose status is not active (suspended, deactivated) is denied "
            "everything, whatever their roles; deny overrides allow."
        ),
        "effect": "deny",
        "subjects": ["user:*"],
        "actions": ["*"],
        "resources": ["*"],
        "conditions": [{"type": "user_not_active"}],
        "priority": 100,
        "enabled": True,
    },
    {
        "name": "deny-frozen-trading",
        "description": (
            "Seed 5/5: nothing is done on a trading account whose owner froze their account "
            "(emergency freeze), by the owner, a delegate, a service or an admin; nor by a "
            "frozen user on any account they share. Deny overrides allow."
        ),
        "effect": "deny",
        "subjects": ["*"],
        "actions": ["trading_account:*"],
        "resources": ["*"],
        "conditions": [{"type": "account_frozen"}],
        "priority": 100,
        "enabled": True,
    },
)
"""The five seeded policy concerns (docs/api.md §3) as nine policies (plain data, valid
``PolicyIn``).

Concern 1 is split in four because a policy's conditions all have to hold and each trading
action needs a different membership permission (and trading alone needs step-up MFA); one
policy per action keeps every rule readable and every denial's reason precise.
"""

SEEDED_POLICY_GROUPS: Final[Mapping[str, tuple[str, ...]]] = {
    "users on their own resources": (
        "users-own-resources",
        "users-trading-account-view",
        "users-trading-account-trade",
        "users-trading-account-manage",
    ),
    "admin on everything": ("admin-everything",),
    "compliance read-only on audit": ("compliance-audit-read",),
    "services on their scopes": ("services-on-their-scopes",),
    "deny for non-active users": ("deny-non-active-users", "deny-frozen-trading"),
}
"""Which seeded policies implement each of the five seeded concerns."""
