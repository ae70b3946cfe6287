import base64
import json
import os
import stat
from pathlib import Path

import pytest

from tests.fixtures.sealed_blobs import data_key_of, layout
from user_service.kms import (
    DecryptionError,
    KeyProvider,
    KeyProviderError,
    LocalKeyProvider,
    WrappedKey,
    open_json,
    open_sealed,
    rewrap,
    row_aad,
    seal,
    seal_json,
    sealed_key_id,
)

pytestmark = pytest.mark.anyio

SECRET = b"api_secret=s3cr3t-value-that-must-not-leak"


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return tmp_path / "kms" / "master.key"


@pytest.fixture
def provider(key_file: Path) -> LocalKeyProvider:
    return LocalKeyProvider.create(key_file, reload_interval=0)


def flip(blob: bytes, index: int) -> bytes:
    data = bytearray(blob)
    data[index] ^= 0x01
    return bytes(data)


# --- envelope ---------------------------------------------------------------------------------


async def test_sealed_value_round_trips(provider: LocalKeyProvider) -> None:
    blob = await seal(provider, SECRET, b"trading_account:1")
    assert SECRET not in blob
    assert await open_sealed(provider, blob, b"trading_account:1") == SECRET
    assert sealed_key_id(blob) == provider.current_key_id()


async def test_local_provider_satisfies_the_protocol(provider: LocalKeyProvider) -> None:
    assert isinstance(provider, KeyProvider)
    assert provider.name == "local"


async def test_every_seal_uses_a_fresh_data_key_and_nonce(provider: LocalKeyProvider) -> None:
    first = await seal(provider, SECRET, b"a")
    second = await seal(provider, SECRET, b"a")
    first_key, second_key = await data_key_of(provider, first), await data_key_of(provider, second)
    assert len(first_key) == len(second_key) == 32
    assert first_key != second_key
    nonce = slice(layout(first)["nonce"], layout(first)["ciphertext"])
    assert first[nonce] != second[nonce]


async def test_empty_plaintext_round_trips(provider: LocalKeyProvider) -> None:
    blob = await seal(provider, b"", b"x")
    assert await open_sealed(provider, blob, b"x") == b""


@pytest.mark.parametrize("part", ["wrapped", "nonce", "ciphertext"])
async def test_tampered_blob_fails_to_open(provider: LocalKeyProvider, part: str) -> None:
    blob = await seal(provider, SECRET, b"row-1")
    with pytest.raises(DecryptionError) as caught:
        await open_sealed(provider, flip(blob, layout(blob)[part]), b"row-1")
    assert SECRET.decode() not in str(caught.value)


async def test_tampered_tag_fails_to_open(provider: LocalKeyProvider) -> None:
    blob = await seal(provider, SECRET, b"row-1")
    with pytest.raises(DecryptionError):
        await open_sealed(provider, flip(blob, len(blob) - 1), b"row-1")


async def test_ciphertext_copied_to_another_row_fails(provider: LocalKeyProvider) -> None:
    """The row id is the associated data: a row swap must not decrypt (docs/api.md §3)."""
    blob = await seal(provider, SECRET, row_aad("trading_account", 1))
    with pytest.raises(DecryptionError):
        await open_sealed(provider, blob, row_aad("trading_account", 2))
    with pytest.raises(DecryptionError):
        await open_sealed(provider, blob, row_aad("totp_secret", 1))


async def test_wrapped_key_from_another_blob_fails(provider: LocalKeyProvider) -> None:
    one = await seal(provider, SECRET, b"r")
    two = await seal(provider, b"other", b"r")
    lo, hi = layout(one)["wrapped"], layout(one)["nonce"]
    spliced = one[:lo] + two[lo:hi] + one[hi:]
    with pytest.raises(DecryptionError):
        await open_sealed(provider, spliced, b"r")


@pytest.mark.parametrize(
    "blob", [b"", b"\x01", b"\x02" + b"\x00" * 80, b"\x01\x00\x05abc", b"\x01\x00\x00"]
)
async def test_malformed_blob_is_a_clean_decryption_error(
    provider: LocalKeyProvider, blob: bytes
) -> None:
    with pytest.raises(DecryptionError):
        await open_sealed(provider, blob, b"r")
    with pytest.raises(DecryptionError):
        sealed_key_id(blob)


async def test_unknown_master_key_id_is_a_decryption_error(
    provider: LocalKeyProvider, tmp_path: Path
) -> None:
    blob = await seal(provider, SECRET, b"r")
    stranger = LocalKeyProvider.create(tmp_path / "other.key")
    with pytest.raises(DecryptionError, match="not in the key ring"):
        await open_sealed(stranger, blob, b"r")


async def test_json_helpers_round_trip(provider: LocalKeyProvider) -> None:
    creds = {"api_key": "kk123", "api_secret": "sec", "access_token": None}
    blob = await seal_json(provider, creds, b"trading_account:7")
    assert await open_json(provider, blob, b"trading_account:7") == creds


async def test_wrapped_key_repr_hides_ciphertext() -> None:
    assert "ciphertext" not in repr(WrappedKey("k1", b"\x00" * 60))


# --- master-key rotation ----------------------------------------------------------------------


async def test_old_blobs_open_after_a_new_key_is_activated(provider: LocalKeyProvider) -> None:
    old_id = provider.current_key_id()
    blob = await seal(provider, SECRET, b"r")
    new_id = provider.add_key_and_activate()
    assert new_id != old_id
    assert provider.current_key_id() == new_id
    assert set(provider.key_ids()) == {old_id, new_id}
    assert await open_sealed(provider, blob, b"r") == SECRET
    assert sealed_key_id(await seal(provider, SECRET, b"r")) == new_id


async def test_rewrap_moves_the_data_key_without_touching_the_ciphertext(
    provider: LocalKeyProvider,
) -> None:
    blob = await seal(provider, SECRET, b"r")
    new_id = provider.add_key_and_activate()
    moved = await rewrap(provider, blob)
    assert sealed_key_id(moved) == new_id
    assert moved[layout(moved)["nonce"] :] == blob[layout(blob)["nonce"] :]
    assert await open_sealed(provider, moved, b"r") == SECRET
    assert await rewrap(provider, moved) == moved  # already under the active key


async def test_retired_key_no_longer_opens_unrewrapped_blobs(
    provider: LocalKeyProvider,
) -> None:
    old_id = provider.current_key_id()
    rewrapped = await rewrap(provider, await seal(provider, SECRET, b"a"))
    left_behind = await seal(provider, SECRET, b"b")
    provider.add_key_and_activate()
    rewrapped = await rewrap(provider, rewrapped)
    provider.retire_key(old_id)
    assert old_id not in provider.key_ids()
    assert await open_sealed(provider, rewrapped, b"a") == SECRET
    with pytest.raises(DecryptionError, match="not in the key ring"):
        await open_sealed(provider, left_behind, b"b")


async def test_the_active_key_cannot_be_retired(provider: LocalKeyProvider) -> None:
    with pytest.raises(KeyProviderError, match="active key"):
        provider.retire_key(provider.current_key_id())
    with pytest.raises(KeyProviderError, match="not in"):
        provider.retire_key("local-nope")


async def test_running_provider_picks_up_rotation_by_another_process(key_file: Path) -> None:
    running = LocalKeyProvider.create(key_file, reload_interval=0)
    cli = LocalKeyProvider.load(key_file)
    new_id = cli.add_key_and_activate()
    blob = await rewrap(cli, await seal(running, SECRET, b"r"))
    # The running service has never seen new_id in memory; it re-reads the file once.
    assert await open_sealed(running, blob, b"r") == SECRET
    assert sealed_key_id(await seal(running, SECRET, b"r")) == new_id


async def test_rotation_keeps_the_file_private(provider: LocalKeyProvider, key_file: Path) -> None:
    provider.add_key_and_activate()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [p.name for p in key_file.parent.iterdir()] == [key_file.name]  # no temp left


# --- the key file -----------------------------------------------------------------------------


def test_created_file_is_0600_and_well_formed(provider: LocalKeyProvider, key_file: Path) -> None:
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    doc = json.loads(key_file.read_text())
    assert doc["version"] == 1
    assert doc["active"] == provider.current_key_id()
    assert len(base64.b64decode(doc["keys"][doc["active"]])) == 32


def test_create_refuses_to_overwrite(provider: LocalKeyProvider, key_file: Path) -> None:
    before = key_file.read_bytes()
    with pytest.raises(KeyProviderError, match="already exists"):
        LocalKeyProvider.create(key_file)
    assert key_file.read_bytes() == before


def test_create_is_private_even_with_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        LocalKeyProvider.create(tmp_path / "k.key")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "k.key").stat().st_mode) == 0o600


def test_load_reads_back_the_same_keys(provider: LocalKeyProvider, key_file: Path) -> None:
    again = LocalKeyProvider.load(key_file)
    assert again.current_key_id() == provider.current_key_id()
    assert again.key_ids() == provider.key_ids()


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_permissive_mode_is_refused(provider: LocalKeyProvider, key_file: Path, mode: int) -> None:
    key_file.chmod(mode)
    with pytest.raises(KeyProviderError) as caught:
        LocalKeyProvider.load(key_file)
    message = str(caught.value)
    assert "KMS_MASTER_KEY_FILE" in message
    assert f"mode {mode:04o}" in message
    assert f"chmod 600 {key_file}" in message


def test_read_only_owner_mode_is_accepted(provider: LocalKeyProvider, key_file: Path) -> None:
    key_file.chmod(0o400)
    assert LocalKeyProvider.load(key_file).current_key_id() == provider.current_key_id()


def test_missing_file_is_refused_with_a_helpful_message(key_file: Path) -> None:
    with pytest.raises(KeyProviderError, match=r"KMS_MASTER_KEY_FILE .* is missing; restore"):
        LocalKeyProvider.load(key_file)


def write_private(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    path.chmod(0o600)


KEY32 = base64.b64encode(b"k" * 32).decode()
KEY16 = base64.b64encode(b"k" * 16).decode()


def ring(version: object = 1, active: object = "a", keys: object = None) -> str:
    return json.dumps(
        {"version": version, "active": active, "keys": {"a": KEY32} if keys is None else keys}
    )


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("not json at all", "not JSON"),
        ("[]", "version"),
        (ring(version=2), "version"),
        (ring(keys={}), "non-empty"),
        (ring(active="b"), "active"),
        (ring(keys={"a": "***"}), "base64"),
        (ring(keys={"a": 5}), "base64"),
        (ring(keys={"a": KEY16}), "16 bytes, expected 32"),
        (ring(keys={"bad id!": KEY32}), "unexpected characters"),
    ],
)
def test_corrupt_file_is_refused(key_file: Path, content: str, reason: str) -> None:
    write_private(key_file, content)
    with pytest.raises(KeyProviderError) as caught:
        LocalKeyProvider.load(key_file)
    assert "is not a valid key file" in str(caught.value)
    assert reason in str(caught.value)
    assert KEY32 not in str(caught.value)


def test_directory_is_not_a_key_file(tmp_path: Path) -> None:
    with pytest.raises(KeyProviderError):
        LocalKeyProvider.load(tmp_path)


def test_repr_shows_no_key_material(provider: LocalKeyProvider, key_file: Path) -> None:
    doc = json.loads(key_file.read_text())
    text = repr(provider)
    assert provider.current_key_id() in text
    for encoded in doc["keys"].values():
        assert encoded not in text
        assert repr(base64.b64decode(encoded)) not in text


async def test_broken_file_during_reload_keeps_the_loaded_keys(
    provider: LocalKeyProvider, key_file: Path
) -> None:
    blob = await seal(provider, SECRET, b"r")
    write_private(key_file, "garbage from a botched manual edit")
    assert await open_sealed(provider, await seal(provider, SECRET, b"r"), b"r") == SECRET
    assert await open_sealed(provider, blob, b"r") == SECRET
