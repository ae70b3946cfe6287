"""The unit of work commits before the response leaves (a 2xx means the change is durable)."""

import json

import pytest
from sqlalchemy import select

from tests.fixtures.users import STRONG_PASSWORD, unique_email
from user_service.models import User

pytestmark = pytest.mark.anyio


async def test_the_change_is_committed_when_the_response_starts(app):
    email = unique_email("durable")
    body = json.dumps({"email": email, "password": STRONG_PASSWORD, "name": "D"}).encode()
    seen_at_response_start: list[bool] = []

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        if message["type"] == "http.response.start":
            async with app.state.services.sessionmaker() as db:
                found = await db.scalar(select(User.id).where(User.email == email))
            seen_at_response_start.append(found is not None)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/auth/register",
        "raw_path": b"/v1/auth/register",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"host", b"testserver")],
        "client": ("198.51.100.9", 4000),
        "server": ("testserver", 80),
        "app": app,
    }
    await app(scope, receive, send)
    assert seen_at_response_start == [True]
