from collections.abc import Iterator
from typing import Any

import pytest

from tests.identities.support import Provider
from tests.standins.oidc import OidcStandinState, running_oidc_standin


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def oidc_standin() -> Iterator[tuple[str, OidcStandinState]]:
    """One OIDC provider stand-in on 127.0.0.1 for the session; tests register clients."""
    with running_oidc_standin() as running:
        yield running


@pytest.fixture
def provider(oidc_standin: tuple[str, OidcStandinState]) -> Iterator[Provider]:
    issuer, state = oidc_standin
    client_id = state.register_client()
    state.tamper = {}
    yield Provider(issuer=issuer, state=state, client_id=client_id)
    state.tamper = {}


@pytest.fixture
def settings_overrides(provider: Provider) -> dict[str, Any]:
    return {
        "oidc_google_issuer": provider.issuer,
        "oidc_google_client_id": provider.client_id,
        "oidc_google_client_secret": provider.state.clients[provider.client_id],
    }
