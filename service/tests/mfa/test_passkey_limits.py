"""Anonymous passkey ceremonies are counted per IP (each stores a challenge)."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.anyio


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"rate_limit_passkey_ip": "3 per minute"}


async def test_passwordless_options_are_rate_limited_per_ip(client):
    for _ in range(3):
        assert (await client.post("/v1/auth/passkey/options")).status_code == 200
    limited = await client.post("/v1/auth/passkey/options")
    assert limited.status_code == 429
    assert limited.json()["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) > 0
