"""Mail goes out after commit, in the background, with retries (issue #3 §7, "SMTP down")."""

from __future__ import annotations

import socket
import time
from email.message import EmailMessage

import anyio
import pytest
from structlog.testing import capture_logs

from tests.conftest import client_for, running_app
from tests.fixtures.users import register
from tests.standins.smtp import running_smtp_catcher
from user_service.mail import messages
from user_service.mail.dispatch import MailDispatcher
from user_service.mail.sender import MailDeliveryError

pytestmark = pytest.mark.anyio

FAST_RETRIES = {
    "mail_send_attempts": 40,
    "mail_retry_initial_seconds": 0.05,
    "mail_retry_max_seconds": 0.2,
    "mail_shutdown_grace_seconds": 0,
    "smtp_timeout_seconds": 1,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_smtp_down_still_answers_202_then_retries_until_it_is_back(backend_settings):
    port = free_port()  # nothing listens here yet
    settings = backend_settings(smtp_host="127.0.0.1", smtp_port=port, **FAST_RETRIES)
    async with running_app(settings) as app, client_for(app) as client:
        user = await register(client)
        with capture_logs() as logs:
            started = time.perf_counter()
            response = await client.post(
                "/v1/auth/password/reset-request", json={"email": user.email}
            )
            assert response.status_code == 202
            assert time.perf_counter() - started < 2
            with anyio.fail_after(5):
                while not any(log["event"] == "mail.retry" for log in logs):
                    await anyio.sleep(0.02)
            retry = next(log for log in logs if log["event"] == "mail.retry")
            assert retry["error"] in {"ConnectionRefusedError", "SMTPConnectError", "OSError"}

            # The server comes back: the pending message is delivered by a retry.
            with running_smtp_catcher(port=port) as smtp:
                message = await smtp.wait_for(to=user.email, subject_contains="reset", timeout=10)
        assert "/reset-password?token=qpr_" in message.get_body(("plain",)).get_content()
        assert all("qpr_" not in str(log) for log in logs), "a token reached the logs"
        # Nothing else broke meanwhile.
        assert (await client.get("/health/live")).status_code == 200


async def test_a_message_that_never_goes_through_is_logged_and_dropped(backend_settings):
    settings = backend_settings(
        smtp_host="127.0.0.1", smtp_port=free_port(), **{**FAST_RETRIES, "mail_send_attempts": 3}
    )
    async with running_app(settings) as app, client_for(app) as client:
        user = await register(client)
        with capture_logs() as logs:
            response = await client.post(
                "/v1/auth/password/reset-request", json={"email": user.email}
            )
            assert response.status_code == 202
            assert await app.state.services.mail.drain(10)
        failed = [log for log in logs if log["event"] == "mail.failed"]
        assert {log["kind"] for log in failed} >= {"password_reset"}
        assert all(log["attempts"] == 3 for log in failed)
        assert app.state.services.mail.pending == 0


async def test_no_mail_for_a_transaction_that_rolls_back(app, client):
    # A duplicate registration rolls back: its verification email must never be sent.
    user = await register(client)
    mail_dir = app.state.services.settings.mail_dir
    await app.state.services.mail.drain(5)
    before = len(list(mail_dir.glob("*.eml")))
    response = await client.post(
        "/v1/auth/register",
        json={"email": user.email, "password": user.password, "name": "Twin"},
    )
    assert response.status_code == 409
    await app.state.services.mail.drain(5)
    assert len(list(mail_dir.glob("*.eml"))) == before


class SlowSender:
    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.sent: list[EmailMessage] = []

    async def send(self, message: EmailMessage) -> None:
        await anyio.sleep(self.delay)
        self.sent.append(message)


ADDRESSES = {"mail_from": "Q <q@example.com>", "frontend_url": "http://f"}


def a_message(to: str = "x@example.com") -> EmailMessage:
    return messages.email_verification(
        to=to, sender="Q <q@example.com>", frontend_url="http://f", token="qev_" + "t" * 40
    )


async def test_dispatcher_never_blocks_and_bounds_what_is_pending():
    sender = SlowSender(0.2)
    dispatcher = MailDispatcher(sender, **ADDRESSES, max_pending=2, shutdown_grace=2)
    started = time.perf_counter()
    assert dispatcher.submit(a_message("a@example.com"))
    assert dispatcher.submit(a_message("b@example.com"))
    with capture_logs() as logs:
        assert not dispatcher.submit(a_message("c@example.com"))
    assert time.perf_counter() - started < 0.05
    assert logs[0]["event"] == "mail.dropped" and logs[0]["reason"] == "too_many_pending"
    await dispatcher.aclose()
    assert [str(m["To"]) for m in sender.sent] == ["a@example.com", "b@example.com"]
    assert not dispatcher.submit(a_message())  # closed


async def test_dispatcher_cancels_what_outlives_the_shutdown_grace():
    class Refusing:
        async def send(self, message: EmailMessage) -> None:
            raise MailDeliveryError(transient=True)

    dispatcher = MailDispatcher(
        Refusing(), **ADDRESSES, attempts=100, initial_wait=0.5, max_wait=1, shutdown_grace=0.1
    )
    dispatcher.submit(a_message())
    started = time.perf_counter()
    with capture_logs() as logs:
        await dispatcher.aclose()
    assert time.perf_counter() - started < 1
    assert dispatcher.pending == 0
    assert any(log["event"] == "mail.dropped" and log["reason"] == "shutdown" for log in logs)
