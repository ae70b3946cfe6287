"""What authenticated reads need to know about a caller, cached for one second per instance.

Every authenticated request must refuse a revoked session, an expired one, an inactive user,
a revoked service token and a disabled client. Reading those rows on every request cost
more than the request itself (docs/performance.md); this cache keeps the answer of the last
read, in process, under three rules that keep the guarantees of docs/api.md §4:

1. **One second at most.** An entry expires ``TTL_SECONDS`` after the read that produced it
   *began*, so no instance can serve a fact older than one second, with or without Redis.
2. **At once on the instance that changed it.** ORM events note every flushed change to the
   rows behind an entry (users, sessions, roles, MFA, clients, revoked tokens; a bulk UPDATE
   or DELETE of those tables counts as a change to all of them); when the transaction
   commits, the affected entries are dropped here before the response is sent, and a read
   that began before the commit cannot store its (older) answer afterwards.
3. **At once elsewhere, through Redis.** The same invalidation is published on
   ``{prefix}:auth:invalidate`` (awaited before the response when it happens in a request);
   every other instance drops the entries as it hears it (an instance ignores its own
   messages: it dropped them at commit, and hearing its echo later would drop answers read
   since). Rule 1 bounds a lost message.

Only positive answers are cached: a refused token is looked up every time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
import weakref
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import structlog
from redis.asyncio import Redis
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from user_service.db import in_unit_of_work, on_commit
from user_service.models import (
    MfaPasskey,
    MfaTotp,
    OAuthClient,
    RevokedToken,
    User,
    UserRole,
    UserSession,
)

log = structlog.get_logger(__name__)

TTL_SECONDS = 1.0
READ_WAIT_SECONDS = 0.25  # a read slower than this (a frozen database) is not waited for
_MAX_ENTRIES = 100_000
_RECONNECT_SECONDS = (0.1, 5.0)
_PENDING = "auth_cache_pending"
EVERYTHING = "*"

V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Ticket:
    """Taken before a read: when it began, and the invalidation count then."""

    began: float
    sequence: int


@dataclass(slots=True)
class _Entry(Generic[V]):
    expires_at: float
    owner: str
    value: V


@dataclass
class AuthCache:
    """Cached facts keyed by session id or token id, each owned by a user or client id."""

    redis: Redis | None = None
    key_prefix: str = "qus"
    ttl: float = TTL_SECONDS
    instance: str = field(default_factory=lambda: uuid.uuid4().hex)  # names its own messages
    _entries: dict[Hashable, _Entry[Any]] = field(default_factory=dict)
    _sequence: int = 0
    _changed: dict[str, int] = field(default_factory=dict)  # owner -> sequence of its change
    _listener: asyncio.Task[None] | None = None
    _reads: dict[Hashable, asyncio.Event] = field(default_factory=dict)  # key -> read under way
    stats: dict[str, int] = field(
        default_factory=lambda: {"hits": 0, "misses": 0, "invalidations": 0, "refused": 0}
    )

    @property
    def channel(self) -> str:
        return f"{self.key_prefix}:auth:invalidate"

    # --- entries -------------------------------------------------------------------------------

    def ticket(self) -> Ticket:
        return Ticket(time.monotonic(), self._sequence)

    def get(self, key: Hashable) -> Any | None:
        entry = self._entries.get(key)
        if entry is None:
            self.stats["misses"] += 1
            return None
        if entry.expires_at <= time.monotonic():
            self._entries.pop(key, None)
            self.stats["misses"] += 1
            return None
        self.stats["hits"] += 1
        return entry.value

    def put(self, key: Hashable, owner: str, value: Any, ticket: Ticket) -> None:
        """Keep ``value`` unless its owner (or everything) changed since ``ticket``."""
        if (
            self._changed.get(owner, -1) >= ticket.sequence + 1
            or self._changed.get(EVERYTHING, -1) >= ticket.sequence + 1
        ):
            self.stats["refused"] += 1
            return
        if len(self._entries) >= _MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = _Entry(ticket.began + self.ttl, owner, value)

    async def get_after_read(self, key: Hashable) -> Any | None:
        """On a miss while another request's read of ``key`` is under way, wait for that read
        (at most ``READ_WAIT_SECONDS``) and look again: what it stored obeys ``put``'s rules,
        so the answer is exactly a cache hit; otherwise the caller reads for itself. When a
        second expires, 16 concurrent requests of one caller then cost one read, not 16."""
        read = self._reads.get(key)
        if read is None:
            return None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(read.wait(), READ_WAIT_SECONDS)
        return self.get(key)

    @contextlib.contextmanager
    def reading(self, key: Hashable) -> Iterator[None]:
        """Mark a read of ``key`` as under way (for ``get_after_read``) while it runs."""
        if key in self._reads:
            yield
            return
        done = self._reads[key] = asyncio.Event()
        try:
            yield
        finally:
            del self._reads[key]
            done.set()

    def forget(self, owners: Iterable[str]) -> None:
        """Drop the entries of these owners (``EVERYTHING`` drops all), here and now."""
        owners = set(owners)
        if not owners:
            return
        self._sequence += 1
        self.stats["invalidations"] += 1
        if len(self._changed) > 10_000:
            self._changed = {EVERYTHING: self._sequence}  # conservative: refuses older reads
        for owner in owners:
            self._changed[owner] = self._sequence
        if EVERYTHING in owners:
            self._entries.clear()
            return
        for key in [k for k, e in self._entries.items() if e.owner in owners]:
            del self._entries[key]

    # --- Redis -----------------------------------------------------------------------------------

    async def publish(self, owners: Iterable[str]) -> None:
        if self.redis is None:
            return
        try:
            message = {"from": self.instance, "owners": sorted(set(owners))}
            await self.redis.publish(self.channel, json.dumps(message))
        except Exception as exc:  # the one-second TTL still bounds the other instances
            log.warning("auth_invalidation_not_published", error=type(exc).__name__)

    async def _listen(self) -> None:
        assert self.redis is not None
        delay = _RECONNECT_SECONDS[0]
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                delay = _RECONNECT_SECONDS[0]
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self._heard(message.get("data"))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("auth_invalidation_channel_down", error=type(exc).__name__)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RECONNECT_SECONDS[1])

    def _heard(self, data: Any) -> None:
        """Drop what another instance changed; a message that cannot be read drops all."""
        try:
            message = json.loads(data)
        except (TypeError, ValueError):
            message = None
        if isinstance(message, dict) and message.get("from") == self.instance:
            return
        owners = message.get("owners") if isinstance(message, dict) else message
        if not isinstance(owners, list):
            owners = [EVERYTHING]
        self.forget(str(owner) for owner in owners)

    async def start(self) -> None:
        if self.redis is None or self._listener is not None:
            return
        self._listener = asyncio.create_task(self._listen(), name="auth-invalidation-listener")
        await asyncio.sleep(0.05)  # let it subscribe before the first request

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None


def user_owner(user_id: uuid.UUID | str) -> str:
    return f"user:{user_id}"


def client_owner(client_id: str) -> str:
    return f"client:{client_id}"


# --- noticing changes: ORM events on the sessions bound to a watched engine ---------------------

_CACHES: weakref.WeakKeyDictionary[Engine, AuthCache] = weakref.WeakKeyDictionary()
_WATCHED_TABLES = frozenset(
    model.__table__.name  # type: ignore[attr-defined]
    for model in (User, UserSession, UserRole, MfaTotp, MfaPasskey, OAuthClient, RevokedToken)
)


def watch(engine: Engine, cache: AuthCache) -> None:
    """Invalidate ``cache`` on every commit through ``engine`` that changes its facts."""
    _CACHES[engine] = cache


def _owners_of(instance: object) -> set[str]:
    if isinstance(instance, User):
        return {user_owner(instance.id)}
    if isinstance(instance, UserSession | UserRole | MfaTotp | MfaPasskey):
        return {user_owner(instance.user_id)}
    if isinstance(instance, OAuthClient):
        return {client_owner(instance.client_id)}
    if isinstance(instance, RevokedToken):
        return {client_owner(instance.client_id) if instance.client_id else EVERYTHING}
    return set()


def _cache_of(session: Session) -> AuthCache | None:
    bind = session.bind
    engine = getattr(bind, "engine", bind)
    return _CACHES.get(engine) if isinstance(engine, Engine) else None


def _pending(session: Session) -> set[str]:
    pending: set[str] = session.info.setdefault(_PENDING, set())
    return pending


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    if _cache_of(session) is None:
        return
    owners: set[str] = set()
    for instance in (*session.new, *session.dirty, *session.deleted):
        owners |= _owners_of(instance)
    if owners:
        _pending(session).update(owners)


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in _WATCHED_TABLES and _cache_of(state.session) is not None:
        _pending(state.session).add(EVERYTHING)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    owners: set[str] = session.info.pop(_PENDING, set())
    cache = _cache_of(session)
    if not owners or cache is None:
        return
    cache.forget(owners)
    if cache.redis is None:
        return
    if in_unit_of_work(session):  # a request's unit of work: published before it answers
        on_commit(session, lambda: cache.publish(owners))
    else:
        with contextlib.suppress(RuntimeError):  # no running loop: the TTL bounds it
            task = asyncio.get_running_loop().create_task(cache.publish(owners))
            _BACKGROUND.add(task)
            task.add_done_callback(_BACKGROUND.discard)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


_BACKGROUND: set[asyncio.Task[None]] = set()
