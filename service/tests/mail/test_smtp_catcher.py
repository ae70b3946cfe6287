import email
import email.policy
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import anyio
import pytest

from tests.standins.smtp import extract_link, running_smtp_catcher
from user_service.mail import messages

pytestmark = pytest.mark.anyio

SERVICE_DIR = Path(__file__).resolve().parents[2]


def verification(to: str, token: str = "v-tok") -> EmailMessage:
    return messages.email_verification(
        to=to,
        sender="no-reply@quantagro.example",
        frontend_url="http://localhost:5173",
        token=token,
    )


async def test_wait_for_filters_by_recipient_and_subject() -> None:
    with running_smtp_catcher() as smtp:
        await aiosmtplib.send(
            verification("a@example.com", "one"), hostname=smtp.host, port=smtp.port
        )
        await aiosmtplib.send(
            verification("b@example.com", "two"), hostname=smtp.host, port=smtp.port
        )
        found = await smtp.wait_for(to="B@example.com", subject_contains="confirm")
        assert (
            extract_link(found, "/verify-email") == "http://localhost:5173/verify-email?token=two"
        )
        assert len(smtp.messages) == 2
        smtp.clear()
        assert smtp.messages == []


async def test_wait_for_times_out_when_nothing_arrives() -> None:
    with running_smtp_catcher() as smtp, pytest.raises(TimeoutError):
        await smtp.wait_for(to="nobody@example.com", timeout=0.1)


def test_wait_for_blocking_sees_a_message_sent_from_another_thread() -> None:
    with running_smtp_catcher() as smtp:
        anyio.run(
            lambda: aiosmtplib.send(
                verification("c@example.com"), hostname=smtp.host, port=smtp.port
            )
        )
        assert smtp.wait_for_blocking(to="c@example.com", timeout=2)["To"] == "c@example.com"
        with pytest.raises(TimeoutError):
            smtp.wait_for_blocking(to="nobody@example.com", timeout=0.1)


def test_extract_link_refuses_a_message_without_that_link() -> None:
    with pytest.raises(LookupError):
        extract_link(verification("d@example.com"), "/reset-password")


async def test_catcher_stores_eml_files_when_given_a_directory(tmp_path: Path) -> None:
    with running_smtp_catcher(directory=tmp_path) as smtp:
        await aiosmtplib.send(verification("e@example.com"), hostname=smtp.host, port=smtp.port)
        await smtp.wait_for(to="e@example.com")
    (stored,) = tmp_path.glob("*.eml")
    parsed = email.message_from_bytes(stored.read_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    assert extract_link(parsed, "/verify-email").endswith("token=v-tok")


async def test_catcher_runs_as_a_script_and_writes_eml_files(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.standins.smtp", "--port", "0", "--dir", str(tmp_path)],
        cwd=SERVICE_DIR,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("smtp-catcher: listening on 127.0.0.1:")
        port = int(line.rsplit(":", 1)[1])
        await aiosmtplib.send(
            verification("f@example.com", "script"), hostname="127.0.0.1", port=port
        )
        deadline = time.monotonic() + 5
        while not list(tmp_path.glob("*.eml")) and time.monotonic() < deadline:
            await anyio.sleep(0.05)
        (stored,) = tmp_path.glob("*.eml")
        parsed = email.message_from_bytes(stored.read_bytes(), policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        assert extract_link(parsed, "/verify-email").endswith("token=script")
    finally:
        process.terminate()
        returncode = process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
    assert returncode == 0
