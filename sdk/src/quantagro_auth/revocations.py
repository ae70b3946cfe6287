"""Revocation awareness: sessions signed out and users disabled, learned from events.

A JWT stays valid until it expires; the User Service refuses a revoked session's tokens on
its own endpoints and announces the revocation (``session.revoked``, ``user.status_changed``,
``user.deactivated``, ``user.frozen``). :class:`RevocationList` remembers each revoked session
and disabled user until the longest token lifetime has passed since the event (a token of
that session was issued before it, so it has expired by then), and ``verify`` refuses them.

A frozen user is different: they may sign in again (to unfreeze) and get new tokens, so a
freeze is remembered until ``user.unfrozen`` arrives, not for a token lifetime.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from quantagro_auth.errors import TokenRevoked
from quantagro_auth.events import Event, EventHub, call

if TYPE_CHECKING:
    from quantagro_auth.principals import UserPrincipal

DEFAULT_RETENTION = 3600.0
DISABLED_STATUSES = frozenset({"suspended", "deactivated", "frozen", "disabled", "locked"})
IdCallback = Callable[[str], Awaitable[None] | None]


class RevocationWatch:
    """Set when the watched session is revoked or its user disabled (WebSocket guards)."""

    def __init__(self, owner: RevocationList, user_id: str, session_id: str) -> None:
        self._owner = owner
        self.user_id = user_id
        self.session_id = session_id
        self.reason: str | None = None
        self.fired = asyncio.Event()

    def trigger(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
        self.fired.set()

    def move_to(self, session_id: str) -> None:
        """Follow a renewed token's session (normally the same one)."""
        self._owner._unindex(self)
        self.session_id = session_id
        self._owner._index(self)

    def close(self) -> None:
        self._owner._unindex(self)


class RevocationList:
    """``client.revocations``: what is revoked now, and who wants to know."""

    def __init__(
        self,
        *,
        retention_seconds: float = DEFAULT_RETENTION,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.retention_seconds = retention_seconds
        self._clock = clock
        self._sessions: dict[str, float] = {}  # session id -> forget after (epoch s)
        self._users: dict[str, float] = {}  # user id -> forget after (epoch s)
        self._frozen: set[str] = set()  # user ids frozen until a ``user.unfrozen``
        self._status_event: dict[str, int] = {}  # user id -> event id of its last status
        self._session_callbacks: list[IdCallback] = []
        self._user_callbacks: list[IdCallback] = []
        self._watches_by_session: dict[str, set[RevocationWatch]] = {}
        self._watches_by_user: dict[str, set[RevocationWatch]] = {}
        self.ready = asyncio.Event()  # set once a transport has caught up with history

    # -- queries ---------------------------------------------------------------------------

    def is_session_revoked(self, session_id: str) -> bool:
        return self._alive(self._sessions, session_id)

    def is_user_disabled(self, user_id: str) -> bool:
        return user_id in self._frozen or self._alive(self._users, user_id)

    def is_user_frozen(self, user_id: str) -> bool:
        """The user froze their account (or support did): no trading until ``user.unfrozen``."""
        return user_id in self._frozen

    def revoked_reason(self, principal: UserPrincipal) -> str | None:
        """``"session_revoked"``, ``"user_disabled"`` or ``None``."""
        if self.is_session_revoked(principal.session_id):
            return "session_revoked"
        if self.is_user_disabled(principal.user_id):
            return "user_disabled"
        return None

    def check(self, principal: UserPrincipal) -> None:
        """Raise :class:`TokenRevoked` for a revoked session or a disabled user."""
        reason = self.revoked_reason(principal)
        if reason == "session_revoked":
            raise TokenRevoked("This session has been signed out.", reason=reason)
        if reason == "user_disabled":
            raise TokenRevoked("This account has been disabled.", reason=reason)

    def _alive(self, table: dict[str, float], key: str) -> bool:
        until = table.get(key)
        if until is None:
            return False
        if until < self._clock():
            del table[key]
            return False
        return True

    # -- callbacks and watches -----------------------------------------------------------

    def on_session_revoked(self, callback: IdCallback) -> Callable[[], None]:
        """Call ``callback(session_id)`` (sync or async) for each newly revoked session."""
        self._session_callbacks.append(callback)
        return lambda: self._discard(self._session_callbacks, callback)

    def on_user_disabled(self, callback: IdCallback) -> Callable[[], None]:
        """Call ``callback(user_id)`` (sync or async) for each newly disabled user."""
        self._user_callbacks.append(callback)
        return lambda: self._discard(self._user_callbacks, callback)

    @staticmethod
    def _discard(callbacks: list[IdCallback], callback: IdCallback) -> None:
        if callback in callbacks:
            callbacks.remove(callback)

    def watch(self, principal: UserPrincipal) -> RevocationWatch:
        """A watch on the principal's session and user; already fired if revoked now."""
        watch = RevocationWatch(self, principal.user_id, principal.session_id)
        self._index(watch)
        reason = self.revoked_reason(principal)
        if reason is not None:
            watch.trigger(reason)
        return watch

    def _index(self, watch: RevocationWatch) -> None:
        self._watches_by_session.setdefault(watch.session_id, set()).add(watch)
        self._watches_by_user.setdefault(watch.user_id, set()).add(watch)

    def _unindex(self, watch: RevocationWatch) -> None:
        for table, key in (
            (self._watches_by_session, watch.session_id),
            (self._watches_by_user, watch.user_id),
        ):
            watches = table.get(key)
            if watches is not None:
                watches.discard(watch)
                if not watches:
                    del table[key]

    # -- changes ---------------------------------------------------------------------------

    def _forget_after(self, occurred_at: float | None) -> float:
        now = self._clock()
        start = now if occurred_at is None else min(occurred_at, now)
        return start + self.retention_seconds

    async def revoke_session(self, session_id: str, *, occurred_at: float | None = None) -> None:
        new = not self.is_session_revoked(session_id)
        self._sessions[session_id] = self._forget_after(occurred_at)
        for watch in list(self._watches_by_session.get(session_id, ())):
            watch.trigger("session_revoked")
        if new:
            for callback in list(self._session_callbacks):
                await call(callback, session_id)

    async def disable_user(self, user_id: str, *, occurred_at: float | None = None) -> None:
        new = not self.is_user_disabled(user_id)
        self._users[user_id] = self._forget_after(occurred_at)
        for watch in list(self._watches_by_user.get(user_id, ())):
            watch.trigger("user_disabled")
        if new:
            for callback in list(self._user_callbacks):
                await call(callback, user_id)

    def enable_user(self, user_id: str) -> None:
        self._users.pop(user_id, None)
        self._frozen.discard(user_id)

    def prune(self) -> None:
        now = self._clock()
        for table in (self._sessions, self._users):
            for key in [k for k, until in table.items() if until < now]:
                del table[key]

    async def apply(self, event: Event) -> None:
        """Update from one event (subscribed to the :class:`EventHub`)."""
        occurred = event.occurred_at.timestamp() if event.occurred_at else None
        user_id = event.get("user_id") or (
            event.aggregate_id if event.aggregate_type == "user" else None
        )
        if event.type == "session.revoked":
            session_id = event.get("session_id")
            if session_id:
                await self.revoke_session(session_id, occurred_at=occurred)
            return
        if user_id is None or not event.type.startswith("user."):
            return
        if event.type in ("user.deactivated", "user.frozen"):
            if self._newer_status(user_id, event.event_id):
                await self.disable_user(user_id, occurred_at=occurred)
                if event.type == "user.frozen":
                    self._frozen.add(user_id)
        elif event.type == "user.unfrozen" and self._newer_status(user_id, event.event_id):
            self.enable_user(user_id)
        elif event.type == "user.status_changed" and self._newer_status(user_id, event.event_id):
            status = event.get("status")
            if status in DISABLED_STATUSES:
                await self.disable_user(user_id, occurred_at=occurred)
            elif status == "active":
                self.enable_user(user_id)
        for session_id in _session_ids(event):
            await self.revoke_session(session_id, occurred_at=occurred)

    def _newer_status(self, user_id: str, event_id: int) -> bool:
        """Status events can arrive out of order across a reconnect; the newest wins."""
        if self._status_event.get(user_id, -1) > event_id:
            return False
        self._status_event[user_id] = event_id
        return True

    def follow(self, hub: EventHub) -> Callable[[], None]:
        return hub.subscribe(self.apply, "session.revoked", "user.*")


def _session_ids(event: Event) -> list[str]:
    """Session ids an event carries in bulk (``revoked_session_ids``), if any."""
    value = event.payload.get("revoked_session_ids") or event.payload.get("session_ids")
    if isinstance(value, list):
        return [str(item) for item in value if item]
    return []
