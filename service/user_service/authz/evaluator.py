"""The policy decision engine: pure, deterministic, no I/O (docs/authorization.md).

Rules, in the order a reviewer should check them:

* a disabled policy is ignored;
* a policy *targets* a request when one of its subject, action and resource patterns matches
  each (``catalog.compile_pattern``: segment-aware ``*``, nothing else special);
* a targeting deny whose conditions do not fail applies, and deny overrides allow;
* otherwise a targeting allow whose conditions all hold allows;
* otherwise the request is denied, naming the allow whose condition failed, if any.

A condition that cannot be evaluated (the owner of a resource instance is unknown, no
trading-account information) is *indeterminate*: it fails closed both ways, so an allow does
not apply and a deny does. The endpoint, the decision cache and the admin API wrap this
module; see docs/authorization.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, Protocol

from user_service.authz.catalog import (
    KNOWN_PERMISSIONS,
    NON_CACHEABLE_NAMESPACES,
    RESOURCE_TYPES,
    Matcher,
    account_permission_implies,
    compile_pattern,
    pattern_problem,
    validate_permission,
)
from user_service.authz.policy_schema import (
    AccountFrozenCondition,
    AccountPermissionCondition,
    Condition,
    MfaPresentCondition,
    MfaWithinCondition,
    PolicyIn,
    ResourceOwnerCondition,
    ScopeCondition,
    UserNotActiveCondition,
    UserStatusCondition,
)
from user_service.exceptions import ValidationFailed
from user_service.models import UserStatus

DECISION_TTL_SECONDS: Final = 60
"""How long a cacheable decision may be reused (docs/api.md §3); invalidation is the cache's job."""

MFA_CLOCK_SKEW_SECONDS: Final = 60
"""An ``mfa_at`` this far in the future is tolerated (instances' clocks differ slightly)."""

_IDENTIFIER = re.compile(r"[^:*\s]{1,200}")


def _check_identifier(value: object, what: str, code: str) -> None:
    """Refuse ids that could escape a pattern: a ``:`` or ``*`` would let them dodge a deny."""
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
        raise ValidationFailed(
            f"{what} must be 1 to 200 characters without ':', '*' or spaces.", code=code
        )


def _check_aware(value: dt.datetime | None, what: str) -> None:
    if value is not None and value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (UTC)")


# --- request model ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Subject:
    """Who asks: a user (from an access token) or an OAuth client (from a service token)."""

    kind: Literal["user", "client"]
    id: str
    roles: frozenset[str] = frozenset()
    status: str | None = None
    mfa: bool = False
    mfa_at: dt.datetime | None = None
    scopes: frozenset[str] = frozenset()
    frozen: bool = False
    """The user used the emergency freeze: no trading_account action (docs/freeze.md)."""
    match_keys: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in ("user", "client"):
            raise ValidationFailed("A subject is a user or a client.", code="invalid_subject")
        _check_identifier(self.id, "A subject id", "invalid_subject")
        object.__setattr__(self, "roles", frozenset(self.roles))
        object.__setattr__(self, "scopes", frozenset(self.scopes))
        for role in self.roles:
            _check_identifier(role, "A role name", "invalid_subject")
        _check_aware(self.mfa_at, "mfa_at")
        if self.kind == "user":
            keys = (f"user:{self.id}", *(f"role:{role}" for role in sorted(self.roles)))
        else:
            keys = (f"client:{self.id}",)
        object.__setattr__(self, "match_keys", frozenset(keys))

    @classmethod
    def user(
        cls,
        user_id: str,
        *,
        roles: Iterable[str] = (),
        status: str | None,
        mfa: bool = False,
        mfa_at: dt.datetime | None = None,
        frozen: bool = False,
    ) -> Subject:
        """A user subject; ``status`` is required so a forgotten status cannot read as active."""
        return cls("user", user_id, frozenset(roles), status, mfa, mfa_at, frozen=frozen)

    @classmethod
    def client(cls, client_id: str, *, scopes: Iterable[str] = ()) -> Subject:
        """A service subject, identified by its OAuth client id and its token's scopes."""
        return cls("client", client_id, scopes=frozenset(scopes))

    @property
    def label(self) -> str:
        return f"{self.kind} {self.id}"


@dataclass(frozen=True, slots=True)
class AccountGrant:
    """What the subject may do on the trading account a resource belongs to."""

    owner_id: str
    member_permissions: frozenset[str] = frozenset()
    owner_frozen: bool = False
    """The owner used the emergency freeze: nobody, delegates included, acts on the account."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "member_permissions", frozenset(self.member_permissions))


@dataclass(frozen=True, slots=True)
class Resource:
    """What is acted on; ``id=None`` is a collection (e.g. the caller's alerts)."""

    type: str
    id: str | None = None
    owner_id: str | None = None
    account: AccountGrant | None = None

    def __post_init__(self) -> None:
        if self.type not in RESOURCE_TYPES:
            raise ValidationFailed(
                f"Unknown resource type {self.type!r}; known types are "
                f"{', '.join(sorted(RESOURCE_TYPES))}.",
                code="invalid_resource",
            )
        if self.id is not None:
            _check_identifier(self.id, "A resource id", "invalid_resource")

    @classmethod
    def trading_account(
        cls,
        account_id: str,
        *,
        owner_id: str,
        member_permissions: Iterable[str] = (),
        owner_frozen: bool = False,
    ) -> Resource:
        """A trading account with the caller's membership permissions on it (none if absent)."""
        access = AccountGrant(owner_id, frozenset(member_permissions), owner_frozen)
        return cls("trading_account", account_id, owner_id, access)

    @property
    def key(self) -> str:
        """The string policies match: ``type:id``, or ``type`` for a collection."""
        return self.type if self.id is None else f"{self.type}:{self.id}"


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class Request:
    """May ``subject`` perform ``action`` (a known permission) on ``resource`` at ``now``?"""

    subject: Subject
    action: str
    resource: Resource | None = None
    now: dt.datetime = field(default_factory=_utcnow)
    resource_key: str = field(init=False, repr=False, compare=False)
    """The resource string policies match; without a resource, the action's bare type."""

    def __post_init__(self) -> None:
        validate_permission(self.action)
        _check_aware(self.now, "now")
        key = self.resource.key if self.resource is not None else self.namespace
        object.__setattr__(self, "resource_key", key)

    @property
    def namespace(self) -> str:
        return self.action.partition(":")[0]


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer and why: ``code`` is stable, ``reason`` is for people."""

    allowed: bool
    code: str
    reason: str
    matched_policy: str | None
    cacheable: bool

    @property
    def ttl_hint(self) -> int:
        """Seconds the decision may be reused; 0 means ask again every time."""
        return DECISION_TTL_SECONDS if self.cacheable else 0


# --- conditions -------------------------------------------------------------------------------


class _Check(Protocol):
    type: str
    time_dependent: bool

    def check(self, request: Request) -> bool | None:
        """True (holds), False (does not) or None (cannot be evaluated)."""

    def describe(self, request: Request) -> str:
        """The facts behind the outcome, for the decision's reason."""


class _ResourceOwner:
    type = "resource_owner"
    time_dependent = False

    def check(self, request: Request) -> bool | None:
        subject, resource = request.subject, request.resource
        if subject.kind != "user":
            return False
        if resource is None:
            return True
        if resource.owner_id is not None:
            return resource.owner_id == subject.id
        return True if resource.id is None else None

    def describe(self, request: Request) -> str:
        subject, resource = request.subject, request.resource
        if subject.kind != "user":
            return "a client owns no resources"
        if resource is None or (resource.id is None and resource.owner_id is None):
            return "the request is about the caller's own collection"
        if resource.owner_id is None:
            return f"the owner of {resource.key} is unknown"
        if resource.owner_id == subject.id:
            return f"{resource.key} belongs to the caller"
        return f"{resource.key} belongs to another user"


class _AccountPermission:
    type = "account_permission"
    time_dependent = False

    def __init__(self, permission: str) -> None:
        self.permission = permission

    def check(self, request: Request) -> bool | None:
        if request.subject.kind != "user":
            return False
        account = request.resource.account if request.resource is not None else None
        if account is None:
            return None
        if account.owner_id == request.subject.id:
            return True
        return any(
            account_permission_implies(held, self.permission) for held in account.member_permissions
        )

    def describe(self, request: Request) -> str:
        account = request.resource.account if request.resource is not None else None
        if request.subject.kind != "user":
            return "a client is never a trading-account member"
        if account is None:
            return "no trading-account information was supplied"
        if account.owner_id == request.subject.id:
            return "the caller owns the trading account"
        held = ", ".join(sorted(account.member_permissions)) or "none"
        return f"'{self.permission}' is required on the trading account; the caller holds: {held}"


class _MfaPresent:
    type = "mfa_present"
    time_dependent = False

    def check(self, request: Request) -> bool | None:
        return request.subject.kind == "user" and request.subject.mfa

    def describe(self, request: Request) -> str:
        if request.subject.kind == "user" and request.subject.mfa:
            return "the session is MFA-verified"
        return "the session is not MFA-verified"


class _MfaWithin:
    type = "mfa_within"
    time_dependent = True

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds

    def _age(self, request: Request) -> float | None:
        mfa_at = request.subject.mfa_at
        if request.subject.kind != "user" or mfa_at is None:
            return None
        return (request.now - mfa_at).total_seconds()

    def check(self, request: Request) -> bool | None:
        age = self._age(request)
        return age is not None and -MFA_CLOCK_SKEW_SECONDS <= age <= self.seconds

    def describe(self, request: Request) -> str:
        age = self._age(request)
        if age is None:
            return "no second factor was proven in this session"
        if age < -MFA_CLOCK_SKEW_SECONDS:
            return "the second factor's time is in the future"
        return (
            f"the second factor was proven {max(0, round(age))} s ago "
            f"(limit {self.seconds} s; step up with POST /v1/auth/step-up)"
        )


def _quoted_status(request: Request) -> str:
    """``'active'`` (the value, not the enum member's repr), or ``None`` when unknown."""
    status = request.subject.status
    return repr(None if status is None else str(status))


class _UserStatus:
    type = "user_status"
    time_dependent = False

    def __init__(self, statuses: Iterable[str]) -> None:
        self.statuses = frozenset(statuses)

    def check(self, request: Request) -> bool | None:
        return request.subject.kind == "user" and request.subject.status in self.statuses

    def describe(self, request: Request) -> str:
        if request.subject.kind != "user":
            return "a client has no user status"
        wanted = ", ".join(sorted(self.statuses))
        return f"the user's status is {_quoted_status(request)} (policy wants: {wanted})"


class _UserNotActive:
    type = "user_not_active"
    time_dependent = False

    def check(self, request: Request) -> bool | None:
        return request.subject.kind == "user" and request.subject.status != UserStatus.ACTIVE

    def describe(self, request: Request) -> str:
        if request.subject.kind != "user":
            return "a client has no user status"
        return f"the user's status is {_quoted_status(request)}"


class _AccountFrozen:
    """Holds when the subject user is frozen, or the trading account's owner is."""

    type = "account_frozen"
    time_dependent = False

    def check(self, request: Request) -> bool | None:
        subject, resource = request.subject, request.resource
        if subject.kind == "user" and subject.frozen:
            return True
        if resource is None or resource.type != "trading_account" or resource.id is None:
            return False
        if resource.account is None:
            return None
        return resource.account.owner_frozen

    def describe(self, request: Request) -> str:
        subject, resource = request.subject, request.resource
        if subject.kind == "user" and subject.frozen:
            return "the caller's account is frozen"
        account = resource.account if resource is not None else None
        if account is not None and account.owner_frozen:
            return "the trading account's owner has frozen their account"
        if resource is not None and resource.type == "trading_account" and account is None:
            return "no trading-account information was supplied"
        return "nothing is frozen"


class _Scope:
    type = "scope"
    time_dependent = False

    def check(self, request: Request) -> bool | None:
        if request.subject.kind != "client":
            return False
        return any(_scope_matcher(scope)(request.action) for scope in request.subject.scopes)

    def describe(self, request: Request) -> str:
        if request.subject.kind != "client":
            return "only a client's token carries scopes"
        scopes = ", ".join(sorted(request.subject.scopes)) or "none"
        return f"the token's scopes ({scopes}) must grant {request.action}"


def _never(_: str) -> bool:
    return False


def _scope_matcher(scope: str) -> Matcher:
    """A malformed scope, or one without the ``resource:action`` shape, grants nothing.

    Scopes are validated when granted; this keeps a bad one from raising, or from granting
    everything (a bare ``*``), in the decision path.
    """
    if pattern_problem(scope) is not None or scope.count(":") != 1:
        return _never
    return compile_pattern(scope)


def _compile_condition(condition: Condition) -> _Check:
    match condition:
        case ResourceOwnerCondition():
            return _ResourceOwner()
        case AccountPermissionCondition(permission=permission):
            return _AccountPermission(permission)
        case MfaPresentCondition():
            return _MfaPresent()
        case MfaWithinCondition(seconds=seconds):
            return _MfaWithin(seconds)
        case UserStatusCondition(statuses=statuses):
            return _UserStatus(statuses)
        case UserNotActiveCondition():
            return _UserNotActive()
        case ScopeCondition():
            return _Scope()
        case AccountFrozenCondition():
            return _AccountFrozen()
    raise TypeError(f"unsupported condition {condition!r}")  # pragma: no cover


# --- compiled policies ------------------------------------------------------------------------


class _PatternSet:
    """A policy's patterns for one dimension: exact strings in a set, wildcards as matchers."""

    __slots__ = ("any", "exact", "wild")

    def __init__(self, patterns: Iterable[str]) -> None:
        patterns = tuple(patterns)
        self.any = "*" in patterns
        self.exact = frozenset(p for p in patterns if "*" not in p)
        self.wild = tuple(compile_pattern(p) for p in patterns if "*" in p and p != "*")

    def matches(self, value: str) -> bool:
        if self.any or value in self.exact:
            return True
        return any(m(value) for m in self.wild)

    def matches_any(self, values: frozenset[str]) -> bool:
        if self.any or not self.exact.isdisjoint(values):
            return True
        return any(m(value) for m in self.wild for value in values)


class _CompiledPolicy:
    __slots__ = (
        "actions",
        "conditions",
        "deny",
        "kinds",
        "name",
        "priority",
        "resources",
        "subjects",
        "time_dependent",
    )

    def __init__(self, policy: PolicyIn) -> None:
        self.name = policy.name
        self.deny = policy.effect == "deny"
        self.priority = policy.priority
        self.subjects = _PatternSet(policy.subjects)
        self.actions = _PatternSet(policy.actions)
        self.resources = _PatternSet(policy.resources)
        self.conditions = tuple(_compile_condition(c) for c in policy.conditions)
        self.time_dependent = any(c.time_dependent for c in self.conditions)
        self.kinds = frozenset(
            kind
            for kind in ("user", "client")
            for subject in policy.subjects
            if subject == "*" or _SUBJECT_KIND.get(subject.partition(":")[0]) == kind
        )

    def targets(self, request: Request) -> bool:
        return self.subjects.matches_any(request.subject.match_keys) and self.resources.matches(
            request.resource_key
        )


_SUBJECT_KIND = {"role": "user", "user": "user", "client": "client"}


class CompiledPolicies:
    """Policies prepared once (patterns compiled, candidates indexed per permission).

    Rebuild it when policies change; it is immutable and safe to share between tasks.
    """

    def __init__(self, policies: Iterable[PolicyIn]) -> None:
        enabled = [_CompiledPolicy(p) for p in policies if p.enabled]
        names = [p.name for p in enabled]
        if len(set(names)) != len(names):
            raise ValueError("policy names must be unique")
        enabled.sort(key=lambda p: (-p.priority, p.name))
        self._count = len(enabled)
        self._index: dict[
            tuple[str, str], tuple[tuple[_CompiledPolicy, ...], tuple[_CompiledPolicy, ...], bool]
        ] = {}
        for action in KNOWN_PERMISSIONS:
            cacheable = action.partition(":")[0] not in NON_CACHEABLE_NAMESPACES
            for kind in ("user", "client"):
                candidates = [p for p in enabled if kind in p.kinds and p.actions.matches(action)]
                self._index[kind, action] = (
                    tuple(p for p in candidates if p.deny),
                    tuple(p for p in candidates if not p.deny),
                    cacheable,
                )

    def __len__(self) -> int:
        return self._count

    def evaluate(self, request: Request) -> Decision:
        """Decide one request; the same inputs always give the same decision."""
        denies, allows, cacheable = self._index[request.subject.kind, request.action]
        for policy in denies:
            if not policy.targets(request):
                continue
            cacheable = cacheable and not policy.time_dependent
            outcomes = [(c, c.check(request)) for c in policy.conditions]
            if all(outcome is not False for _, outcome in outcomes):
                facts = "; ".join(f"{c.type}: {c.describe(request)}" for c, _ in outcomes)
                return Decision(
                    allowed=False,
                    code="denied_by_policy",
                    reason=f"Denied by policy '{policy.name}'" + (f" ({facts})." if facts else "."),
                    matched_policy=policy.name,
                    cacheable=cacheable,
                )
        failed: tuple[_CompiledPolicy, _Check] | None = None
        for policy in allows:
            if not policy.targets(request):
                continue
            cacheable = cacheable and not policy.time_dependent
            failing = next((c for c in policy.conditions if c.check(request) is not True), None)
            if failing is None:
                return Decision(
                    allowed=True,
                    code="allowed_by_policy",
                    reason=f"Allowed by policy '{policy.name}'.",
                    matched_policy=policy.name,
                    cacheable=cacheable,
                )
            if failed is None:
                failed = (policy, failing)
        if failed is not None:
            policy, condition = failed
            return Decision(
                allowed=False,
                code=f"condition_failed:{condition.type}",
                reason=(
                    f"Denied: policy '{policy.name}' applies but its condition "
                    f"{condition.type} is not met ({condition.describe(request)})."
                ),
                matched_policy=policy.name,
                cacheable=cacheable,
            )
        return Decision(
            allowed=False,
            code="no_matching_policy",
            reason=(
                f"Denied: no policy allows {request.subject.label} to {request.action} "
                f"on {request.resource_key}."
            ),
            matched_policy=None,
            cacheable=cacheable,
        )


def compile_policies(policies: Iterable[PolicyIn]) -> CompiledPolicies:
    """Prepare policies for many evaluations; disabled policies are dropped here."""
    return CompiledPolicies(policies)


def evaluate(policies: Sequence[PolicyIn], request: Request) -> Decision:
    """One-off evaluation; hot paths should keep a ``compile_policies`` result instead."""
    return compile_policies(policies).evaluate(request)


def decision_cache_key(request: Request) -> str | None:
    """A key covering every input a decision depends on except the clock, or ``None``.

    ``None`` means the request must never be answered from a cache (credentials, trading).
    A cached decision is only reusable when its ``cacheable`` flag was set, which already
    excludes clock-dependent outcomes (``mfa_within``). Invalidation on role, policy,
    membership or status change stays the cache's responsibility (bump a generation).
    """
    if request.namespace in NON_CACHEABLE_NAMESPACES:
        return None
    subject, resource = request.subject, request.resource
    parts = [
        subject.kind,
        subject.id,
        ",".join(sorted(subject.roles)),
        str(subject.status),
        str(subject.mfa),
        ",".join(sorted(subject.scopes)),
        str(subject.frozen),
        request.action,
    ]
    if resource is not None:
        parts += [resource.type, str(resource.id), str(resource.owner_id)]
        if resource.account is not None:
            parts += [
                resource.account.owner_id,
                ",".join(sorted(resource.account.member_permissions)),
                str(resource.account.owner_frozen),
            ]
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
    return f"authz:{subject.kind}:{subject.id}:{request.action}:{digest}"
