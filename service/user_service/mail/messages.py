"""Typed builders for each transactional email (what the services call).

Each builder takes exactly the facts its email needs, builds the frontend links from
``FRONTEND_URL`` (docs/api.md §2: ``{FRONTEND_URL}/reset-password?token=…``), and renders
:mod:`user_service.mail.templates`. Tokens go only into the link, never into a header, so a
log line about a message (kind, recipient, file path) can never carry one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from urllib.parse import urlencode

from user_service.mail.templates import MailKind, render

__all__ = [
    "EMAIL_VERIFICATION_TTL",
    "FREEZE_LINK_TTL",
    "PASSWORD_RESET_TTL",
    "UNFREEZE_CONFIRMATION_TTL",
    "account_frozen",
    "account_unfrozen",
    "email_verification",
    "frontend_link",
    "mfa_changed",
    "mfa_factor_renamed",
    "new_sign_in",
    "password_changed",
    "password_reset",
    "risky_sign_in_refused",
    "unfreeze_confirmation",
]

EMAIL_VERIFICATION_TTL = timedelta(hours=24)
PASSWORD_RESET_TTL = timedelta(minutes=30)
FREEZE_LINK_TTL = timedelta(days=7)
UNFREEZE_CONFIRMATION_TTL = timedelta(minutes=30)

VERIFY_EMAIL_PATH = "/verify-email"
RESET_PASSWORD_PATH = "/reset-password"
FORGOT_PASSWORD_PATH = "/forgot-password"
SECURITY_PATH = "/security"
SESSIONS_PATH = "/sessions"
FREEZE_PATH = "/freeze"
UNFREEZE_PATH = "/unfreeze"

_UNKNOWN = "unknown"


def frontend_link(frontend_url: str, path: str, token: str | None = None) -> str:
    """``{frontend_url}{path}`` plus ``?token=…`` (URL-encoded) when a token is given."""
    link = frontend_url.rstrip("/") + path
    if token is not None:
        link += "?" + urlencode({"token": token})
    return link


def email_verification(
    *,
    to: str,
    sender: str,
    frontend_url: str,
    token: str,
    name: str | None = None,
    valid_for: timedelta = EMAIL_VERIFICATION_TTL,
) -> EmailMessage:
    """The link sent at registration and on ``/v1/auth/email/resend`` (single-use, 24 h)."""
    return render(
        MailKind.EMAIL_VERIFICATION,
        to=to,
        sender=sender,
        name=_greeting_name(name),
        link=frontend_link(frontend_url, VERIFY_EMAIL_PATH, token),
        valid_for=_duration(valid_for),
    )


def password_reset(
    *,
    to: str,
    sender: str,
    frontend_url: str,
    token: str,
    name: str | None = None,
    valid_for: timedelta = PASSWORD_RESET_TTL,
) -> EmailMessage:
    """The reset link of ``/v1/auth/password/reset-request`` (single-use, 30 min)."""
    return render(
        MailKind.PASSWORD_RESET,
        to=to,
        sender=sender,
        name=_greeting_name(name),
        link=frontend_link(frontend_url, RESET_PASSWORD_PATH, token),
        valid_for=_duration(valid_for),
    )


def password_changed(
    *,
    to: str,
    sender: str,
    frontend_url: str,
    when: datetime,
    ip: str | None = None,
    name: str | None = None,
) -> EmailMessage:
    """Notice after a password change or reset, so a hijack does not go unnoticed."""
    return _notice(
        MailKind.PASSWORD_CHANGED,
        to=to,
        sender=sender,
        name=name,
        when=when,
        ip=ip,
        forgot_link=frontend_link(frontend_url, FORGOT_PASSWORD_PATH),
    )


def _signed_out(sessions_revoked: int) -> str:
    if sessions_revoked <= 0:
        return "No other device was signed in."
    devices = "device" if sessions_revoked == 1 else "devices"
    return (
        f"For your safety we signed you out on your other {devices} ({sessions_revoked}): "
        "sign in there again with the new setting."
    )


def mfa_changed(
    kind: MailKind,
    *,
    to: str,
    sender: str,
    frontend_url: str,
    when: datetime,
    sessions_revoked: int,
    ip: str | None = None,
    name: str | None = None,
    factor: str | None = None,
) -> EmailMessage:
    """Notice of a second-factor change (turned on or off, a factor added or removed, new
    backup codes), naming the factor and saying
    which other sessions were signed out (ASVS V7.1: sessions end when a factor changes).
    Turning it off is the change an attacker would most want hidden."""
    if kind not in (
        MailKind.MFA_ENABLED,
        MailKind.MFA_DISABLED,
        MailKind.BACKUP_CODES_REGENERATED,
        MailKind.MFA_FACTOR_ADDED,
        MailKind.MFA_FACTOR_REMOVED,
    ):
        raise ValueError(f"{kind} is not a second-factor notice")
    return _notice(
        kind,
        to=to,
        sender=sender,
        name=name,
        when=when,
        ip=ip,
        signed_out=_signed_out(sessions_revoked),
        forgot_link=frontend_link(frontend_url, FORGOT_PASSWORD_PATH),
        security_link=frontend_link(frontend_url, SECURITY_PATH),
        factor=factor or "a second factor",
    )


def mfa_factor_renamed(
    *,
    to: str,
    sender: str,
    frontend_url: str,
    when: datetime,
    factor: str,
    new_name: str,
    ip: str | None = None,
    name: str | None = None,
) -> EmailMessage:
    """A second factor got a new name: nothing about signing in changed, but only someone
    signed in to the account can rename one, so its owner hears of it."""
    return _notice(
        MailKind.MFA_FACTOR_RENAMED,
        to=to,
        sender=sender,
        name=name,
        when=when,
        ip=ip,
        factor=factor,
        new_name=new_name,
        forgot_link=frontend_link(frontend_url, FORGOT_PASSWORD_PATH),
        security_link=frontend_link(frontend_url, SECURITY_PATH),
    )


def backup_codes_low(
    *,
    to: str,
    sender: str,
    frontend_url: str,
    when: datetime,
    remaining: int,
    ip: str | None = None,
    name: str | None = None,
) -> EmailMessage:
    """A backup code was spent and at most three are left: time for a new set."""
    return _notice(
        MailKind.BACKUP_CODES_LOW,
        to=to,
        sender=sender,
        name=name,
        when=when,
        ip=ip,
        remaining="no backup codes"
        if remaining == 0
        else f"{remaining} backup code" + ("s" if remaining != 1 else ""),
        forgot_link=frontend_link(frontend_url, FORGOT_PASSWORD_PATH),
        security_link=frontend_link(frontend_url, SECURITY_PATH),
    )


def new_sign_in(
    *,
    to: str,
    sender: str,
    frontend_url: str,
    when: datetime,
    freeze_token: str,
    ip: str | None = None,
    device: str | None = None,
    name: str | None = None,
    freeze_valid_for: timedelta = FREEZE_LINK_TTL,
) -> EmailMessage:
    """Notice of a sign-in from a new device, with a single-use "freeze my account" link
    (``users.freeze.issue_freeze_link`` makes the token; docs/freeze.md)."""
    return _notice(
        MailKind.NEW_SIGN_IN,
        to=to,
        sender=sender,
        name=name,
        when=when,
        ip=ip,
        device=device or "an unknown device",
        forgot_link=frontend_link(frontend_url, FORGOT_PASSWORD_PATH),
        sessions_link=frontend_link(frontend_url, SESSIONS_PATH),
        freeze_link=frontend_link(frontend_url, FREEZE_PATH, freeze_token),
        freeze_valid_for=_duration(freeze_valid_for),
    )


def risky_sign_in_refused(
    *,
    to: str,
    sender: str,
    frontend_url: str,
    when: datetime,
    ip: str | None = None,
    device: str | None = None,
    name: str | None = None,
) -> EmailMessage:
    """A risky sign-in with the right password was refused: the account has no second factor
    and ``RISKY_SIGN_IN_POLICY=require_mfa`` (docs/risk.md)."""
    return _notice(
        MailKind.RISKY_SIGN_IN_REFUSED,
        to=to,
        sender=sender,
        name=name,
        when=when,
        ip=ip,
        device=device or "an unknown device",
        forgot_link=frontend_link(frontend_url, FORGOT_PASSWORD_PATH),
        security_link=frontend_link(frontend_url, SECURITY_PATH),
    )


def account_frozen(
    *,
    to: str,
    sender: str,
    frontend_url: str,
    when: datetime,
    how: str,
    sessions_revoked: int,
    name: str | None = None,
) -> EmailMessage:
    """Notice of an emergency freeze (by the user, a link or an admin); how to unfreeze."""
    devices = "1 device" if sessions_revoked == 1 else f"{sessions_revoked} devices"
    return render(
        MailKind.ACCOUNT_FROZEN,
        to=to,
        sender=sender,
        name=_greeting_name(name),
        when=_when(when),
        how=how,
        signed_out=devices,
        security_link=frontend_link(frontend_url, SECURITY_PATH),
        forgot_link=frontend_link(frontend_url, FORGOT_PASSWORD_PATH),
    )


def account_unfrozen(
    *,
    to: str,
    sender: str,
    frontend_url: str,
    when: datetime,
    how: str,
    name: str | None = None,
) -> EmailMessage:
    """Notice that trading is possible again, so an unfreeze by someone else is noticed."""
    return render(
        MailKind.ACCOUNT_UNFROZEN,
        to=to,
        sender=sender,
        name=_greeting_name(name),
        when=_when(when),
        how=how,
        security_link=frontend_link(frontend_url, SECURITY_PATH),
        forgot_link=frontend_link(frontend_url, FORGOT_PASSWORD_PATH),
    )


def unfreeze_confirmation(
    *,
    to: str,
    sender: str,
    frontend_url: str,
    token: str,
    when: datetime,
    ip: str | None = None,
    name: str | None = None,
    valid_for: timedelta = UNFREEZE_CONFIRMATION_TTL,
) -> EmailMessage:
    """The second step of an unfreeze for users without a second factor (single-use, 30 min)."""
    return _notice(
        MailKind.UNFREEZE_CONFIRMATION,
        to=to,
        sender=sender,
        name=name,
        when=when,
        ip=ip,
        link=frontend_link(frontend_url, UNFREEZE_PATH, token),
        valid_for=_duration(valid_for),
        forgot_link=frontend_link(frontend_url, FORGOT_PASSWORD_PATH),
    )


def identity_changed(
    kind: MailKind,
    *,
    to: str,
    sender: str,
    frontend_url: str,
    when: datetime,
    provider: str,
    account: str | None,
    ip: str | None = None,
    name: str | None = None,
) -> EmailMessage:
    """Notice that a sign-in provider account was linked or unlinked: a linked identity is a
    way into the account, so its owner must hear of every new one (docs/oidc.md)."""
    if kind not in (MailKind.IDENTITY_LINKED, MailKind.IDENTITY_UNLINKED):
        raise ValueError(f"{kind} is not a linked-identity notice")
    return _notice(
        kind,
        to=to,
        sender=sender,
        name=name,
        when=when,
        ip=ip,
        provider=provider,
        account=account or _UNKNOWN,
        security_link=frontend_link(frontend_url, SECURITY_PATH),
        forgot_link=frontend_link(frontend_url, FORGOT_PASSWORD_PATH),
    )


def _notice(
    kind: MailKind,
    *,
    to: str,
    sender: str,
    name: str | None,
    when: datetime,
    ip: str | None,
    **fields: str,
) -> EmailMessage:
    """A security notice: the greeting, the moment (UTC) and the IP every notice shows, then
    the fields of its kind."""
    return render(
        kind,
        to=to,
        sender=sender,
        name=_greeting_name(name),
        when=_when(when),
        ip=ip or _UNKNOWN,
        **fields,
    )


def _greeting_name(name: str | None) -> str:
    cleaned = " ".join((name or "").split())
    return cleaned or "there"


def _when(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("when must be timezone-aware")
    return moment.astimezone(UTC).strftime("%d %b %Y at %H:%M UTC")


def _duration(period: timedelta) -> str:
    seconds = int(period.total_seconds())
    if seconds <= 0:
        raise ValueError("valid_for must be positive")
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0 and (unit != "day" or seconds // size > 1):
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"
