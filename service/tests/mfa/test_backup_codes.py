import math
import re
import secrets

import pytest

from user_service.mfa import backup_codes as bc

SERVER_KEY = secrets.token_bytes(32)
KEY = bc.user_key(SERVER_KEY, 42)
CODE_SHAPE = re.compile(rf"[{bc.ALPHABET}]{{5}}-[{bc.ALPHABET}]{{5}}")


def test_ten_distinct_codes_of_the_documented_shape_are_generated() -> None:
    codes = bc.generate_backup_codes()
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert all(CODE_SHAPE.fullmatch(code) for code in codes)


def test_each_code_carries_at_least_40_bits() -> None:
    assert bc.CODE_LENGTH * math.log2(len(bc.ALPHABET)) >= 40
    assert len(set(bc.ALPHABET)) == len(bc.ALPHABET)


def test_alphabet_has_no_easily_confused_symbols() -> None:
    assert not set("01oli") & set(bc.ALPHABET)


def test_codes_differ_between_generations() -> None:
    assert not set(bc.generate_backup_codes()) & set(bc.generate_backup_codes())


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("abcde-fghjk", "abcdefghjk"),
        ("  ABCDE-FGHJK \n", "abcdefghjk"),
        ("abcde fghjk", "abcdefghjk"),
        ("ab-cd-ef-gh-jk", "abcdefghjk"),
    ],
)
def test_normalise_drops_case_spaces_and_dashes(typed: str, expected: str) -> None:
    assert bc.normalise(typed) == expected


def test_verify_returns_the_index_of_the_matching_code() -> None:
    codes = bc.generate_backup_codes()
    hashes: list[str | None] = [bc.hash_backup_code(code, KEY) for code in codes]
    assert bc.verify_backup_code(codes[3], hashes, KEY) == 3
    assert bc.verify_backup_code(codes[3].upper().replace("-", " "), hashes, KEY) == 3


def test_a_used_code_no_longer_verifies() -> None:
    codes = bc.generate_backup_codes()
    hashes: list[str | None] = [bc.hash_backup_code(code, KEY) for code in codes]
    index = bc.verify_backup_code(codes[0], hashes, KEY)
    assert index == 0
    hashes[index] = None  # what the caller stores once the code is consumed
    assert bc.verify_backup_code(codes[0], hashes, KEY) is None
    assert bc.verify_backup_code(codes[1], hashes, KEY) == 1


def test_unknown_or_malformed_codes_do_not_verify() -> None:
    codes = bc.generate_backup_codes()
    hashes: list[str | None] = [bc.hash_backup_code(code, KEY) for code in codes]
    other = next(c for c in bc.generate_backup_codes() if c not in codes)
    assert bc.verify_backup_code(other, hashes, KEY) is None
    for bad in ["", "123456", "abcde-fghj", "abcde-fghjk-x", "0oli1-abcde", "x" * 1000]:
        assert bc.verify_backup_code(bad, hashes, KEY) is None


def test_hashes_are_bound_to_the_user_and_the_server_key() -> None:
    code = bc.generate_backup_codes(1)[0]
    hashes: list[str | None] = [bc.hash_backup_code(code, KEY)]
    assert bc.verify_backup_code(code, hashes, bc.user_key(SERVER_KEY, 43)) is None
    assert bc.verify_backup_code(code, hashes, bc.user_key(secrets.token_bytes(32), 42)) is None


def test_stored_hash_is_versioned_and_does_not_contain_the_code() -> None:
    code = bc.generate_backup_codes(1)[0]
    stored = bc.hash_backup_code(code, KEY)
    assert stored.startswith("v1$")
    assert re.fullmatch(r"v1\$[0-9a-f]{64}", stored)
    assert bc.normalise(code) not in stored
    assert bc.hash_backup_code(code.upper(), KEY) == stored


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError):
        bc.user_key(b"short", 1)
    with pytest.raises(ValueError):
        bc.hash_backup_code("abcde-fghjk", b"short")


@pytest.mark.parametrize(
    ("typed", "kind"),
    [
        ("123456", "totp"),
        ("123 456", "totp"),
        ("abcde-fghjk", "backup_code"),
        ("ABCDEFGHJK", "backup_code"),
        ("23456-78923", "backup_code"),
        ("12345", None),
        ("12345678", None),
        ("abcdef", None),
        ("", None),
    ],
)
def test_classify_code_tells_totp_from_backup_codes(typed: str, kind: str | None) -> None:
    assert bc.classify_code(typed) == kind


def test_generated_codes_classify_as_backup_codes() -> None:
    assert {bc.classify_code(code) for code in bc.generate_backup_codes(50)} == {"backup_code"}
