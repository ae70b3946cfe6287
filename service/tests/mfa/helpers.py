"""Helpers for the MFA and recovery tests: a controllable clock, real TOTP codes, mail files."""

from __future__ import annotations

import base64
import datetime as dt
import email
import email.policy
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import anyio
import httpx
import time_machine

from tests.fixtures.users import TestUser
from tests.standins.smtp import extract_link
from user_service.mail.templates import KIND_HEADER
from user_service.mfa import totp

STEP = totp.INTERVAL_SECONDS


@dataclass
class Clock:
    """Wall-clock time under test control (``time_machine``, still ticking).

    The monotonic clock of the event loop is left alone, so timeouts and sleeps behave.
    """

    traveller: Any

    def advance(self, seconds: float = STEP) -> None:
        self.traveller.shift(dt.timedelta(seconds=seconds))

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def code(self, secret: str, offset_steps: int = 0) -> str:
        """The code an authenticator shows now (or ``offset_steps`` steps away)."""
        return totp.current_code(secret, self.now() + dt.timedelta(seconds=offset_steps * STEP))


@contextmanager
def controlled_clock() -> Iterator[Clock]:
    """Start 1 s into the next TOTP step, so a test never straddles a step boundary by chance."""
    start = (int(time.time()) // STEP + 1) * STEP + 1
    with time_machine.travel(dt.datetime.fromtimestamp(start, dt.UTC), tick=True) as traveller:
        yield Clock(traveller)


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, not verified (assertions only)."""
    payload = token.split(".")[1]
    payload += "=" * (-len(payload) % 4)
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload))
    return claims


async def setup_totp(client: httpx.AsyncClient, user: TestUser) -> dict[str, Any]:
    response = await client.post("/v1/mfa/totp/setup", headers=user.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def enable_mfa(
    client: httpx.AsyncClient, user: TestUser, clock: Clock
) -> tuple[str, list[str]]:
    """Set up and enable TOTP for a signed-in user; returns (secret, backup codes).

    The clock is moved one step on afterwards, so the next code the test computes is fresh.
    """
    secret = (await setup_totp(client, user))["secret"]
    response = await client.post(
        "/v1/mfa/totp/enable", json={"code": clock.code(secret)}, headers=user.headers
    )
    assert response.status_code == 200, response.text
    clock.advance()
    return secret, response.json()["backup_codes"]


async def password_step(client: httpx.AsyncClient, user: TestUser) -> str:
    """Log in with the password; MFA is on, so this returns the ``session_token``."""
    response = await client.post(
        "/v1/auth/login", json={"email": user.email, "password": user.password}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "mfa_required", body
    token: str = body["session_token"]
    return token


async def mfa_login(client: httpx.AsyncClient, user: TestUser, code: str) -> dict[str, Any]:
    session_token = await password_step(client, user)
    response = await client.post(
        "/v1/auth/mfa/verify", json={"session_token": session_token, "code": code}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    user.access_token = body["access_token"]
    return body


# --- mail written by the FileMailSender (no SMTP_HOST) --------------------------------------


def _read(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def mails_to(mail_dir: Path, to: str, kind: str | None = None) -> list[EmailMessage]:
    """Every message written for ``to`` (oldest first), optionally of one kind."""
    if not mail_dir.exists():
        return []
    found = []
    for path in sorted(mail_dir.glob("*.eml")):
        message = _read(path)
        if str(message["To"]).lower() != to.lower():
            continue
        if kind is None or message[KIND_HEADER] == kind:
            found.append(message)
    return found


async def wait_for_mail(
    mail_dir: Path, to: str, kind: str, count: int = 1, timeout: float = 5.0
) -> list[EmailMessage]:
    """Wait until at least ``count`` messages of ``kind`` were written for ``to``."""
    with anyio.fail_after(timeout):
        while len(found := mails_to(mail_dir, to, kind)) < count:
            await anyio.sleep(0.02)
    return found


def token_from(message: EmailMessage, path: str) -> str:
    """The ``token`` query parameter of the message's link to ``path``."""
    link = extract_link(message, path=path)
    return parse_qs(urlparse(link).query)["token"][0]
