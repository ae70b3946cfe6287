"""A local SMTP catcher (aiosmtpd on 127.0.0.1) standing in for the mail relay in tests.

In tests::

    with running_smtp_catcher() as smtp:
        ...  # point the service at smtp.host / smtp.port
        message = await smtp.wait_for(to="a@example.com", subject_contains="Reset")
        link = extract_link(message, path="/reset-password")

For the browser end-to-end run (from ``service/``)::

    python -m tests.standins.smtp --port 8025 --dir /tmp/mail

stores every received message as an ``.eml`` file in ``--dir`` and prints its path.
The server runs in aiosmtpd's own thread and event loop, so it keeps receiving while a test
blocks or awaits in its own loop.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import re
import secrets
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import anyio
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

__all__ = ["SmtpCatcher", "extract_link", "running_smtp_catcher"]

_URL = re.compile(r"https?://[^\s<>\"']+")
_SLUG_UNSAFE = re.compile(r"[^a-z0-9]+")


class SmtpCatcher:
    """aiosmtpd handler that keeps every message (and optionally writes it to a folder)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = 0
        self.directory = directory
        self.envelopes: list[tuple[str, list[str]]] = []
        self._messages: list[EmailMessage] = []
        self._condition = threading.Condition()

    @property
    def messages(self) -> list[EmailMessage]:
        """A snapshot of the messages received so far, oldest first."""
        with self._condition:
            return list(self._messages)

    def clear(self) -> None:
        with self._condition:
            self._messages.clear()
            self.envelopes.clear()

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        raw = content if isinstance(content, bytes) else content.encode()
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        if self.directory is not None:
            path = _store(self.directory, raw, str(message.get("To", "")))
            print(f"smtp-catcher: stored {path}", flush=True)
        with self._condition:
            self.envelopes.append((envelope.mail_from or "", list(envelope.rcpt_tos)))
            self._messages.append(message)
            self._condition.notify_all()
        return "250 Message accepted for delivery"

    def find(
        self, to: str | None = None, subject_contains: str | None = None
    ) -> EmailMessage | None:
        """The newest message matching both filters (case-insensitive), or ``None``."""
        for message in reversed(self.messages):
            if _matches(message, to, subject_contains):
                return message
        return None

    async def wait_for(
        self,
        to: str | None = None,
        subject_contains: str | None = None,
        timeout: float = 5.0,
    ) -> EmailMessage:
        """Wait (without blocking the caller's event loop) for a matching message."""
        with anyio.fail_after(timeout):
            while (found := self.find(to, subject_contains)) is None:
                await anyio.sleep(0.02)
        return found

    def wait_for_blocking(
        self,
        to: str | None = None,
        subject_contains: str | None = None,
        timeout: float = 5.0,
    ) -> EmailMessage:
        """Same as :meth:`wait_for` for synchronous code (e.g. a sync browser test)."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while (found := self._find_locked(to, subject_contains)) is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no message to={to!r} subject~={subject_contains!r}")
                self._condition.wait(remaining)
        return found

    def _find_locked(self, to: str | None, subject_contains: str | None) -> EmailMessage | None:
        for message in reversed(self._messages):
            if _matches(message, to, subject_contains):
                return message
        return None


class _Authenticator:
    """Accepts exactly one username/password (to test authenticated SMTP)."""

    def __init__(self, username: str, password: str) -> None:
        self.username = username.encode()
        self.password = password.encode()

    def __call__(
        self, server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login == self.username
            and data.password == self.password
        )
        return AuthResult(success=ok, handled=False)


class _EphemeralPortController(Controller):
    """Binds port 0 and learns the real port before aiosmtpd's readiness probe connects."""

    def _trigger_server(self) -> None:
        if self.port == 0 and isinstance(self.server, asyncio.Server):
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


def _make_controller(
    catcher: SmtpCatcher,
    host: str,
    port: int,
    credentials: tuple[str, str] | None,
) -> Controller:
    options: dict[str, Any] = {}
    if credentials is not None:
        # Loopback only: AUTH over plain text is what a dev relay does, and it lets the
        # tests exercise the login path without certificates.
        options = {"authenticator": _Authenticator(*credentials), "auth_require_tls": False}
    return _EphemeralPortController(catcher, hostname=host, port=port, **options)


@contextmanager
def running_smtp_catcher(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    directory: Path | None = None,
    credentials: tuple[str, str] | None = None,
) -> Iterator[SmtpCatcher]:
    """Run a catcher on ``host`` (a free port unless ``port`` is given) for the block.

    With ``credentials=(user, password)`` the server checks ``AUTH LOGIN/PLAIN`` against them
    (a wrong password is answered 535).
    """
    catcher = SmtpCatcher(directory)
    controller = _make_controller(catcher, host, port, credentials)
    controller.start()
    catcher.host = host
    catcher.port = controller.port
    try:
        yield catcher
    finally:
        controller.stop()


def extract_link(message: EmailMessage, path: str = "/reset-password") -> str:
    """The first ``http(s)`` link in the plain-text part whose path ends with ``path``."""
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None or not isinstance(part, EmailMessage):
        raise LookupError("the message has no text body")
    text = part.get_content()
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(".,;:)")
        if urlparse(url).path.endswith(path):
            return url
    raise LookupError(f"no link to {path!r} in the message")


def _matches(message: EmailMessage, to: str | None, subject_contains: str | None) -> bool:
    if to is not None:
        recipients = {addr.lower() for _, addr in getaddresses(message.get_all("To", []))}
        if to.lower() not in recipients:
            return False
    subject = str(message.get("Subject", "")).lower()
    return subject_contains is None or subject_contains.lower() in subject


def _store(directory: Path, raw: bytes, recipient: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    slug = _SLUG_UNSAFE.sub("-", recipient.lower()).strip("-")[:40].strip("-") or "unknown"
    path = directory / f"{stamp}-{slug}-{secrets.token_hex(4)}.eml"
    path.write_bytes(raw)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Local SMTP catcher writing .eml files.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--dir", type=Path, required=True, help="folder for received .eml files")
    args = parser.parse_args(argv)

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with running_smtp_catcher(host=args.host, port=args.port, directory=args.dir) as catcher:
        print(f"smtp-catcher: listening on {catcher.host}:{catcher.port}", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
