"""Reusable pydantic field types: bounded strings, normalised emails."""

from __future__ import annotations

from typing import Annotated

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BeforeValidator, ConfigDict, StringConstraints

STRICT_BODY = ConfigDict(extra="forbid", str_max_length=10_000)


def normalise_email(value: str) -> str:
    """Trim and case-fold (SPEC §5): one account per normalised address."""
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
