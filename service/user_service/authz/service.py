"""The policy decision point: build the request from trusted facts, evaluate, cache
(docs/authorization.md).

Facts come from three places, in order of trust: the database (roles, user status, trading
account owner and memberships, the policies), the verified token (MFA flag and time, a
client's scopes) and the calling service (``owner_id`` of resources the User Service does not
hold, such as alerts). The cache key covers the token's and the caller's facts; the database
facts are covered by the cache version, bumped whenever they change (``invalidation.py``).

The path fails closed: a database fault, or a stored policy that no longer validates, answers
503 ``decision_unavailable`` and never a decision from a partial policy set.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import structlog
from prometheus_client import Counter
from pydantic import ValidationError
from quantagro_auth.principals import ServicePrincipal, UserPrincipal
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from user_service.authz import repository
from user_service.authz.cache import DecisionCache
from user_service.authz.catalog import NON_CACHEABLE_NAMESPACES, RESOURCE_TYPES, validate_permission
from user_service.authz.evaluator import (
    CompiledPolicies,
    Decision,
    Request,
    Resource,
    Subject,
    compile_policies,
)
from user_service.authz.policy_schema import PolicyOut
from user_service.authz.schemas import CheckItem, DecisionOut, ResourceIn
from user_service.db import read_only, utcnow
from user_service.exceptions import Forbidden, NotFound, ServiceUnavailable, ValidationFailed
from user_service.models import User
from user_service.state import AppServices
from user_service.users import repository as users_repository

log = structlog.get_logger(__name__)

DATABASE_ERRORS = (SQLAlchemyError, OSError)
"""What an unreachable or failing database raises (connection refused, timeouts, driver errors)."""

DECISIONS = Counter(
    "user_service_authz_decisions_total", "Authorization decisions", ["allowed", "source"]
)


_COUNTERS: dict[tuple[bool, str], Any] = {}


def _counter(allowed: bool, source: str) -> Any:
    """``DECISIONS`` labelled once per (allowed, source), not looked up on every decision."""
    counter = _COUNTERS.get((allowed, source))
    if counter is None:
        counter = _COUNTERS[(allowed, source)] = DECISIONS.labels(str(allowed).lower(), source)
    return counter


def decision_unavailable() -> ServiceUnavailable:
    return ServiceUnavailable(
        "Authorization decisions are unavailable right now; treat this as a denial and retry.",
        code="decision_unavailable",
        headers={"Retry-After": "5"},
    )


# --- the question -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SubjectQuery:
    """Who the question is about, with the facts the caller's token proves; the evaluator's
    ``Subject`` is built from it and the database facts (``_subject_facts``)."""

    kind: Literal["user", "client"]
    id: str
    mfa: bool = False
    mfa_at: dt.datetime | None = None
    scopes: frozenset[str] = frozenset()
    user: User | None = field(default=None, compare=False)

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True)
class ResourceQuery:
    type: str
    id: str | None = None
    owner_id: str | None = None

    @property
    def key(self) -> str:
        return self.type if self.id is None else f"{self.type}:{self.id}"


def _user_id(value: str, what: str, code: str) -> str:
    try:
        return str(uuid.UUID(value.removeprefix("user:")))
    except ValueError:
        raise ValidationFailed(f"{what} must be a user id (a UUID).", code=code) from None


def resolve_subject(
    caller: UserPrincipal | ServicePrincipal, named: str | None, *, user: User | None = None
) -> SubjectQuery:
    """A user asks about themselves (``user``: their row, already read to authenticate them);
    a service about a named user, or about itself.

    A delegated check (a service naming a user) proves nothing about the user's session:
    ``mfa`` is false and ``mfa_at`` unknown, so step-up-protected actions are denied.
    """
    if isinstance(caller, UserPrincipal):
        user_id = str(user.id) if user is not None else caller.user_id
        if named is not None and _user_id(named, "subject", "invalid_subject") != user_id:
            raise Forbidden(
                "A user token can only ask about its own user; a service token with the "
                "'authz:check' scope may name another subject.",
                code="subject_not_allowed",
            )
        return SubjectQuery("user", user_id, caller.mfa, caller.mfa_at, user=user)
    if named is not None:
        return SubjectQuery(kind="user", id=_user_id(named, "subject", "invalid_subject"))
    return SubjectQuery(kind="client", id=caller.client_id, scopes=caller.scopes)


def parse_resource(ref: str | ResourceIn | None) -> ResourceQuery | None:
    """``"type"``, ``"type:id"`` or ``{type, id, owner_id}``; the type must be known."""
    if ref is None:
        return None
    if isinstance(ref, str):
        rtype, sep, rid = ref.partition(":")
        query = ResourceQuery(rtype, rid if sep else None)
    else:
        query = ResourceQuery(ref.type, ref.id, ref.owner_id)
    if query.type not in RESOURCE_TYPES:
        raise ValidationFailed(
            f"Unknown resource type {query.type!r}; known types are "
            f"{', '.join(sorted(RESOURCE_TYPES))}.",
            code="invalid_resource",
        )
    Resource(query.type, query.id)  # id syntax: no ':', '*' or spaces
    if query.owner_id is not None:
        if query.type == "trading_account":
            raise ValidationFailed(
                "owner_id is not accepted for trading_account: its owner and memberships are "
                "read from the database.",
                code="invalid_resource",
            )
        query = ResourceQuery(
            query.type, query.id, _user_id(query.owner_id, "owner_id", "invalid_resource")
        )
    return query


def _cache_key(
    subject: SubjectQuery, permission: str, resource: ResourceQuery | None
) -> str | None:
    """Everything the caller and the token contribute; database facts ride on the version."""
    if permission.partition(":")[0] in NON_CACHEABLE_NAMESPACES:
        return None
    parts = [
        subject.kind,
        subject.id,
        str(subject.mfa),
        ",".join(sorted(subject.scopes)),
        permission,
    ]
    if resource is not None:
        parts += [resource.type, str(resource.id), str(resource.owner_id)]
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
    return f"{subject.kind}:{subject.id}:{permission}:{digest}"


# --- facts from the database ------------------------------------------------------------------


async def _subject_facts(db: AsyncSession, subject: SubjectQuery) -> Subject:
    if subject.kind == "client":
        return Subject.client(subject.id, scopes=subject.scopes)
    user = subject.user or await users_repository.get_by_id(db, uuid.UUID(subject.id))
    if user is None:
        raise NotFound("No user has this id.", code="subject_not_found")
    roles = await users_repository.role_names(db, user.id)
    return Subject.user(
        subject.id,
        roles=roles,
        status=user.status,
        mfa=subject.mfa,
        mfa_at=subject.mfa_at,
        frozen=user.frozen_at is not None,
    )


async def policy_set(db: AsyncSession, cache: DecisionCache, version: int) -> CompiledPolicies:
    """The compiled policies, reloaded after any invalidation; all of them or none."""
    compiled = cache.policy_set()
    if compiled is not None:
        return compiled
    rows = await repository.all_policies(db)
    try:
        compiled = compile_policies(PolicyOut.model_validate(row) for row in rows)
    except (ValidationError, ValueError) as exc:
        log.error("authz_stored_policy_invalid", error=str(exc)[:500])
        raise decision_unavailable() from exc
    cache.keep_policy_set(compiled, version=version)
    return compiled


def _resource_not_found(resource: ResourceQuery) -> Decision:
    return Decision(
        allowed=False,
        code="resource_not_found",
        reason=f"Denied: {resource.key} does not exist.",
        matched_policy=None,
        cacheable=False,
    )


async def _evaluate(
    db: AsyncSession,
    policies: CompiledPolicies,
    subject: Subject,
    permission: str,
    query: ResourceQuery | None,
    now: dt.datetime,
) -> Decision:
    resource: Resource | None = None
    if query is not None and query.type == "trading_account" and query.id is not None:
        try:
            account_id = uuid.UUID(query.id)
        except ValueError:
            return _resource_not_found(query)
        member = uuid.UUID(subject.id) if subject.kind == "user" else None
        access = await repository.trading_account_access(db, account_id, member, now=now)
        if access is None:
            return _resource_not_found(query)
        owner_id, permissions, owner_frozen = access
        resource = Resource.trading_account(
            query.id,
            owner_id=str(owner_id),
            member_permissions=permissions,
            owner_frozen=owner_frozen,
        )
    elif query is not None:
        resource = Resource(query.type, query.id, query.owner_id)
    return policies.evaluate(Request(subject, permission, resource, now))


# --- the decision -----------------------------------------------------------------------------


def _validated(items: Sequence[CheckItem], batch: bool) -> list[tuple[str, ResourceQuery | None]]:
    """Refuse the whole question before any work if one part is malformed."""
    queries = []
    for index, item in enumerate(items):
        try:
            queries.append((validate_permission(item.permission), parse_resource(item.resource)))
        except ValidationFailed as exc:
            if batch:
                exc.extra["index"] = index
            raise
    return queries


async def decide(
    services: AppServices,
    subject: SubjectQuery,
    items: Sequence[CheckItem],
    *,
    batch: bool = False,
) -> list[DecisionOut]:
    """Answer each question in order, from the cache when allowed, else from the database.

    A decision writes nothing: its facts are read in a read-only session, opened only when
    a question misses the cache (a warm decision touches no database at all)."""
    queries = _validated(items, batch)
    cache = services.decision_cache
    version = cache.version  # before reading any fact: a later change makes this read stale
    now = utcnow()
    facts: Subject | None = None
    policies: CompiledPolicies | None = None
    results: list[DecisionOut] = []
    try:
        async with contextlib.AsyncExitStack() as stack:
            db: AsyncSession | None = None
            for permission, resource in queries:
                key = _cache_key(subject, permission, resource)
                hit = await cache.get(key) if key is not None else None
                source: str
                if hit is not None:
                    decision, source = hit
                    cached = True
                else:
                    if db is None:
                        db = await stack.enter_async_context(read_only(services.sessionmaker))
                    if facts is None:
                        facts = await _subject_facts(db, subject)
                    if policies is None:
                        policies = await policy_set(db, cache, version)
                    decision = await _evaluate(db, policies, facts, permission, resource, now)
                    if key is not None:
                        await cache.put(key, decision, version=version)
                    source, cached = "database", False
                _counter(decision.allowed, source).inc()
                results.append(
                    DecisionOut(
                        allowed=decision.allowed,
                        code=decision.code,
                        reason=decision.reason,
                        policy=decision.matched_policy,
                        permission=permission,
                        resource=resource.key if resource is not None else None,
                        subject=subject.label,
                        ttl=decision.ttl_hint if key is not None else 0,
                        cached=cached,
                    )
                )
    except DATABASE_ERRORS as exc:
        log.error("authz_decision_unavailable", error=type(exc).__name__)
        raise decision_unavailable() from exc
    return results
