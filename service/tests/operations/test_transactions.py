"""The unit of work commits before the response leaves (a 2xx means the change is durable);
the one commit inside a request ends only reads."""

import json

import pytest
from sqlalchemy import func, select

from tests.fixtures.users import STRONG_PASSWORD, unique_email
from user_service.db import commit_before_slow_call
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


async def test_a_commit_before_a_slow_call_ends_the_reads_and_refuses_pending_changes(app):
    async with app.state.services.sessionmaker() as db:
        await db.scalar(select(func.count(User.id)))
        assert db.in_transaction()
        await commit_before_slow_call(db)
        assert not db.in_transaction()
        email = unique_email("pending")
        db.add(User(email=email, name="P"))
        with pytest.raises(RuntimeError, match="unflushed changes pending"):
            await commit_before_slow_call(db)
    async with app.state.services.sessionmaker() as other:
        assert await other.scalar(select(User.id).where(User.email == email)) is None
