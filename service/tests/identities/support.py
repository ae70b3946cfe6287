"""Drive "Sign in with Google" the way the console does, against the OIDC stand-in."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx

from tests.standins.oidc import OidcStandinState, StandinUser

CALLBACK = "http://testserver/login/google/callback"


@dataclass
class Provider:
    issuer: str
    state: OidcStandinState
    client_id: str

    def next_user(self, email: str | None = None, **claims: Any) -> StandinUser:
        """Who signs in at the provider next: a fresh ``sub`` unless one is given."""
        user = StandinUser(
            sub=str(claims.pop("sub", uuid.uuid4().int)),
            email=email if email is not None else f"g-{uuid.uuid4().hex[:10]}@example.com",
            **claims,
        )
        self.state.user = user
        return user


async def authorize(
    client: httpx.AsyncClient,
    start_path: str = "/v1/auth/oidc/google/start",
    headers: dict[str, str] | None = None,
    **body: Any,
) -> tuple[str, str]:
    """Start a flow and let the provider approve it; returns the ``(code, state)`` it sends
    back to the console's callback page."""
    started = await client.post(start_path, json=body, headers=headers)
    assert started.status_code == 200, started.text
    url = started.json()["authorization_url"]
    async with httpx.AsyncClient() as browser:
        answer = await browser.get(url)
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(CALLBACK + "?"), location
    query = parse_qs(urlparse(location).query)
    return query["code"][0], query["state"][0]


async def callback(client: httpx.AsyncClient, code: str, state: str) -> httpx.Response:
    return await client.post("/v1/auth/oidc/google/callback", json={"code": code, "state": state})


async def google_sign_in(client: httpx.AsyncClient, **start: Any) -> httpx.Response:
    code, state = await authorize(client, **start)
    return await callback(client, code, state)
