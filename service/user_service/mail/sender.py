"""Where mail goes: SMTP through ``aiosmtplib``, or ``.eml`` files in the embedded default.

Senders share the small :class:`MailSender` protocol so the service, the tests and the
development setup swap them freely. The caller sends after its transaction commits (issue #3:
"never blocking the request") and wraps the call in :func:`send_with_retry`.

What is logged: the mail kind, the error class, the attempt and the file path. Never a message
body (it holds tokens), never SMTP credentials.
"""

from __future__ import annotations

import os
import re
import secrets
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import aiosmtplib
import anyio
import structlog
from pydantic import SecretStr
from tenacity import (
    AsyncRetrying,
    RetryError,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from user_service.exceptions import ServiceUnavailable
from user_service.mail.templates import KIND_HEADER

__all__ = [
    "FileMailSender",
    "MailDeliveryError",
    "MailSender",
    "SmtpMailSender",
    "mail_sender_from_settings",
    "send_with_retry",
]

logger = structlog.get_logger(__name__)

_SLUG_UNSAFE = re.compile(r"[^a-z0-9]+")


class MailDeliveryError(ServiceUnavailable):
    """A message could not be handed to the mail server (or written to the mail folder).

    ``transient`` says whether trying again may help (connection refused, timeout, SMTP 4xx)
    or not (SMTP 5xx: bad recipient, rejected sender). The message names only the failure's
    class, never a host credential or a message body.
    """

    code = "mail_delivery_failed"

    def __init__(
        self,
        message: str = "The email could not be delivered.",
        *,
        transient: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.transient = transient


@runtime_checkable
class MailSender(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


class SmtpMailSender:
    """Deliver through an SMTP relay (``SMTP_HOST``/``SMTP_PORT``).

    ``use_tls`` is implicit TLS (port 465); ``starttls=None`` upgrades when the server offers
    STARTTLS, ``True`` requires it, ``False`` never tries. The password is kept as a
    ``SecretStr`` so it never shows in ``repr`` or a traceback's locals.
    """

    def __init__(
        self,
        host: str,
        port: int,
        use_tls: bool = False,
        starttls: bool | None = None,
        username: str | None = None,
        password: str | SecretStr | None = None,
        timeout: float = 10,
        *,
        local_hostname: str | None = "localhost",
    ) -> None:
        self.host = host
        self.port = port
        self.use_tls = use_tls
        self.starttls = starttls
        self.username = username
        self._password = SecretStr(password) if isinstance(password, str) else password
        self.timeout = timeout
        # aiosmtplib otherwise calls socket.getfqdn(), which can block on DNS.
        self.local_hostname = local_hostname

    def __repr__(self) -> str:
        return (
            f"SmtpMailSender(host={self.host!r}, port={self.port}, use_tls={self.use_tls}, "
            f"starttls={self.starttls}, username={self.username!r}, "
            f"password={'**********' if self._password else None})"
        )

    async def send(self, message: EmailMessage) -> None:
        try:
            await aiosmtplib.send(
                message,
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self._password.get_secret_value() if self._password else None,
                use_tls=self.use_tls,
                start_tls=self.starttls,
                timeout=self.timeout,
                local_hostname=self.local_hostname,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            transient = any(400 <= error.code < 500 for error in exc.recipients)
            raise _delivery_error(exc, transient=transient) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise _delivery_error(exc, transient=400 <= exc.code < 500) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise _delivery_error(exc, transient=True) from exc


class FileMailSender:
    """Write each message as an ``.eml`` file — the embedded default when ``SMTP_HOST`` is empty.

    ``make run`` then works with no mail server: the path is logged and a developer opens the
    file (any mail client reads ``.eml``) to follow the link. Files are created ``0600`` as
    they hold live tokens.
    """

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)

    def __repr__(self) -> str:
        return f"FileMailSender(directory={str(self.directory)!r})"

    async def send(self, message: EmailMessage) -> None:
        await self.write(message)

    async def write(self, message: EmailMessage) -> Path:
        """Write ``message`` and return the file's path."""
        try:
            path = await anyio.to_thread.run_sync(self._write, message)
        except OSError as exc:
            raise _delivery_error(exc, transient=True) from exc
        logger.info("mail.written", path=str(path), kind=message.get(KIND_HEADER))
        return path

    def _write(self, message: EmailMessage) -> Path:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        # Named by time and kind, never by recipient: the path is logged, the address is not.
        kind = _slug(str(message.get(KIND_HEADER) or "mail"))
        name = f"{stamp}-{kind}-{secrets.token_hex(4)}.eml"
        path = self.directory / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(message.as_bytes())
        return path


def mail_sender_from_settings(
    smtp_host: str | None,
    smtp_port: int,
    mail_dir: Path,
    *,
    username: str | None = None,
    password: str | SecretStr | None = None,
    use_tls: bool = False,
    starttls: bool | None = None,
    timeout: float = 10,
) -> MailSender:
    """SMTP when ``SMTP_HOST`` is set, otherwise files in ``mail_dir`` (docs/api.md §2)."""
    if smtp_host and smtp_host.strip():
        return SmtpMailSender(
            smtp_host.strip(),
            smtp_port,
            use_tls=use_tls,
            starttls=starttls,
            username=username,
            password=password,
            timeout=timeout,
        )
    logger.info("mail.file_sender", directory=str(mail_dir))
    return FileMailSender(mail_dir)


async def send_with_retry(
    sender: MailSender,
    message: EmailMessage,
    attempts: int = 3,
    *,
    initial_wait: float = 0.5,
    max_wait: float = 5.0,
) -> None:
    """Send, retrying transient failures with short exponential backoff.

    A permanent failure (SMTP 5xx) is not retried. After the last attempt the error is a
    :class:`MailDeliveryError` with ``transient=True`` so an outbox relay can try later.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    kind = message.get(KIND_HEADER)
    retrying = AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=initial_wait, min=initial_wait, max=max_wait),
        retry=retry_if_exception(_is_transient),
        before_sleep=lambda state: logger.warning(
            "mail.retry",
            kind=kind,
            attempt=state.attempt_number,
            error=_error_name(state.outcome.exception() if state.outcome else None),
        ),
        reraise=False,
    )
    tried = 0
    try:
        async for attempt in retrying:
            with attempt:
                tried += 1
                await sender.send(message)
    except RetryError as exc:
        last = exc.last_attempt.exception()
        logger.error("mail.failed", kind=kind, attempts=attempts, error=_error_name(last))
        raise MailDeliveryError(
            f"The email could not be delivered after {attempts} attempts.", transient=True
        ) from last
    except MailDeliveryError as exc:
        logger.error("mail.failed", kind=kind, attempts=tried, error=_error_name(exc))
        raise


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, MailDeliveryError):
        return exc.transient
    return isinstance(exc, OSError | TimeoutError)


def _delivery_error(exc: BaseException, *, transient: bool) -> MailDeliveryError:
    return MailDeliveryError(
        f"The email could not be delivered ({type(exc).__name__}).", transient=transient
    )


def _error_name(exc: BaseException | None) -> str | None:
    if exc is None:
        return None
    cause = exc.__cause__ if isinstance(exc, MailDeliveryError) and exc.__cause__ else exc
    return type(cause).__name__


def _slug(text: str) -> str:
    slug = _SLUG_UNSAFE.sub("-", text.lower()).strip("-")
    return slug[:40].strip("-") or "unknown"
