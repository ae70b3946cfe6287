"""The risk assessment of a successful sign-in (docs/risk.md; ASVS V2.2.3, V3.7).

At the moment a session starts (password login without MFA, or the MFA step), the sign-in
is compared with what this user signed in with before:

* ``new_device`` (20): the device fingerprint (else the user agent) was never seen;
* ``new_network`` (30): the /24 (IPv4) or /48 (IPv6) was never seen;
* ``new_country`` (50): the IP's country (offline lookup) was never seen;
* ``impossible_travel`` (80): the previous located sign-in was in a country too far away
  for the time between the two (``IMPOSSIBLE_TRAVEL_KMH``, measured between country centres
  less ``CENTROID_SLACK_KM``; countries sharing a land border never count).

The score is the sum, capped at 100; at or above ``RISKY_SIGN_IN_SCORE`` (60) the sign-in is
*risky*. A user's first sign-in only records what it used (nothing to compare with).
Private, loopback and reserved addresses have no country and never count as a new country.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from typing import Any, NoReturn

from sqlalchemy.ext.asyncio import AsyncSession

from user_service.audit import service as audit
from user_service.audit.service import RequestContext
from user_service.db import utcnow
from user_service.exceptions import Forbidden
from user_service.kit.ip import mask_ip
from user_service.mail import messages
from user_service.models import MarkerKind, User, UserSession
from user_service.risk import geo, repository
from user_service.risk.repository import Marker
from user_service.sessions.devices import describe_device
from user_service.state import AppServices

WEIGHTS = {"new_device": 20, "new_network": 30, "new_country": 50, "impossible_travel": 80}
# Country centres are rough for large countries: this much of the distance is forgiven.
CENTROID_SLACK_KM = 500.0


@dataclasses.dataclass(frozen=True)
class Assessment:
    score: int
    reasons: list[str]
    country: str | None
    first_sign_in: bool
    markers: list[Marker]
    travel: dict[str, Any] | None = None

    @property
    def new_device(self) -> bool:
        return "new_device" in self.reasons

    @property
    def new_country(self) -> bool:
        return "new_country" in self.reasons

    def risky(self, threshold: int) -> bool:
        return self.score >= threshold

    def audit_details(self) -> dict[str, Any]:
        details: dict[str, Any] = {
            "score": self.score,
            "reasons": self.reasons,
            "country": self.country,
        }
        if self.travel:
            details["travel"] = self.travel
        return details


def device_key(context: RequestContext) -> str | None:
    """A stable, non-reversible key of the device: its fingerprint, else its user agent."""
    raw = (context.device_fingerprint or "")[:128] or (context.user_agent or "")[:512]
    if not raw:
        return None
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def _impossible_travel(
    previous: tuple[str, dt.datetime] | None, country: str | None, now: dt.datetime, kmh: int
) -> dict[str, Any] | None:
    if previous is None or country is None or previous[0] == country:
        return None
    if geo.neighbours(previous[0], country):
        return None
    distance = geo.distance_km(previous[0], country)
    if distance is None:
        return None
    hours = max((now - previous[1]).total_seconds() / 3600, 1 / 60)
    speed = max(distance - CENTROID_SLACK_KM, 0) / hours
    if speed <= kmh:
        return None
    return {
        "from": previous[0],
        "to": country,
        "km": round(distance),
        "hours": round(hours, 2),
        "kmh": round(speed),
    }


async def assess(
    db: AsyncSession,
    services: AppServices,
    user: User,
    context: RequestContext,
    now: dt.datetime | None = None,
) -> Assessment:
    """Two indexed reads: what of this sign-in is known, and the previous located sign-in."""
    now = now or utcnow()
    country = geo.country_of(context.ip)
    candidates: list[Marker] = []
    device = device_key(context)
    if device:
        candidates.append((MarkerKind.DEVICE, device))
    network = mask_ip(context.ip) if context.ip else None
    if network and network != "invalid":
        candidates.append((MarkerKind.NETWORK, network))
    if country:
        candidates.append((MarkerKind.COUNTRY, country))

    if not await repository.has_markers(db, user.id):
        return Assessment(0, [], country, True, candidates)
    seen = await repository.known(db, user.id, candidates)
    reasons = [f"new_{kind}" for kind, value in candidates if (kind, value) not in seen]
    travel = _impossible_travel(
        await repository.last_located_sign_in(db, user.id),
        country,
        now,
        services.settings.impossible_travel_kmh,
    )
    if travel:
        reasons.append("impossible_travel")
    score = min(100, sum(WEIGHTS[reason] for reason in reasons))
    return Assessment(score, reasons, country, False, candidates, travel)


def apply_to_session(session: UserSession, assessment: Assessment) -> None:
    session.country = assessment.country
    session.risk_score = assessment.score
    session.risk_reasons = list(assessment.reasons)


def _where(assessment: Assessment, context: RequestContext) -> str:
    device = describe_device(context.user_agent) or "an unknown device"
    if assessment.country is None:
        return device
    new = " (a country you have not signed in from before)" if assessment.new_country else ""
    return f"{device} in {assessment.country}{new}"


async def on_sign_in(
    db: AsyncSession,
    services: AppServices,
    user: User,
    session: UserSession,
    assessment: Assessment,
    context: RequestContext,
) -> None:
    """After the session started: remember what it used, audit what was new, and e-mail the
    user about a new device or country ("was this you? — freeze my account")."""
    from user_service.users.freeze import issue_freeze_link

    now = utcnow()
    await repository.remember(db, user.id, assessment.markers, now)
    if assessment.new_device or assessment.new_country:
        token = await issue_freeze_link(db, user.id)
        services.mail.notify(
            db,
            user,
            messages.new_sign_in,
            when=now,
            freeze_token=token,
            ip=context.ip_masked,
            device=_where(assessment, context),
        )
    # Audit rows last: the chain lock is the transaction's last lock.
    if assessment.new_device:
        await audit.record(
            db,
            "login.new_device",
            context=context,
            user_id=user.id,
            risk_score=assessment.score,
            details={"session_id": str(session.id), "device": session.device},
        )
    if assessment.reasons:
        await audit.record(
            db,
            "login.risk",
            context=context,
            user_id=user.id,
            risk_score=assessment.score,
            details={
                **assessment.audit_details(),
                "session_id": str(session.id),
                "outcome": "allowed",
            },
        )


async def refuse_without_mfa(
    db: AsyncSession,
    services: AppServices,
    user: User,
    assessment: Assessment,
    context: RequestContext,
) -> NoReturn:
    """``RISKY_SIGN_IN_POLICY=require_mfa`` and the user has no second factor: no session.
    Nothing is remembered, so trying again from the same place stays risky."""
    services.mail.notify(
        db,
        user,
        messages.risky_sign_in_refused,
        when=utcnow(),
        ip=context.ip_masked,
        device=_where(assessment, context),
    )
    await audit.record(
        db,
        "login.risk",
        context=context,
        user_id=user.id,
        risk_score=assessment.score,
        details={**assessment.audit_details(), "outcome": "refused"},
    )
    await audit.record(
        db,
        "login.failed",
        context=context,
        user_id=user.id,
        risk_score=assessment.score,
        details={"reason": "risky_sign_in_needs_mfa"},
    )
    raise Forbidden(
        "This sign-in looks unusual (a new device, network or country) and this account has "
        "no second factor. Sign in from a device you have used before and turn on "
        "two-factor authentication, or contact support.",
        code="risky_sign_in_needs_mfa",
        commit=True,
    )
