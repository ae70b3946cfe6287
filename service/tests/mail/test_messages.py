from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from urllib.parse import parse_qs, urlparse

import pytest

from tests.standins.smtp import extract_link
from user_service.mail import messages
from user_service.mail.templates import KIND_HEADER, TEMPLATES, MailKind, render

SENDER = "Quantagro <no-reply@quantagro.example>"
TO = "alice@example.com"
FRONTEND = "https://app.quantagro.example/"
WHEN = datetime(2025, 6, 1, 9, 30, tzinfo=UTC)
HOSTILE_NAME = '<script>alert("x")</script> & Co'


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert isinstance(text, EmailMessage) and isinstance(html, EmailMessage)
    return text.get_content(), html.get_content()


BUILDERS: dict[MailKind, Callable[[], EmailMessage]] = {
    MailKind.EMAIL_VERIFICATION: lambda: messages.email_verification(
        to=TO, sender=SENDER, frontend_url=FRONTEND, token="tok", name=HOSTILE_NAME
    ),
    MailKind.PASSWORD_RESET: lambda: messages.password_reset(
        to=TO, sender=SENDER, frontend_url=FRONTEND, token="tok", name=HOSTILE_NAME
    ),
    MailKind.BACKUP_CODES_LOW: lambda: messages.backup_codes_low(
        to=TO,
        sender=SENDER,
        frontend_url=FRONTEND,
        when=WHEN,
        remaining=2,
        ip="203.0.113.x",
        name=HOSTILE_NAME,
    ),
    MailKind.PASSWORD_CHANGED: lambda: messages.password_changed(
        to=TO, sender=SENDER, frontend_url=FRONTEND, when=WHEN, ip="203.0.113.x", name=HOSTILE_NAME
    ),
    **{
        kind: (
            lambda kind=kind: messages.mfa_changed(
                kind,
                to=TO,
                sender=SENDER,
                frontend_url=FRONTEND,
                when=WHEN,
                sessions_revoked=2,
                ip="203.0.113.x",
                name=HOSTILE_NAME,
            )
        )
        for kind in (
            MailKind.MFA_ENABLED,
            MailKind.MFA_DISABLED,
            MailKind.MFA_FACTOR_ADDED,
            MailKind.MFA_FACTOR_REMOVED,
            MailKind.BACKUP_CODES_REGENERATED,
        )
    },
    MailKind.NEW_SIGN_IN: lambda: messages.new_sign_in(
        to=TO,
        sender=SENDER,
        frontend_url=FRONTEND,
        when=WHEN,
        ip="203.0.113.x",
        device="Firefox on <Linux>",
        name=HOSTILE_NAME,
        freeze_token="qfz_tok",
    ),
    MailKind.ACCOUNT_FROZEN: lambda: messages.account_frozen(
        to=TO,
        sender=SENDER,
        frontend_url=FRONTEND,
        when=WHEN,
        how="from Security",
        sessions_revoked=2,
        name=HOSTILE_NAME,
    ),
    MailKind.ACCOUNT_UNFROZEN: lambda: messages.account_unfrozen(
        to=TO, sender=SENDER, frontend_url=FRONTEND, when=WHEN, how="by you", name=HOSTILE_NAME
    ),
    MailKind.UNFREEZE_CONFIRMATION: lambda: messages.unfreeze_confirmation(
        to=TO, sender=SENDER, frontend_url=FRONTEND, token="quf_tok", when=WHEN, name=HOSTILE_NAME
    ),
    **{
        kind: (
            lambda kind=kind: messages.identity_changed(
                kind,
                to=TO,
                sender=SENDER,
                frontend_url=FRONTEND,
                when=WHEN,
                provider="Google",
                account="<b>x@example.com</b>",
                ip="203.0.113.x",
                name=HOSTILE_NAME,
            )
        )
        for kind in (MailKind.IDENTITY_LINKED, MailKind.IDENTITY_UNLINKED)
    },
    MailKind.MFA_FACTOR_RENAMED: lambda: messages.mfa_factor_renamed(
        to=TO,
        sender=SENDER,
        frontend_url=FRONTEND,
        when=WHEN,
        factor="authenticator app “<i>phone</i>”",
        new_name="<b>old phone</b>",
        ip="203.0.113.x",
        name=HOSTILE_NAME,
    ),
    MailKind.RISKY_SIGN_IN_REFUSED: lambda: messages.risky_sign_in_refused(
        to=TO,
        sender=SENDER,
        frontend_url=FRONTEND,
        when=WHEN,
        ip="203.0.113.x",
        device="Firefox on <Linux> in GB",
        name=HOSTILE_NAME,
    ),
}


def test_every_template_has_a_builder() -> None:
    assert set(BUILDERS) == set(MailKind) == set(TEMPLATES)


@pytest.mark.parametrize("kind", list(MailKind))
def test_every_message_is_multipart_alternative_with_headers(kind: MailKind) -> None:
    message = BUILDERS[kind]()
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["From"] == SENDER
    assert message["To"] == TO
    assert message["Subject"] == TEMPLATES[kind].subject
    assert message["Message-ID"].endswith("@quantagro.example>")
    assert message["Date"]
    assert message["Auto-Submitted"] == "auto-generated"
    assert message[KIND_HEADER] == kind.value


@pytest.mark.parametrize("kind", list(MailKind))
def test_user_values_are_escaped_in_html_and_kept_verbatim_in_text(kind: MailKind) -> None:
    text, html = parts(BUILDERS[kind]())
    assert HOSTILE_NAME in text
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co" in html


def test_verification_email_links_to_verify_email_with_the_token_and_says_24_hours() -> None:
    message = messages.email_verification(
        to=TO, sender=SENDER, frontend_url=FRONTEND, token="abc.DEF_123-xyz"
    )
    text, html = parts(message)
    link = "https://app.quantagro.example/verify-email?token=abc.DEF_123-xyz"
    assert link in text
    assert f'href="{link}"' in html
    assert "24 hours" in text and "24 hours" in html
    assert "Hello there," in text
    assert extract_link(message, "/verify-email") == link


def test_reset_email_links_to_reset_password_valid_30_minutes_with_ignore_advice() -> None:
    message = messages.password_reset(to=TO, sender=SENDER, frontend_url=FRONTEND, token="t0k")
    text, html = parts(message)
    link = "https://app.quantagro.example/reset-password?token=t0k"
    assert link in text and link in html
    assert "30 minutes" in text and "30 minutes" in html
    assert "did not ask" in text and "ignore this email" in text
    assert "ignore this email" in html


def test_token_is_url_encoded_in_the_link() -> None:
    token = "a+b/c=d&e f"
    message = messages.password_reset(to=TO, sender=SENDER, frontend_url=FRONTEND, token=token)
    link = extract_link(message, "/reset-password")
    assert parse_qs(urlparse(link).query) == {"token": [token]}
    _, html = parts(message)
    assert "&amp;" not in link
    assert "token=a%2Bb%2Fc%3Dd%26e+f" in html


def test_token_never_appears_in_a_header() -> None:
    message = messages.password_reset(to=TO, sender=SENDER, frontend_url=FRONTEND, token="SeCrEt")
    assert all("SeCrEt" not in str(value) for value in message.values())


def test_custom_validity_is_spelled_out() -> None:
    message = messages.password_reset(
        to=TO, sender=SENDER, frontend_url=FRONTEND, token="t", valid_for=timedelta(hours=1)
    )
    assert "valid for 1 hour " in parts(message)[0]


def test_notices_carry_time_ip_and_recovery_links() -> None:
    text, html = parts(BUILDERS[MailKind.MFA_DISABLED]())
    assert "01 Jun 2025 at 09:30 UTC" in text
    assert "203.0.113.x" in text
    assert "https://app.quantagro.example/forgot-password" in text
    assert 'href="https://app.quantagro.example/security"' in html


def test_notice_without_ip_says_unknown() -> None:
    message = messages.password_changed(to=TO, sender=SENDER, frontend_url=FRONTEND, when=WHEN)
    assert "IP address unknown" in parts(message)[0]


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        messages.mfa_changed(
            MailKind.MFA_ENABLED,
            to=TO,
            sender=SENDER,
            frontend_url=FRONTEND,
            when=datetime(2025, 1, 1),
            sessions_revoked=0,
        )


@pytest.mark.parametrize(
    "kind", [MailKind.MFA_ENABLED, MailKind.MFA_DISABLED, MailKind.BACKUP_CODES_REGENERATED]
)
def test_second_factor_notices_say_how_many_devices_were_signed_out(kind: MailKind) -> None:
    message = messages.mfa_changed(
        kind, to=TO, sender=SENDER, frontend_url=FRONTEND, when=WHEN, sessions_revoked=2
    )
    assert "signed you out on your other devices (2)" in parts(message)[0]


def test_the_mfa_on_notice_names_the_factor_it_was_turned_on_with() -> None:
    message = messages.mfa_changed(
        MailKind.MFA_ENABLED,
        to=TO,
        sender=SENDER,
        frontend_url=FRONTEND,
        when=WHEN,
        sessions_revoked=0,
        factor="passkey “YubiKey”",
    )
    text, html = parts(message)
    assert "with passkey “YubiKey”" in text
    assert "authenticator app" not in text  # a passkey user has no app
    assert "<strong>passkey “YubiKey”</strong>" in html


def test_the_rename_notice_says_old_and_new_name_and_how_to_react() -> None:
    text, html = parts(BUILDERS[MailKind.MFA_FACTOR_RENAMED]())
    assert "authenticator app “<i>phone</i>” is now called “<b>old phone</b>”" in text
    assert "&lt;b&gt;old phone&lt;/b&gt;" in html and "<b>old phone" not in html
    assert "https://app.quantagro.example/forgot-password" in text
    assert 'href="https://app.quantagro.example/security"' in html


def test_render_names_a_missing_placeholder() -> None:
    with pytest.raises(KeyError, match="valid_for"):
        render(MailKind.PASSWORD_RESET, to=TO, sender=SENDER, name="x", link="https://x/")


def test_header_injection_through_the_recipient_is_refused() -> None:
    with pytest.raises(ValueError):
        messages.password_reset(
            to="a@example.com\r\nBcc: b@example.com",
            sender=SENDER,
            frontend_url=FRONTEND,
            token="t",
        )


def test_message_id_falls_back_when_the_sender_has_no_domain() -> None:
    message = messages.password_reset(to=TO, sender="no-reply", frontend_url=FRONTEND, token="t")
    assert message["Message-ID"].endswith("@quantagro.invalid>")


def test_new_sign_in_email_carries_a_single_use_freeze_link() -> None:
    message = messages.new_sign_in(
        to=TO, sender=SENDER, frontend_url=FRONTEND, when=WHEN, freeze_token="qfz_abc"
    )
    text, html = parts(message)
    link = "https://app.quantagro.example/freeze?token=qfz_abc"
    assert link in text and f'href="{link}"' in html
    assert "7 days" in text and "Freeze my account" in html
    assert extract_link(message, "/freeze") == link


def test_unfreeze_confirmation_links_to_unfreeze_valid_30_minutes() -> None:
    message = messages.unfreeze_confirmation(
        to=TO, sender=SENDER, frontend_url=FRONTEND, token="quf_x", when=WHEN
    )
    text, _ = parts(message)
    assert "https://app.quantagro.example/unfreeze?token=quf_x" in text
    assert "30 minutes" in text


def test_refused_risky_sign_in_email_points_to_two_factor_setup_and_reset() -> None:
    text, _ = parts(BUILDERS[MailKind.RISKY_SIGN_IN_REFUSED]())
    assert "we did not let it in" in text and "203.0.113.x" in text
    assert "https://app.quantagro.example/security" in text
    assert "https://app.quantagro.example/forgot-password" in text
