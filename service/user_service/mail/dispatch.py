"""Mail after commit, in the background, with retries (issue #3 §7: "never blocking the request").

Services call ``services.mail.notify(db, user, build, …)``. The message is handed over only
once the request's transaction has committed (``db.on_commit``), so a change that rolls back
never mails anyone, and even then the callback only starts a background task: the response
never waits for an SMTP server. Transient failures (connection refused, timeout, SMTP 4xx) are
retried with exponential backoff (``MAIL_SEND_ATTEMPTS``, ``MAIL_RETRY_*``); a message that
still cannot be delivered is logged by kind and error class — never its body, which holds
tokens — and dropped. A lost reset or verification mail is recovered by asking again.

Bounds, so an SMTP outage cannot exhaust the process: at most ``MAIL_CONCURRENCY`` deliveries
at once and ``MAIL_MAX_PENDING`` messages waiting (beyond that new mail is dropped and logged).
On shutdown pending deliveries get ``MAIL_SHUTDOWN_GRACE_SECONDS`` to finish.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from user_service.config import Settings
from user_service.db import on_commit
from user_service.mail.sender import (
    MailDeliveryError,
    MailSender,
    mail_sender_from_settings,
    send_with_retry,
)
from user_service.mail.templates import KIND_HEADER
from user_service.models import User

__all__ = ["MailDispatcher"]

log = structlog.get_logger(__name__)


class _BoundedSender:
    """Holds a concurrency slot only while talking to the server, not while backing off."""

    def __init__(self, sender: MailSender, slots: asyncio.Semaphore) -> None:
        self._sender = sender
        self._slots = slots

    async def send(self, message: EmailMessage) -> None:
        async with self._slots:
            await self._sender.send(message)


class MailDispatcher:
    """Delivers the service's mail: ``mail_from`` signs it, links point at ``frontend_url``."""

    def __init__(
        self,
        sender: MailSender,
        *,
        mail_from: str,
        frontend_url: str,
        attempts: int = 8,
        initial_wait: float = 1.0,
        max_wait: float = 60.0,
        max_pending: int = 1000,
        concurrency: int = 4,
        shutdown_grace: float = 5.0,
    ) -> None:
        self.sender = sender
        self.mail_from = mail_from
        self.frontend_url = frontend_url
        self.attempts = attempts
        self.initial_wait = initial_wait
        self.max_wait = max_wait
        self.max_pending = max_pending
        self.shutdown_grace = shutdown_grace
        self._bounded = _BoundedSender(sender, asyncio.Semaphore(concurrency))
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    @classmethod
    def from_settings(cls, settings: Settings) -> MailDispatcher:
        sender = mail_sender_from_settings(
            settings.smtp_host,
            settings.smtp_port,
            settings.mail_dir,
            username=settings.smtp_username,
            password=settings.smtp_password,
            use_tls=settings.smtp_tls,
            starttls=settings.smtp_starttls,
            timeout=settings.smtp_timeout_seconds,
        )
        return cls(
            sender,
            mail_from=settings.mail_from,
            frontend_url=settings.frontend_url,
            attempts=settings.mail_send_attempts,
            initial_wait=settings.mail_retry_initial_seconds,
            max_wait=settings.mail_retry_max_seconds,
            max_pending=settings.mail_max_pending,
            concurrency=settings.mail_concurrency,
            shutdown_grace=settings.mail_shutdown_grace_seconds,
        )

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def notify(
        self, db: AsyncSession, user: User, build: Callable[..., EmailMessage], **fields: Any
    ) -> None:
        """Send ``user`` the message ``build`` makes once ``db`` commits (never if it rolls
        back): the recipient and greeting come from the user, the sender and the links' base
        from this dispatcher, the rest from ``fields``."""
        message = build(
            to=user.email,
            sender=self.mail_from,
            frontend_url=self.frontend_url,
            name=user.name,
            **fields,
        )

        async def submit() -> None:
            self.submit(message)

        on_commit(db, submit)

    def submit(self, message: EmailMessage) -> bool:
        """Start delivering ``message`` in the background; ``False`` when it was dropped."""
        kind = message.get(KIND_HEADER)
        if self._closed:
            log.error("mail.dropped", kind=kind, reason="shutting_down")
            return False
        if len(self._tasks) >= self.max_pending:
            log.error("mail.dropped", kind=kind, reason="too_many_pending")
            return False
        task = asyncio.get_running_loop().create_task(self._deliver(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _deliver(self, message: EmailMessage) -> None:
        try:
            await send_with_retry(
                self._bounded,
                message,
                self.attempts,
                initial_wait=self.initial_wait,
                max_wait=self.max_wait,
            )
        except MailDeliveryError:
            pass  # send_with_retry has logged kind, attempts and error class
        except Exception:
            log.exception("mail.failed", kind=message.get(KIND_HEADER))

    async def drain(self, within: float) -> bool:
        """Wait up to ``within`` seconds for every pending delivery; ``True`` if none is left."""
        if not self._tasks:
            return True
        _done, pending = await asyncio.wait(set(self._tasks), timeout=within)
        return not pending

    async def aclose(self) -> None:
        """Stop accepting mail, give pending deliveries a grace period, then cancel them."""
        self._closed = True
        if await self.drain(self.shutdown_grace):
            return
        log.error("mail.dropped", reason="shutdown", count=len(self._tasks))
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
