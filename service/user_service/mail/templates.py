"""Every transactional email the service sends, in one place: subject, plain text and HTML.

Templates are ``string.Template``: no logic, nothing to sandbox, nothing to install. Every
value is HTML-escaped before it goes into the HTML part (a user's name is user input), and the
plain-text part carries the same words and the same link, so mail clients without HTML — and
people who distrust HTML mail — lose nothing. :func:`render` is generic; the typed builders in
``user_service.mail.messages`` are what the rest of the service calls.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from enum import StrEnum
from string import Template

__all__ = ["KIND_HEADER", "TEMPLATES", "MailKind", "MailTemplate", "render"]

KIND_HEADER = "X-Quantagro-Mail"
_FALLBACK_DOMAIN = "quantagro.invalid"


class MailKind(StrEnum):
    EMAIL_VERIFICATION = "email_verification"
    PASSWORD_RESET = "password_reset"
    PASSWORD_CHANGED = "password_changed"
    MFA_ENABLED = "mfa_enabled"
    MFA_DISABLED = "mfa_disabled"
    BACKUP_CODES_REGENERATED = "backup_codes_regenerated"
    MFA_FACTOR_ADDED = "mfa_factor_added"
    MFA_FACTOR_REMOVED = "mfa_factor_removed"
    MFA_FACTOR_RENAMED = "mfa_factor_renamed"
    BACKUP_CODES_LOW = "backup_codes_low"
    NEW_SIGN_IN = "new_sign_in"
    ACCOUNT_FROZEN = "account_frozen"
    ACCOUNT_UNFROZEN = "account_unfrozen"
    UNFREEZE_CONFIRMATION = "unfreeze_confirmation"
    RISKY_SIGN_IN_REFUSED = "risky_sign_in_refused"
    IDENTITY_LINKED = "identity_linked"
    IDENTITY_UNLINKED = "identity_unlinked"


@dataclass(frozen=True)
class MailTemplate:
    """Subject, plain-text body and HTML body fragment (wrapped in :data:`_LAYOUT`)."""

    subject: str
    text: Template
    html: Template


_TEXT_FOOTER = """
--
Quantagro · this is an automated message about your account; replies are not read.
"""

_LAYOUT = Template("""\
<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width">\
<title>$title</title></head>
<body style="margin:0;padding:0;background:#f4f5f7;font-family:Arial,Helvetica,sans-serif;\
color:#1f2933;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0">
<tr><td align="center" style="padding:24px 12px;">
<table role="presentation" width="560" cellpadding="0" cellspacing="0" \
style="max-width:560px;background:#ffffff;border-radius:8px;">
<tr><td style="padding:24px 32px 8px;font-size:20px;font-weight:bold;">Quantagro</td></tr>
<tr><td style="padding:8px 32px 24px;font-size:15px;line-height:1.5;">
$body
</td></tr>
<tr><td style="padding:16px 32px;font-size:12px;color:#6b7280;border-top:1px solid #e5e7eb;">
This is an automated message about your Quantagro account; replies are not read.
</td></tr>
</table>
</td></tr>
</table>
</body>
</html>
""")

_BUTTON = (
    '<p style="margin:24px 0;"><a href="$link" style="background:#1d4ed8;color:#ffffff;'
    'padding:12px 20px;border-radius:6px;text-decoration:none;display:inline-block;">'
)
_RAW_LINK = (
    '<p style="font-size:13px;color:#6b7280;">If the button does not work, copy this link '
    'into your browser:<br><a href="$link" style="color:#1d4ed8;word-break:break-all;">'
    "$link</a></p>"
)

TEMPLATES: Mapping[MailKind, MailTemplate] = {
    MailKind.EMAIL_VERIFICATION: MailTemplate(
        subject="Confirm your email address",
        text=Template("""\
Hello $name,

Please confirm the email address of your Quantagro account by opening this link:

$link

The link is valid for $valid_for and works once. If you did not create a Quantagro
account, you can ignore this email.
"""),
        html=Template(
            "<p>Hello $name,</p>"
            "<p>Please confirm the email address of your Quantagro account.</p>"
            + _BUTTON
            + "Confirm email address</a></p>"
            "<p>The link is valid for $valid_for and works once. If you did not create a "
            "Quantagro account, you can ignore this email.</p>" + _RAW_LINK
        ),
    ),
    MailKind.PASSWORD_RESET: MailTemplate(
        subject="Reset your Quantagro password",
        text=Template("""\
Hello $name,

Someone asked to reset the password of your Quantagro account. To choose a new
password, open this link:

$link

The link is valid for $valid_for and works once. If you did not ask for a password
reset, ignore this email: your password stays as it is.
"""),
        html=Template(
            "<p>Hello $name,</p>"
            "<p>Someone asked to reset the password of your Quantagro account. To choose a "
            "new password, use the button below.</p>" + _BUTTON + "Choose a new password</a></p>"
            "<p>The link is valid for $valid_for and works once. If you did not ask for a "
            "password reset, ignore this email: your password stays as it is.</p>" + _RAW_LINK
        ),
    ),
    MailKind.PASSWORD_CHANGED: MailTemplate(
        subject="Your Quantagro password was changed",
        text=Template("""\
Hello $name,

The password of your Quantagro account was changed on $when (IP address $ip).
Sessions on your other devices have been signed out.

If this was not you, reset your password at once: $forgot_link
"""),
        html=Template(
            "<p>Hello $name,</p>"
            "<p>The password of your Quantagro account was changed on $when "
            "(IP address $ip). Sessions on your other devices have been signed out.</p>"
            '<p>If this was not you, <a href="$forgot_link" style="color:#1d4ed8;">reset your '
            "password</a> at once.</p>"
        ),
    ),
    MailKind.MFA_ENABLED: MailTemplate(
        subject="Two-factor authentication is on",
        text=Template("""\
Hello $name,

Two-factor authentication was turned on for your Quantagro account on $when
(IP address $ip) with $factor. From now on, signing in needs your password and this
second factor. Keep your backup codes somewhere safe: they get you in if you lose
your device.

$signed_out

If this was not you, reset your password at once: $forgot_link
"""),
        html=Template(
            "<p>Hello $name,</p>"
            "<p>Two-factor authentication was turned on for your Quantagro account on $when "
            "(IP address $ip) with <strong>$factor</strong>. From now on, signing in needs "
            "your password and this second factor.</p>"
            "<p>Keep your backup codes somewhere safe: they get you in if you lose your "
            "device.</p>"
            "<p>$signed_out</p>"
            '<p>If this was not you, <a href="$forgot_link" style="color:#1d4ed8;">reset your '
            "password</a> at once.</p>"
        ),
    ),
    MailKind.MFA_DISABLED: MailTemplate(
        subject="Two-factor authentication was turned off",
        text=Template("""\
Hello $name,

Two-factor authentication was turned off for your Quantagro account on $when
(IP address $ip). Signing in now needs only your password.

$signed_out

If this was not you, reset your password at once ($forgot_link) and turn
two-factor authentication back on: $security_link
"""),
        html=Template(
            "<p>Hello $name,</p>"
            "<p>Two-factor authentication was turned off for your Quantagro account on "
            "$when (IP address $ip). Signing in now needs only your password.</p>"
            "<p>$signed_out</p>"
            '<p>If this was not you, <a href="$forgot_link" style="color:#1d4ed8;">reset your '
            'password</a> at once and <a href="$security_link" style="color:#1d4ed8;">turn '
            "two-factor authentication back on</a>.</p>"
        ),
    ),
    MailKind.BACKUP_CODES_REGENERATED: MailTemplate(
        subject="New backup codes for your Quantagro account",
        text=Template("""\
Hello $name,

New backup codes were created for your Quantagro account on $when (IP address $ip).
Your earlier backup codes no longer work.

$signed_out

If this was not you, reset your password at once ($forgot_link) and check your
two-factor settings: $security_link
"""),
        html=Template(
            "<p>Hello $name,</p>"
            "<p>New backup codes were created for your Quantagro account on $when "
            "(IP address $ip). Your earlier backup codes no longer work.</p>"
            "<p>$signed_out</p>"
            '<p>If this was not you, <a href="$forgot_link" style="color:#1d4ed8;">reset your '
            'password</a> at once and <a href="$security_link" style="color:#1d4ed8;">check '
            "your two-factor settings</a>.</p>"
        ),
    ),
    MailKind.MFA_FACTOR_ADDED: MailTemplate(
        subject="A sign-in method was added to your Quantagro account",
        text=Template("""\
Hello $name,

A second factor was added to your Quantagro account on $when (IP address $ip):
$factor. It can now be used to sign in and to confirm trading actions.

$signed_out

If this was not you, reset your password at once ($forgot_link) and remove it:
$security_link
"""),
        html=Template(
            "<p>Hello $name,</p>"
            "<p>A second factor was added to your Quantagro account on $when "
            "(IP address $ip): <strong>$factor</strong>. It can now be used to sign in and to "
            "confirm trading actions.</p>"
            "<p>$signed_out</p>"
            '<p>If this was not you, <a href="$forgot_link" style="color:#1d4ed8;">reset your '
            'password</a> at once and <a href="$security_link" style="color:#1d4ed8;">remove '
            "it</a>.</p>"
        ),
    ),
    MailKind.MFA_FACTOR_REMOVED: MailTemplate(
        subject="A sign-in method was removed from your Quantagro account",
        text=Template("""\
Hello $name,

A second factor was removed from your Quantagro account on $when (IP address $ip):
$factor. Two-factor authentication stays on with your other authenticators.

$signed_out

If this was not you, reset your password at once ($forgot_link) and check your
two-factor settings: $security_link
"""),
        html=Template(
            "<p>Hello $name,</p>"
            "<p>A second factor was removed from your Quantagro account on $when "
            "(IP address $ip): <strong>$factor</strong>. Two-factor authentication stays on "
            "with your other authenticators.</p>"
            "<p>$signed_out</p>"
            '<p>If this was not you, <a href="$forgot_link" style="color:#1d4ed8;">reset your '
            'password</a> at once and <a href="$security_link" style="color:#1d4ed8;">check '
            "your two-factor settings</a>.</p>"
        ),
    ),
    MailKind.MFA_FACTOR_RENAMED: MailTemplate(
        subject="A sign-in method of your Quantagro account was renamed",
        text=Template("""\
Hello $name,

A second factor of your Quantagro account was renamed on $when (IP address $ip):
$factor is now called “$new_name”. How you sign in has not changed.

If this was not you, someone is signed in to your account: reset your password at once
($forgot_link) and check your two-factor settings: $security_link
"""),
        html=Template(
            "<p>Hello $name,</p>"
            "<p>A second factor of your Quantagro account was renamed on $when "
            "(IP address $ip): <strong>$factor</strong> is now called "
            "<strong>“$new_name”</strong>. How you sign in has not changed.</p>"
            "<p>If this was not you, someone is signed in to your account: "
            '<a href="$forgot_link" style="color:#1d4ed8;">reset your password</a> at once '
            'and <a href="$security_link" style="color:#1d4ed8;">check your two-factor '
            "settings</a>.</p>"
        ),
    ),
    MailKind.BACKUP_CODES_LOW: MailTemplate(
        subject="You are running out of backup codes",
        text=Template("""\
Hello $name,

A backup code was used to confirm a sign-in or action on your Quantagro account on
$when (IP address $ip). You have $remaining left. Create a new set before you run
out: $security_link

If this was not you, reset your password at once: $forgot_link
"""),
        html=Template(
            "<p>Hello $name,</p>"
            "<p>A backup code was used on your Quantagro account on $when (IP address $ip). "
            "You have <strong>$remaining</strong> left. "
            '<a href="$security_link" style="color:#1d4ed8;">Create a new set</a> before you '
            "run out.</p>"
            '<p>If this was not you, <a href="$forgot_link" style="color:#1d4ed8;">reset your '
            "password</a> at once.</p>"
        ),
    ),
    MailKind.NEW_SIGN_IN: MailTemplate(
        subject="New sign-in to your Quantagro account",
        text=Template("""\
Hello $name,

Your Quantagro account was signed in to on $when from $device (IP address $ip).

If this was you, there is nothing to do. If not, reset your password at once
($forgot_link) and review your sessions: $sessions_link

Was this not you, or was your phone stolen? Freeze your account: every device is signed
out and all trading stops until you unfreeze it. This link works once, for $freeze_valid_for:
$freeze_link
"""),
        html=Template(
            "<p>Hello $name,</p>"
            "<p>Your Quantagro account was signed in to on $when from $device "
            "(IP address $ip).</p>"
            "<p>If this was you, there is nothing to do. If not, "
            '<a href="$forgot_link" style="color:#1d4ed8;">reset your password</a> at once '
            'and <a href="$sessions_link" style="color:#1d4ed8;">review your sessions</a>.</p>'
            "<p>Was this not you, or was your phone stolen? Freeze your account: every device "
            "is signed out and all trading stops until you unfreeze it.</p>"
            + _BUTTON.replace("$link", "$freeze_link")
            + "Freeze my account</a></p><p>The button works once, for $freeze_valid_for.</p>"
        ),
    ),
    MailKind.ACCOUNT_FROZEN: MailTemplate(
        subject="Your Quantagro account is frozen",
        text=Template("""Hello $name,

Your Quantagro account was frozen on $when ($how). Every device was signed out
($signed_out) and no trading happens on your trading accounts, including by people you
share them with, until the account is unfrozen.

To unfreeze it, sign in and open Security: $security_link
You will need your password and your authenticator app or a backup code.

If you did not ask for this, reset your password: $forgot_link
"""),
        html=Template(
            "<p>Hello $name,</p>"
            "<p>Your Quantagro account was frozen on $when ($how). Every device was signed "
            "out ($signed_out) and no trading happens on your trading accounts, including by "
            "people you share them with, until the account is unfrozen.</p>"
            '<p>To unfreeze it, sign in and open <a href="$security_link" '
            'style="color:#1d4ed8;">Security</a>. You will need your password and your '
            "authenticator app or a backup code.</p>"
            '<p>If you did not ask for this, <a href="$forgot_link" style="color:#1d4ed8;">'
            "reset your password</a>.</p>"
        ),
    ),
    MailKind.ACCOUNT_UNFROZEN: MailTemplate(
        subject="Your Quantagro account is unfrozen",
        text=Template("""Hello $name,

Your Quantagro account was unfrozen on $when ($how). Trading on your accounts is possible
again.

If this was not you, freeze it again at once from Security ($security_link) and reset your
password: $forgot_link
"""),
        html=Template(
            "<p>Hello $name,</p>"
            "<p>Your Quantagro account was unfrozen on $when ($how). Trading on your accounts "
            "is possible again.</p>"
            '<p>If this was not you, freeze it again at once from <a href="$security_link" '
            'style="color:#1d4ed8;">Security</a> and <a href="$forgot_link" '
            'style="color:#1d4ed8;">reset your password</a>.</p>'
        ),
    ),
    MailKind.UNFREEZE_CONFIRMATION: MailTemplate(
        subject="Confirm: unfreeze your Quantagro account",
        text=Template("""Hello $name,

Someone signed in to your account and asked to unfreeze it on $when (IP address $ip).
If it was you, open this link while signed in; it works once, for $valid_for:
$link

If it was not you, do not open the link: your account stays frozen. Reset your password:
$forgot_link
"""),
        html=Template(
            (
                "<p>Hello $name,</p>"
                "<p>Someone signed in to your account and asked to unfreeze it on $when "
                "(IP address $ip). If it was you, open this link while signed in; it works "
                "once, for $valid_for.</p>"
            )
            + _BUTTON
            + (
                "Unfreeze my account</a></p>"
                "<p>If it was not you, do not open the link: your account stays frozen. "
                '<a href="$forgot_link" style="color:#1d4ed8;">Reset your password</a>.</p>'
            )
        ),
    ),
    MailKind.RISKY_SIGN_IN_REFUSED: MailTemplate(
        subject="We stopped a sign-in to your Quantagro account",
        text=Template("""\
Hello $name,

Someone signed in to your Quantagro account with the right password on $when from
$device (IP address $ip). It looked unusual, and your account has no second factor, so
we did not let it in.

If this was you, sign in from a device you have used before and turn on two-factor
authentication: $security_link

If this was not you, your password is known to someone else: reset it at once:
$forgot_link
"""),
        html=Template(
            "<p>Hello $name,</p>"
            "<p>Someone signed in to your Quantagro account with the right password on $when "
            "from $device (IP address $ip). It looked unusual, and your account has no second "
            "factor, so we did not let it in.</p>"
            "<p>If this was you, sign in from a device you have used before and <a "
            'href="$security_link" style="color:#1d4ed8;">turn on two-factor '
            "authentication</a>.</p>"
            "<p>If this was not you, your password is known to someone else: <a "
            'href="$forgot_link" style="color:#1d4ed8;">reset it at once</a>.</p>'
        ),
    ),
    MailKind.IDENTITY_LINKED: MailTemplate(
        subject="A sign-in account was linked to your Quantagro account",
        text=Template("""\
Hello $name,

The $provider account $account was linked to your Quantagro account on $when
(IP address $ip): it can now be used to sign in. You can see and unlink it under
Security: $security_link

If this was not you, unlink it there and reset your password at once: $forgot_link
"""),
        html=Template(
            "<p>Hello $name,</p>"
            "<p>The $provider account <strong>$account</strong> was linked to your Quantagro "
            "account on $when (IP address $ip): it can now be used to sign in. You can see "
            'and unlink it under <a href="$security_link" style="color:#1d4ed8;">Security</a>.'
            "</p>"
            '<p>If this was not you, unlink it there and <a href="$forgot_link" '
            'style="color:#1d4ed8;">reset your password</a> at once.</p>'
        ),
    ),
    MailKind.IDENTITY_UNLINKED: MailTemplate(
        subject="A sign-in account was unlinked from your Quantagro account",
        text=Template("""\
Hello $name,

The $provider account $account was unlinked from your Quantagro account on $when
(IP address $ip): it can no longer be used to sign in.

If this was not you, someone is signed in to your account: review your sessions under
Security ($security_link) and reset your password: $forgot_link
"""),
        html=Template(
            "<p>Hello $name,</p>"
            "<p>The $provider account <strong>$account</strong> was unlinked from your "
            "Quantagro account on $when (IP address $ip): it can no longer be used to sign in."
            "</p>"
            "<p>If this was not you, someone is signed in to your account: review your "
            '<a href="$security_link" style="color:#1d4ed8;">sessions and security</a> and '
            '<a href="$forgot_link" style="color:#1d4ed8;">reset your password</a>.</p>'
        ),
    ),
}


def render(kind: MailKind, *, to: str, sender: str, **context: str) -> EmailMessage:
    """Build a ``multipart/alternative`` message (text first, then HTML) for ``kind``.

    ``sender`` is the configured ``MAIL_FROM``. Every placeholder of the template must be in
    ``context``; a missing one is a programming error and raises ``KeyError`` naming it (the
    values themselves are never put in the error, as they may hold a token).
    """
    template = TEMPLATES[kind]
    text = template.text.substitute(context) + _TEXT_FOOTER
    escaped = {key: html.escape(value, quote=True) for key, value in context.items()}
    body = template.html.substitute(escaped)
    page = _LAYOUT.substitute(title=html.escape(template.subject), body=body)

    message = EmailMessage()
    message["Subject"] = template.subject
    message["From"] = sender
    message["To"] = to
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=_domain_of(sender))
    # RFC 3834: tells auto-responders not to answer.
    message["Auto-Submitted"] = "auto-generated"
    message[KIND_HEADER] = kind.value
    message.set_content(text)
    message.add_alternative(page, subtype="html")
    return message


def _domain_of(sender: str) -> str:
    """Domain for Message-ID from the sender (never ``getfqdn()``, which may block on DNS)."""
    address = parseaddr(sender)[1]
    try:
        domain = Address(addr_spec=address).domain if address else ""
    except (ValueError, IndexError):
        domain = ""
    return domain or _FALLBACK_DOMAIN
