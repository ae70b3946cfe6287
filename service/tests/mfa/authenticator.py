"""A software WebAuthn authenticator for tests: EC P-256 keys, ``none`` attestation.

It answers the options the service sends the way a browser plus a platform authenticator
would (W3C WebAuthn §6.1 authenticator data, §6.5 attestation objects, §5.8.1 client data),
so the service's verification runs for real. Knobs let a test send what an attacker would:
another origin, another RP id, a counter that goes backwards, no user verification.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

FLAG_UP = 0x01
FLAG_UV = 0x04
FLAG_BE = 0x08
FLAG_BS = 0x10
FLAG_AT = 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Credential:
    credential_id: bytes
    key: ec.EllipticCurvePrivateKey
    user_handle: bytes
    rp_id: str
    sign_count: int = 0

    def cose_public_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,  # kty: EC2
                3: -7,  # alg: ES256
                -1: 1,  # crv: P-256
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )


@dataclass
class SoftAuthenticator:
    origin: str = "http://testserver"
    credentials: dict[bytes, Credential] = field(default_factory=dict)
    # Counter step per assertion (0: a counter-less authenticator, like many passkeys).
    counter_step: int = 1

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": origin or self.origin},
            separators=(",", ":"),
        ).encode()

    def create(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        user_verified: bool = True,
    ) -> dict[str, Any]:
        """``navigator.credentials.create``: a new discoverable credential."""
        rp = rp_id or options["rp"]["id"]
        credential = Credential(
            credential_id=os.urandom(16),
            key=ec.generate_private_key(ec.SECP256R1()),
            user_handle=unb64url(options["user"]["id"]),
            rp_id=rp,
        )
        self.credentials[credential.credential_id] = credential
        flags = FLAG_UP | FLAG_AT | FLAG_BE | FLAG_BS | (FLAG_UV if user_verified else 0)
        attested = (
            bytes(16)  # AAGUID
            + struct.pack(">H", len(credential.credential_id))
            + credential.credential_id
            + credential.cose_public_key()
        )
        auth_data = (
            hashlib.sha256(rp.encode()).digest()
            + bytes([flags])
            + struct.pack(">I", credential.sign_count)
            + attested
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        return {
            "id": b64url(credential.credential_id),
            "rawId": b64url(credential.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def get(
        self,
        options: dict[str, Any],
        *,
        credential_id: bytes | None = None,
        origin: str | None = None,
        rp_id: str | None = None,
        sign_count: int | None = None,
        user_verified: bool = True,
    ) -> dict[str, Any]:
        """``navigator.credentials.get``: an assertion by ``credential_id`` (default: the only
        or first allowed credential)."""
        if credential_id is None:
            allowed = [unb64url(c["id"]) for c in options.get("allowCredentials") or []]
            candidates = [cid for cid in self.credentials if not allowed or cid in allowed]
            credential_id = candidates[0]
        credential = self.credentials[credential_id]
        credential.sign_count = (
            sign_count if sign_count is not None else credential.sign_count + self.counter_step
        )
        rp = rp_id or options.get("rpId") or credential.rp_id
        flags = FLAG_UP | FLAG_BE | FLAG_BS | (FLAG_UV if user_verified else 0)
        auth_data = (
            hashlib.sha256(rp.encode()).digest()
            + bytes([flags])
            + struct.pack(">I", credential.sign_count)
        )
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signature = credential.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return {
            "id": b64url(credential_id),
            "rawId": b64url(credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(credential.user_handle),
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }
