from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from support import SigningKey


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def keys() -> list[SigningKey]:
    """Three RSA-2048 keys, generated once: [current, next, attacker]."""
    return [
        SigningKey(kid, rsa.generate_private_key(public_exponent=65537, key_size=2048))
        for kid in ("key-2026-01", "key-2026-02", "attacker-key")
    ]


@pytest.fixture
def key(keys: list[SigningKey]) -> SigningKey:
    return keys[0]
