"""Drive the running platform as its users would: sign up, confirm the e-mail, link Kite,
open WebSockets. Everything goes over HTTP to the processes; nothing imports the service."""

from __future__ import annotations

import email
import json
import re
import time
import uuid
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.fixtures.users import STRONG_PASSWORD, unique_email


@dataclass
class Trader:
    user_id: str
    email: str
    password: str
    access_token: str
    account_id: str | None = None  # an active Kite account, when linked
    user_id_broker: str | None = None
    kite_api_secret: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def _text_of(message: Message) -> str:
    parts = message.walk() if message.is_multipart() else [message]
    texts = []
    for part in parts:
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            texts.append(payload.decode(errors="replace"))
    return "\n".join(texts)


def verification_token(mail_dir: Path, address: str, timeout: float = 10) -> str:
    """The token of the verification link e-mailed to ``address`` (written as ``.eml``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(mail_dir.glob("*.eml")) if mail_dir.exists() else []:
            message = email.message_from_bytes(path.read_bytes())
            if address in str(message.get("To", "")):
                found = re.search(r"verify-email\?token=([A-Za-z0-9_.~-]+)", _text_of(message))
                if found:
                    return found.group(1)
        time.sleep(0.1)
    raise AssertionError(f"no verification e-mail for {address} in {mail_dir}")


async def sign_up(
    http: httpx.AsyncClient,
    mail_dir: Path,
    address: str | None = None,
    password: str = STRONG_PASSWORD,
) -> Trader:
    """Register, confirm the e-mail from the link, sign in."""
    address = address or unique_email("platform")
    registered = await http.post(
        "/v1/auth/register",
        json={"email": address, "password": password, "name": "Platform Trader"},
    )
    assert registered.status_code == 201, registered.text
    token = await anyio.to_thread.run_sync(verification_token, mail_dir, address)
    verified = await http.post("/v1/auth/email/verify", json={"token": token})
    assert verified.status_code == 200, verified.text
    trader = Trader(registered.json()["user_id"], address, password, "")
    await sign_in(http, trader)
    return trader


async def sign_in(http: httpx.AsyncClient, trader: Trader) -> dict[str, Any]:
    response = await http.post(
        "/v1/auth/login", json={"email": trader.email, "password": trader.password}
    )
    assert response.status_code == 200, response.text
    trader.access_token = response.json()["access_token"]
    return dict(response.json())


async def link_active_kite_account(http: httpx.AsyncClient, kite_url: str, trader: Trader) -> str:
    """Register an app at the Kite stand-in, link it, do the daily login: an active account."""
    async with httpx.AsyncClient(base_url=kite_url) as kite:
        app = (await kite.post("/_standin/apps", json={"email": trader.email})).json()
        linked = await http.post(
            "/v1/trading-accounts",
            json={
                "broker": "kite",
                "user_id_broker": app["user_id"],
                "api_key": app["api_key"],
                "api_secret": app["api_secret"],
            },
            headers=trader.headers,
        )
        assert linked.status_code == 201, linked.text
        account_id = linked.json()["account_id"]
        login_url = (
            await http.get(
                f"/v1/trading-accounts/{account_id}/kite/login-url", headers=trader.headers
            )
        ).json()["login_url"]
        redirect = await kite.get(login_url)  # the stand-in logs in at once and redirects back
        assert redirect.status_code == 302, redirect.text
        request_token = parse_qs(urlsplit(redirect.headers["location"]).query)["request_token"][0]
    session = await http.post(
        f"/v1/trading-accounts/{account_id}/kite/session",
        json={"request_token": request_token},
        headers=trader.headers,
    )
    assert session.status_code == 200 and session.json()["status"] == "active", session.text
    trader.account_id, trader.user_id_broker = account_id, app["user_id"]
    trader.kite_api_secret = app["api_secret"]
    return str(account_id)


async def service_token(http: httpx.AsyncClient, client_id: str, secret: str) -> str:
    response = await http.post(
        "/v1/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def ws_url(http_url: str, path: str, token: str | None = None) -> str:
    url = http_url.replace("http://", "ws://", 1) + path
    return f"{url}?token={token}" if token is not None else url


@dataclass
class Closed:
    code: int
    reason: str
    messages: list[dict[str, Any]]


async def receive_json(socket: ClientConnection, timeout: float = 5) -> dict[str, Any]:
    with anyio.fail_after(timeout):
        return dict(json.loads(await socket.recv()))


async def until_closed(socket: ClientConnection, timeout: float = 5) -> Closed:
    """Read (and keep) messages until the server closes; the close code and reason."""
    messages = []
    with anyio.fail_after(timeout):
        try:
            while True:
                messages.append(json.loads(await socket.recv()))
        except ConnectionClosed as closed:
            frame = closed.rcvd
            return Closed(frame.code if frame else 1006, frame.reason if frame else "", messages)


async def closed_at_once(url: str, **connect_args: Any) -> Closed:
    """Connect and wait for the server to close (an auth failure): code, reason, messages."""
    async with connect(url, open_timeout=5, **connect_args) as socket:
        return await until_closed(socket)


def random_user_id() -> str:
    return str(uuid.uuid4())
