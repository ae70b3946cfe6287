import base64
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import pyotp
import pytest
import segno
import time_machine

from user_service.mfa import totp

# RFC 6238 Appendix B: SHA-1 seed "12345678901234567890", 30 s steps. The RFC lists 8-digit
# values; a 6-digit code is the same truncated value mod 10^6, i.e. its last six digits.
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
RFC_VECTORS = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]

T0 = datetime(2025, 3, 14, 15, 9, 15, tzinfo=UTC)  # 15 s into a step


def at_step_offset(offset: int) -> datetime:
    return T0 + timedelta(seconds=30 * offset)


@pytest.mark.parametrize(("unix_time", "rfc_value"), RFC_VECTORS)
def test_rfc6238_sha1_vectors(unix_time: int, rfc_value: str) -> None:
    moment = datetime.fromtimestamp(unix_time, UTC)
    code = totp.current_code(RFC_SECRET, at=moment)
    assert code == rfc_value[-6:]
    assert totp.verify_totp(RFC_SECRET, code, None, now=moment) == unix_time // 30


def test_generated_secret_has_at_least_160_bits_and_is_base32() -> None:
    secrets_seen = {totp.generate_secret() for _ in range(200)}
    assert len(secrets_seen) == 200
    for secret in secrets_seen:
        assert re.fullmatch(r"[A-Z2-7]{32}", secret)
        assert len(base64.b32decode(secret)) * 8 >= 160


def test_code_of_the_current_step_is_accepted_and_its_step_returned() -> None:
    secret = totp.generate_secret()
    code = totp.current_code(secret, at=T0)
    assert totp.verify_totp(secret, code, None, now=T0) == totp.current_step(T0)


@pytest.mark.parametrize("offset", [-1, 1])
def test_codes_one_step_away_are_accepted(offset: int) -> None:
    secret = totp.generate_secret()
    code = totp.current_code(secret, at=at_step_offset(offset))
    assert totp.verify_totp(secret, code, None, now=T0) == totp.current_step(T0) + offset


@pytest.mark.parametrize("offset", [-3, -2, 2, 3])
def test_codes_two_or_more_steps_away_are_rejected(offset: int) -> None:
    secret = totp.generate_secret()
    code = totp.current_code(secret, at=at_step_offset(offset))
    if code in {totp.current_code(secret, at=at_step_offset(i)) for i in (-1, 0, 1)}:
        pytest.skip("rare code collision")
    assert totp.verify_totp(secret, code, None, now=T0) is None


def test_code_is_accepted_once_then_rejected_as_a_replay() -> None:
    secret = totp.generate_secret()
    code = totp.current_code(secret, at=T0)
    step = totp.verify_totp(secret, code, None, now=T0)
    assert step is not None
    # Same code, same step, a few seconds later: replay.
    assert totp.verify_totp(secret, code, step, now=T0 + timedelta(seconds=5)) is None
    # Still inside the window one step later, still a replay.
    assert totp.verify_totp(secret, code, step, now=at_step_offset(1)) is None


def test_code_of_an_earlier_step_is_rejected_after_a_later_one_was_used() -> None:
    secret = totp.generate_secret()
    later = totp.current_code(secret, at=T0)
    earlier = totp.current_code(secret, at=at_step_offset(-1))
    step = totp.verify_totp(secret, later, None, now=T0)
    assert step is not None
    assert totp.verify_totp(secret, earlier, step, now=T0) is None


def test_next_steps_code_is_accepted_after_the_current_one_was_used() -> None:
    secret = totp.generate_secret()
    step = totp.verify_totp(secret, totp.current_code(secret, at=T0), None, now=T0)
    assert step is not None
    nxt = at_step_offset(1)
    assert totp.verify_totp(secret, totp.current_code(secret, at=nxt), step, now=nxt) == step + 1


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "12345",
        "1234567",
        "abcdef",
        "12345a",
        "12-34-56",
        "١٢٣٤٥٦",  # Arabic-Indic digits: isdigit() but not ASCII
        "123456" * 20,
        "+12345",
    ],
)
def test_malformed_codes_are_rejected(bad: str) -> None:
    secret = totp.generate_secret()
    assert totp.verify_totp(secret, bad, None, now=T0) is None


@pytest.mark.parametrize("spacing", ["{a} {b}", " {a}{b} ", "{a}\t{b}"])
def test_spaces_in_a_code_are_ignored(spacing: str) -> None:
    secret = totp.generate_secret()
    code = totp.current_code(secret, at=T0)
    typed = spacing.format(a=code[:3], b=code[3:])
    assert totp.verify_totp(secret, typed, None, now=T0) == totp.current_step(T0)


def test_wrong_code_is_rejected() -> None:
    secret = totp.generate_secret()
    code = totp.current_code(secret, at=T0)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    window = {totp.current_code(secret, at=at_step_offset(i)) for i in (-1, 0, 1)}
    if wrong in window:
        pytest.skip("rare code collision")
    assert totp.verify_totp(secret, wrong, None, now=T0) is None


def test_verification_follows_the_clock_when_now_is_not_given() -> None:
    secret = totp.generate_secret()
    with time_machine.travel(T0, tick=False) as traveller:
        code = totp.current_code(secret)
        assert totp.verify_totp(secret, code, None) == totp.current_step(T0)
        traveller.shift(timedelta(seconds=30))  # the phone is now one step behind
        assert totp.verify_totp(secret, code, None) == totp.current_step(T0)
        traveller.shift(timedelta(seconds=30))  # two steps: too old
        assert totp.verify_totp(secret, code, None) is None


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        totp.current_step(datetime(2025, 1, 1))


def test_provisioning_uri_round_trips_through_an_authenticator_parser() -> None:
    secret = totp.generate_secret()
    uri = totp.provisioning_uri(secret, "alice@example.com")
    assert uri.startswith("otpauth://totp/Quantagro:alice%40example.com?")
    parsed = pyotp.parse_uri(uri)
    assert isinstance(parsed, pyotp.TOTP)
    assert parsed.secret == secret
    assert parsed.issuer == "Quantagro"
    assert parsed.name == "alice@example.com"
    assert parsed.digits == 6 and parsed.interval == 30
    assert parsed.at(T0) == totp.current_code(secret, at=T0)


def _svg_modules(data_uri: str) -> list[list[bool]]:
    """Rasterise segno's SVG path (``M x y`` then runs of ``h n`` / ``m dx dy``) to modules."""
    svg = unquote(data_uri.split(",", 1)[1])
    width = int(re.search(r"width='(\d+)'", svg).group(1))  # type: ignore[union-attr]
    scale = int(re.search(r"scale\((\d+)\)", svg).group(1))  # type: ignore[union-attr]
    path = re.search(r" d='([^']+)'", svg).group(1)  # type: ignore[union-attr]
    size = width // scale
    grid = [[False] * size for _ in range(size)]
    x = y = 0.0
    for command, args in re.findall(r"([Mmh])([^Mmh]*)", path):
        numbers = [float(n) for n in args.split()]
        if command == "M":
            x, y = numbers
        elif command == "m":
            x, y = x + numbers[0], y + numbers[1]
        else:
            for column in range(int(x), int(x + numbers[0])):
                grid[int(y)][column] = True
            x += numbers[0]
    return grid


def test_qr_code_is_an_svg_data_uri_of_the_otpauth_uri() -> None:
    uri = totp.provisioning_uri(totp.generate_secret(), "alice@example.com")
    data_uri = totp.qr_code_data_uri(uri)
    assert data_uri.startswith("data:image/svg+xml")
    assert "%3Csvg" in data_uri and "%3C/svg%3E" in data_uri.replace("%2F", "/")
    expected = [
        [bool(v) for v in row]
        for row in segno.make(uri, error="m", micro=False).matrix_iter(scale=1, border=4)
    ]
    assert _svg_modules(data_uri) == expected


def test_qr_code_decodes_back_to_the_otpauth_uri() -> None:
    zxingcpp = pytest.importorskip("zxingcpp")
    uri = totp.provisioning_uri(totp.generate_secret(), "alice+trading@example.com")
    modules = _svg_modules(totp.qr_code_data_uri(uri))
    pixels_per_module = 4
    rows = bytearray()
    for row in modules:
        line = bytes(0 if dark else 255 for dark in row for _ in range(pixels_per_module))
        rows += line * pixels_per_module
    side = len(modules) * pixels_per_module
    image = memoryview(bytes(rows)).cast("B", (side, side))
    results = zxingcpp.read_barcodes(image)
    assert [r.text for r in results] == [uri]
