"""Sign-in risk on both back-ends, with fixed public IPs behind a trusted proxy (docs/risk.md).

The test client's peer (203.0.113.7) is the trusted proxy; ``X-Forwarded-For`` names the
client. Country codes are RIR registrations that have not moved in years: 49.44.0.1 (IN,
Reliance Jio), 81.2.69.142 (GB), 2405:200::1 (IN).
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import select

from tests.fixtures.users import register
from tests.mfa.helpers import controlled_clock, enable_mfa, mails_to, mfa_login, wait_for_mail
from user_service.models import AuthEvent, UserSession
from user_service.risk import geo
from user_service.risk.service import _impossible_travel

pytestmark = pytest.mark.anyio

INDIA, INDIA_2, BRITAIN = "49.44.0.1", "49.44.0.77", "81.2.69.142"
LAPTOP = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/130.0 Safari/537.36"
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Version/17.0 Safari/604.1"


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"trusted_proxies": ["203.0.113.7"]}


def _from(ip: str, agent: str = LAPTOP) -> dict[str, str]:
    return {"X-Forwarded-For": ip, "User-Agent": agent}


async def _login(client, user, ip: str, agent: str = LAPTOP, status: int = 200):
    response = await client.post(
        "/v1/auth/login",
        json={"email": user.email, "password": user.password},
        headers=_from(ip, agent),
    )
    assert response.status_code == status, response.text
    return response.json()


async def _events(app, user_id: str, event_type: str) -> list[AuthEvent]:
    async with app.state.services.sessionmaker() as db:
        rows = await db.execute(
            select(AuthEvent)
            .where(AuthEvent.event_type == event_type, AuthEvent.user_id == uuid.UUID(user_id))
            .order_by(AuthEvent.id)
        )
        return list(rows.scalars())


def _mail_dir(app):
    return app.state.services.settings.mail_dir


async def _sessions(client, token: str) -> list[dict]:
    response = await client.get("/v1/auth/sessions", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return response.json()["sessions"]


def test_public_addresses_have_countries_and_private_ones_none():
    assert geo.country_of(INDIA) == "IN"
    assert geo.country_of(BRITAIN) == "GB"
    assert geo.country_of("2405:200::1") == "IN"
    for address in ("127.0.0.1", "10.1.2.3", "192.168.0.1", "::1", "203.0.113.7", "fe80::1"):
        assert geo.country_of(address) is None
    assert geo.country_of("not-an-ip") is None and geo.country_of(None) is None


def test_travel_is_impossible_only_when_too_fast():
    then = dt.datetime(2026, 11, 30, 8, tzinfo=dt.UTC)
    # India → Britain (≈ 7,500 km between centres) in one hour: impossible.
    travel = _impossible_travel(("IN", then), "GB", then + dt.timedelta(hours=1), 1000)
    assert travel and travel["from"] == "IN" and travel["to"] == "GB" and travel["kmh"] > 1000
    # The same trip in twelve hours is a flight.
    assert _impossible_travel(("IN", then), "GB", then + dt.timedelta(hours=12), 1000) is None
    # Countries sharing a border, or unknown countries, never count.
    assert _impossible_travel(("IN", then), "NP", then + dt.timedelta(minutes=5), 1000) is None
    assert _impossible_travel(("IN", then), "ZZ", then, 1000) is None


async def test_first_sign_in_only_records_what_it_used(client, app):
    user = await register(client)
    body = await _login(client, user, INDIA)
    [session] = await _sessions(client, body["access_token"])
    assert session["country"] == "IN" and session["risk_score"] == 0
    assert session["risk_reasons"] == []
    assert not mails_to(_mail_dir(app), user.email, "new_sign_in")
    [success] = await _events(app, user.user_id, "login.success")
    assert success.risk_score == 0
    assert not await _events(app, user.user_id, "login.risk")


async def test_a_known_device_network_and_country_is_not_risky(client, app):
    user = await register(client)
    await _login(client, user, INDIA)
    body = await _login(client, user, INDIA)
    sessions = await _sessions(client, body["access_token"])
    assert [s["risk_score"] for s in sessions] == [0, 0]
    assert not await _events(app, user.user_id, "login.risk")


async def test_new_device_is_audited_emailed_with_a_freeze_link_and_listed(client, app):
    user = await register(client)
    await _login(client, user, INDIA)
    body = await _login(client, user, INDIA, agent=PHONE)

    current = next(s for s in await _sessions(client, body["access_token"]) if s["current"])
    assert current["risk_reasons"] == ["new_device"] and current["risk_score"] == 20
    assert current["country"] == "IN" and current["ip"] == "49.44.0.x"
    [new_device] = await _events(app, user.user_id, "login.new_device")
    assert new_device.details["session_id"] == current["session_id"]
    [risk] = await _events(app, user.user_id, "login.risk")
    assert risk.risk_score == 20 and risk.details["reasons"] == ["new_device"]
    assert risk.details["outcome"] == "allowed" and risk.ip_masked == "49.44.0.x"
    assert (await _events(app, user.user_id, "login.success"))[-1].risk_score == 20

    [mail] = await wait_for_mail(_mail_dir(app), user.email, "new_sign_in")
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert "/freeze?token=" in text and current["device"] in text and "49.44.0.x" in text
    assert INDIA not in text  # the address is masked


async def test_a_new_network_alone_is_scored_but_not_emailed(client, app):
    user = await register(client)
    await _login(client, user, INDIA)
    await _login(client, user, "49.44.7.1")
    [risk] = await _events(app, user.user_id, "login.risk")
    assert risk.details["reasons"] == ["new_network"] and risk.risk_score == 30
    assert not mails_to(_mail_dir(app), user.email, "new_sign_in")


async def test_new_country_minutes_later_is_impossible_travel(client, app):
    user = await register(client)
    await _login(client, user, INDIA)
    body = await _login(client, user, BRITAIN)

    current = next(s for s in await _sessions(client, body["access_token"]) if s["current"])
    assert current["country"] == "GB"
    assert current["risk_reasons"] == ["new_network", "new_country", "impossible_travel"]
    assert current["risk_score"] == 100
    [risk] = await _events(app, user.user_id, "login.risk")
    assert risk.details["travel"]["from"] == "IN" and risk.details["travel"]["to"] == "GB"
    [mail] = await wait_for_mail(_mail_dir(app), user.email, "new_sign_in")
    assert (
        "in GB (a country you have not signed in from before)"
        in mail.get_body(preferencelist=("plain",)).get_content()
    )
    assert not await _events(app, user.user_id, "login.new_device")


async def test_private_addresses_never_count_as_a_new_country(client, app):
    user = await register(client)
    await _login(client, user, INDIA)
    body = await _login(client, user, "10.20.30.40")
    current = next(s for s in await _sessions(client, body["access_token"]) if s["current"])
    assert current["country"] is None and current["risk_reasons"] == ["new_network"]


@pytest.mark.parametrize(
    "settings_overrides",
    [{"trusted_proxies": ["203.0.113.7"], "risky_sign_in_policy": "require_mfa"}],
)
async def test_require_mfa_policy_refuses_a_risky_sign_in_without_mfa(client, app):
    user = await register(client)
    await _login(client, user, INDIA)
    refused = await _login(client, user, BRITAIN, status=403)
    assert refused["code"] == "risky_sign_in_needs_mfa"
    # Nothing was remembered: trying again from there is still refused.
    assert (await _login(client, user, BRITAIN, status=403))["code"] == "risky_sign_in_needs_mfa"
    await wait_for_mail(_mail_dir(app), user.email, "risky_sign_in_refused", count=2)
    risks = await _events(app, user.user_id, "login.risk")
    assert [r.details["outcome"] for r in risks] == ["refused", "refused"]
    failed = await _events(app, user.user_id, "login.failed")
    assert failed[-1].details == {"reason": "risky_sign_in_needs_mfa"}
    async with app.state.services.sessionmaker() as db:
        count = len(
            list(
                (
                    await db.execute(
                        select(UserSession.id).where(UserSession.user_id == uuid.UUID(user.user_id))
                    )
                ).scalars()
            )
        )
    assert count == 1
    # A familiar place still signs in, and a merely new network stays below the threshold.
    await _login(client, user, INDIA_2)


@pytest.mark.parametrize(
    "settings_overrides",
    [{"trusted_proxies": ["203.0.113.7"], "risky_sign_in_policy": "require_mfa"}],
)
async def test_mfa_sign_in_is_assessed_and_allowed_under_require_mfa(client, app):
    user = await register(client)
    await _login(client, user, INDIA)
    with controlled_clock() as clock:
        body = await _login(client, user, INDIA)
        user.access_token = body["access_token"]
        secret, _ = await enable_mfa(client, user, clock)
        client.headers.update(_from(BRITAIN))
        try:
            await mfa_login(client, user, clock.code(secret))
        finally:
            del client.headers["X-Forwarded-For"]
        current = next(s for s in await _sessions(client, user.access_token) if s["current"])
    assert current["country"] == "GB" and "new_country" in current["risk_reasons"]
    success = (await _events(app, user.user_id, "login.success"))[-1]
    assert success.details["amr"] == ["pwd", "otp"] and success.risk_score == current["risk_score"]
