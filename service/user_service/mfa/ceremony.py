"""WebAuthn ceremonies (W3C Web Authentication Level 2) on top of ``webauthn`` (py_webauthn).

Pure building blocks: options for the browser, and verification of what it sends back. The
passkey service stores the challenges and credentials. Choices:

* **Relying party** from configuration: ``WEBAUTHN_RP_ID`` (default FRONTEND_URL's host) and
  the expected origins (``WEBAUTHN_ORIGINS``, default FRONTEND_URL's and PUBLIC_URL's), never
  from the request (§7.1 steps 9 and 13, §7.2 steps 13 and 15).
* **Discoverable credentials with user verification** (``residentKey: required``,
  ``userVerification: required``): one credential serves as passwordless sign-in and as a
  second factor, and the UV flag makes it two factors in one (possession + PIN/biometric).
* **No attestation** (``none``): the service does not restrict authenticator makers.
* **Signature counter** (§6.1.1): checked here, not by the library, so that a counter that
  went backwards can be told apart (a cloned authenticator) from other failures.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from user_service.config import Settings

_PARSE_ERRORS = (WebAuthnException, ValueError, KeyError, TypeError, AttributeError)
_KNOWN_TRANSPORTS = {t.value for t in AuthenticatorTransport}


class CeremonyFailed(Exception):
    """The browser's response does not verify (wrong origin, RP id, challenge, signature…)."""


class CounterWentBack(Exception):
    """The signature counter did not grow: a cloned authenticator (W3C WebAuthn §6.1.1)."""


@dataclass(frozen=True)
class RegisteredCredential:
    credential_id: bytes
    public_key: bytes
    sign_count: int
    aaguid: str
    user_verified: bool
    backup_eligible: bool
    backed_up: bool
    transports: list[str]


@dataclass(frozen=True)
class Assertion:
    new_sign_count: int
    user_verified: bool
    backed_up: bool


def _descriptor(credential_id: bytes, transports: list[str]) -> PublicKeyCredentialDescriptor:
    return PublicKeyCredentialDescriptor(
        id=credential_id,
        transports=[AuthenticatorTransport(t) for t in transports if t in _KNOWN_TRANSPORTS],
    )


def _timeout_ms(settings: Settings) -> int:
    return settings.webauthn_challenge_ttl_seconds * 1000


def registration_options(
    settings: Settings,
    *,
    challenge: bytes,
    user_handle: bytes,
    user_name: str,
    display_name: str,
    existing: list[tuple[bytes, list[str]]],
) -> dict[str, Any]:
    """``PublicKeyCredentialCreationOptionsJSON`` for ``navigator.credentials.create``."""
    options = generate_registration_options(
        rp_id=settings.webauthn_rp,
        rp_name=settings.webauthn_rp_name,
        user_id=user_handle,
        user_name=user_name,
        user_display_name=display_name,
        challenge=challenge,
        timeout=_timeout_ms(settings),
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            require_resident_key=True,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[_descriptor(cid, transports) for cid, transports in existing],
    )
    result: dict[str, Any] = json.loads(options_to_json(options))
    return result


def authentication_options(
    settings: Settings, *, challenge: bytes, allowed: list[tuple[bytes, list[str]]]
) -> dict[str, Any]:
    """``PublicKeyCredentialRequestOptionsJSON``; an empty ``allowed`` asks for a
    discoverable credential (the passwordless ceremony)."""
    options = generate_authentication_options(
        rp_id=settings.webauthn_rp,
        challenge=challenge,
        timeout=_timeout_ms(settings),
        allow_credentials=[_descriptor(cid, transports) for cid, transports in allowed],
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    result: dict[str, Any] = json.loads(options_to_json(options))
    return result


def verify_registration(
    settings: Settings, credential: dict[str, Any], challenge: bytes
) -> RegisteredCredential:
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=settings.webauthn_rp,
            expected_origin=settings.webauthn_expected_origins,
            require_user_verification=True,
        )
    except _PARSE_ERRORS as exc:
        raise CeremonyFailed(str(exc)) from exc
    response = credential.get("response")
    raw_transports = response.get("transports") if isinstance(response, dict) else None
    transports = [
        t for t in (raw_transports or []) if isinstance(t, str) and t in _KNOWN_TRANSPORTS
    ]
    return RegisteredCredential(
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        aaguid=verified.aaguid,
        user_verified=verified.user_verified,
        backup_eligible=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
        backed_up=verified.credential_backed_up,
        transports=transports,
    )


def credential_id_of(credential: dict[str, Any]) -> bytes:
    """The credential id an assertion names (``rawId``), to find the stored passkey."""
    try:
        raw = credential["rawId"]
        if not isinstance(raw, str) or not raw or len(raw) > 1400:
            raise ValueError("rawId")
        return base64url_to_bytes(raw)
    except _PARSE_ERRORS as exc:
        raise CeremonyFailed("The credential has no valid id.") from exc


def user_handle_of(credential: dict[str, Any]) -> bytes | None:
    response = credential.get("response")
    handle = response.get("userHandle") if isinstance(response, dict) else None
    if not handle or not isinstance(handle, str):
        return None
    try:
        return base64url_to_bytes(handle)
    except _PARSE_ERRORS as exc:
        raise CeremonyFailed("The user handle is not valid.") from exc


def verify_assertion(
    settings: Settings,
    credential: dict[str, Any],
    challenge: bytes,
    *,
    public_key: bytes,
    stored_sign_count: int,
) -> Assertion:
    """Verify an assertion; then the counter rule: when either counter is non-zero, the new
    one must be greater than the stored one, else :class:`CounterWentBack`."""
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=settings.webauthn_rp,
            expected_origin=settings.webauthn_expected_origins,
            credential_public_key=public_key,
            credential_current_sign_count=0,  # the counter rule is applied below
            require_user_verification=True,
        )
    except _PARSE_ERRORS as exc:
        raise CeremonyFailed(str(exc)) from exc
    new = verified.new_sign_count
    if (new > 0 or stored_sign_count > 0) and new <= stored_sign_count:
        raise CounterWentBack(f"counter {new} after {stored_sign_count}")
    return Assertion(
        new_sign_count=new,
        user_verified=verified.user_verified,
        backed_up=verified.credential_backed_up,
    )


def encode_id(value: bytes) -> str:
    return bytes_to_base64url(value)
