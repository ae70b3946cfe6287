from collections.abc import Iterator

import pytest

from tests.standins.kite import KiteApp, KiteStandinState, running_kite_standin


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def kite_standin() -> Iterator[tuple[str, KiteStandinState]]:
    """One Kite stand-in on 127.0.0.1 for the session; tests register their own apps."""
    with running_kite_standin() as running:
        yield running


@pytest.fixture
def kite_url(kite_standin: tuple[str, KiteStandinState]) -> str:
    return kite_standin[0]


@pytest.fixture
def kite_state(kite_standin: tuple[str, KiteStandinState]) -> Iterator[KiteStandinState]:
    state = kite_standin[1]
    state.reset_faults()
    yield state
    state.reset_faults()


@pytest.fixture
def kite_app(kite_state: KiteStandinState) -> KiteApp:
    """A freshly registered Kite Connect app with its own keys and broker user id."""
    return kite_state.register_app()
