"""Reusable pydantic field types and range checks, so no parsed value reaches a 500.

Bounded strings and normalised e-mails for bodies; ``UtcDateTime`` for query datetimes (naive
means UTC; the result must lie between 1970 and 9000 once converted, so
``9999-12-31T23:00-05:00`` is a 422, not an overflow); ``cursor_*`` for the fields of
pagination cursors (a 400 ``invalid_cursor`` for anything out of shape or range).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BeforeValidator, ConfigDict, StringConstraints

from user_service.exceptions import BadRequest

STRICT_BODY = ConfigDict(extra="forbid", str_max_length=10_000)


def normalise_email(value: str) -> str:
    """Trim and case-fold (docs/api.md §5): one account per normalised address."""
    return value.strip().casefold()


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def _valid_email(value: str) -> str:
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid email address: {exc}") from exc
    return normalise_email(value)


Email = Annotated[
    str,
    BeforeValidator(_strip),
    StringConstraints(min_length=3, max_length=320),
    AfterValidator(_valid_email),
]
# Login accepts any shape: a malformed address must get the same 401 as a wrong one.
LoginEmail = Annotated[str, StringConstraints(max_length=320), AfterValidator(normalise_email)]
Password = Annotated[str, StringConstraints(max_length=1024)]
Name = Annotated[str, BeforeValidator(_strip), StringConstraints(min_length=1, max_length=200)]
Phone = Annotated[
    str, BeforeValidator(_strip), StringConstraints(max_length=32, pattern=r"^\+?[0-9 ()\-]{4,32}$")
]
Locale = Annotated[
    str, StringConstraints(max_length=35, pattern=r"^[A-Za-z]{2,8}([-_][A-Za-z0-9]{1,8})*$")
]
OpaqueToken = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Code = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Fingerprint = Annotated[str, StringConstraints(max_length=128)]


# --- range checks ---------------------------------------------------------------------------

EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)
MAX_ROW_ID = 2**63 - 1


def to_utc(value: dt.datetime) -> dt.datetime:
    """An aware UTC datetime within [1970, 9000); ``ValueError`` (a 422) otherwise."""
    try:
        moment = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    except (OverflowError, ValueError) as exc:
        raise ValueError("the date is out of range") from exc
    if not EARLIEST <= moment < LATEST:
        raise ValueError("the date must lie between 1970 and 9000")
    return moment


UtcDateTime = Annotated[dt.datetime, AfterValidator(to_utc)]


def _invalid_cursor() -> BadRequest:
    return BadRequest("The cursor is not valid.", code="invalid_cursor")


def cursor_int(position: dict[str, Any], name: str) -> int:
    value = position.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ROW_ID:
        raise _invalid_cursor()
    return value


def cursor_str(position: dict[str, Any], name: str, max_length: int = 200) -> str:
    value = position.get(name)
    if not isinstance(value, str) or not value or len(value) > max_length or "\x00" in value:
        raise _invalid_cursor()
    return value


def cursor_datetime(position: dict[str, Any], name: str) -> dt.datetime:
    try:
        return to_utc(dt.datetime.fromisoformat(cursor_str(position, name, 64)))
    except ValueError:
        raise _invalid_cursor() from None


def cursor_uuid(position: dict[str, Any], name: str) -> uuid.UUID:
    try:
        return uuid.UUID(cursor_str(position, name, 64))
    except ValueError:
        raise _invalid_cursor() from None
