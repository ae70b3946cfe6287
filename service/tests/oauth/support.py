"""Helpers for tests that act as a platform service (client credentials)."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import httpx
from fastapi import FastAPI

from tests.admin.support import db_session
from user_service.oauth import service as oauth_service


@dataclass
class ServiceCaller:
    client_id: str
    secret: str
    token: str | None = None

    @property
    def basic(self) -> dict[str, str]:
        raw = f"{self.client_id}:{self.secret}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}

    @property
    def headers(self) -> dict[str, str]:
        assert self.token, "get a token first"
        return {"Authorization": f"Bearer {self.token}"}


async def rotate_secret(app: FastAPI, client_id: str) -> str:
    async with db_session(app) as db:
        _, secret = await oauth_service.rotate_secret(db, client_id)
    return secret


async def create_client(app: FastAPI, client_id: str, scopes: list[str]) -> str:
    async with db_session(app) as db:
        _, secret = await oauth_service.create_client(db, client_id, scopes)
    return secret


async def request_token(
    client: httpx.AsyncClient, service: ServiceCaller, scope: str | None = None
) -> httpx.Response:
    data = {"grant_type": "client_credentials"}
    if scope is not None:
        data["scope"] = scope
    return await client.post("/v1/oauth/token", data=data, headers=service.basic)


async def service_with_token(
    client: httpx.AsyncClient, app: FastAPI, client_id: str = "alert_service"
) -> ServiceCaller:
    """A seeded client with a fresh secret and a token holding all of its scopes."""
    service = ServiceCaller(client_id, await rotate_secret(app, client_id))
    response = await request_token(client, service)
    assert response.status_code == 200, response.text
    service.token = response.json()["access_token"]
    return service
