import email
import email.policy
import socket
import stat
from email.message import EmailMessage
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from tests.standins.smtp import extract_link, running_smtp_catcher
from user_service.mail import messages
from user_service.mail.sender import (
    FileMailSender,
    MailDeliveryError,
    MailSender,
    SmtpMailSender,
    mail_sender_from_settings,
    send_with_retry,
)

pytestmark = pytest.mark.anyio

TOKEN = "qrs_tHiS-iS-a-SeCrEt-ToKeN"
PASSWORD = "smtp-p4ssw0rd-never-shown"


def reset_message(to: str = "bob@example.com") -> EmailMessage:
    return messages.password_reset(
        to=to,
        sender="Quantagro <no-reply@quantagro.example>",
        frontend_url="http://127.0.0.1:8001",
        token=TOKEN,
    )


def closed_port() -> int:
    """A port nothing listens on: bound, then released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class CountingSender:
    """Fails ``failures`` times with ``error`` before delegating (or forever if no inner)."""

    def __init__(self, error: Exception, failures: int, inner: MailSender | None = None) -> None:
        self.error = error
        self.failures = failures
        self.inner = inner
        self.calls = 0

    async def send(self, message: EmailMessage) -> None:
        self.calls += 1
        if self.calls <= self.failures or self.inner is None:
            raise self.error
        await self.inner.send(message)


async def test_file_sender_writes_a_readable_eml_and_logs_its_path_not_the_token(
    tmp_path: Path,
) -> None:
    sender = FileMailSender(tmp_path / "mail")
    with capture_logs() as logs:
        path = await sender.write(reset_message())
    assert path.parent == tmp_path / "mail"
    assert path.suffix == ".eml"
    assert "bob" not in path.name and "example" not in path.name  # the path is logged
    assert "bob" not in str(logs)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parsed["To"] == "bob@example.com"
    assert extract_link(parsed) == f"http://127.0.0.1:8001/reset-password?token={TOKEN}"
    assert [entry["event"] for entry in logs] == ["mail.written"]
    assert logs[0]["path"] == str(path)
    assert TOKEN not in repr(logs)


async def test_file_sender_gives_each_message_its_own_file(tmp_path: Path) -> None:
    sender = FileMailSender(tmp_path)
    for _ in range(5):
        await sender.send(reset_message())
    assert len(list(tmp_path.glob("*.eml"))) == 5


async def test_smtp_sender_delivers_to_a_real_smtp_server() -> None:
    with running_smtp_catcher() as smtp:
        await SmtpMailSender(smtp.host, smtp.port).send(reset_message("carol@example.com"))
        received = await smtp.wait_for(to="carol@example.com", subject_contains="reset")
    assert received["From"] == "Quantagro <no-reply@quantagro.example>"
    assert smtp.envelopes == [("no-reply@quantagro.example", ["carol@example.com"])]
    assert extract_link(received).endswith(f"?token={TOKEN}")


async def test_smtp_sender_authenticates_with_credentials() -> None:
    with running_smtp_catcher(credentials=("mailer", PASSWORD)) as smtp:
        sender = SmtpMailSender(smtp.host, smtp.port, username="mailer", password=PASSWORD)
        await sender.send(reset_message())
        assert len(smtp.messages) == 1


async def test_wrong_smtp_password_is_a_permanent_failure_without_the_password() -> None:
    with running_smtp_catcher(credentials=("mailer", PASSWORD)) as smtp:
        sender = SmtpMailSender(
            smtp.host, smtp.port, username="mailer", password="wrong-" + PASSWORD
        )
        with pytest.raises(MailDeliveryError) as caught:
            await sender.send(reset_message())
    assert caught.value.transient is False
    assert caught.value.code == "mail_delivery_failed"
    assert PASSWORD not in str(caught.value) and PASSWORD not in repr(caught.value)
    assert smtp.messages == []


async def test_smtp_down_is_a_transient_failure() -> None:
    sender = SmtpMailSender("127.0.0.1", closed_port(), timeout=2)
    with pytest.raises(MailDeliveryError) as caught:
        await sender.send(reset_message())
    assert caught.value.transient is True


def test_smtp_sender_repr_hides_the_password() -> None:
    sender = SmtpMailSender("smtp.example", 587, username="mailer", password=PASSWORD)
    assert PASSWORD not in repr(sender)
    assert "**********" in repr(sender)


async def test_send_with_retry_retries_then_raises_when_the_server_is_down() -> None:
    password = "hunter2-" + PASSWORD
    smtp = SmtpMailSender("127.0.0.1", closed_port(), username="u", password=password, timeout=2)
    spy = CountingSender(error=MailDeliveryError(), failures=0, inner=smtp)
    with capture_logs() as logs, pytest.raises(MailDeliveryError) as caught:
        await send_with_retry(spy, reset_message(), attempts=3, initial_wait=0.01, max_wait=0.02)
    assert spy.calls == 3
    assert caught.value.transient is True
    assert "after 3 attempts" in str(caught.value)
    assert password not in str(caught.value)
    assert [e["event"] for e in logs] == ["mail.retry", "mail.retry", "mail.failed"]
    assert logs[-1]["error"] == "SMTPConnectError"
    assert password not in repr(logs) and TOKEN not in repr(logs)


async def test_send_with_retry_succeeds_after_transient_failures() -> None:
    with running_smtp_catcher() as smtp:
        flaky = CountingSender(
            error=ConnectionRefusedError(), failures=2, inner=SmtpMailSender(smtp.host, smtp.port)
        )
        await send_with_retry(flaky, reset_message(), attempts=3, initial_wait=0.01)
        assert flaky.calls == 3
        assert len(smtp.messages) == 1


async def test_send_with_retry_does_not_retry_a_permanent_failure() -> None:
    permanent = CountingSender(error=MailDeliveryError(transient=False), failures=99)
    with pytest.raises(MailDeliveryError) as caught:
        await send_with_retry(permanent, reset_message(), attempts=3, initial_wait=0.01)
    assert permanent.calls == 1
    assert caught.value.transient is False


@pytest.mark.parametrize("host", [None, "", "   "])
def test_factory_writes_files_when_no_smtp_host(host: str | None, tmp_path: Path) -> None:
    sender = mail_sender_from_settings(host, 25, tmp_path)
    assert isinstance(sender, FileMailSender)
    assert sender.directory == tmp_path


def test_factory_uses_smtp_when_a_host_is_configured(tmp_path: Path) -> None:
    sender = mail_sender_from_settings("smtp.example", 2525, tmp_path, password=PASSWORD)
    assert isinstance(sender, SmtpMailSender)
    assert (sender.host, sender.port) == ("smtp.example", 2525)
    assert isinstance(sender, MailSender)
