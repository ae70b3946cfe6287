"""Opaque cursors for keyset pagination: ``{"items": [...], "next_cursor": str | None}``."""

from __future__ import annotations

import base64
import json
from typing import Any

from user_service.exceptions import BadRequest

MAX_LIMIT = 100


def encode_cursor(values: dict[str, Any]) -> str:
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if cursor is None or cursor == "":
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("The cursor is not valid.", code="invalid_cursor") from exc
    if not isinstance(value, dict):
        raise BadRequest("The cursor is not valid.", code="invalid_cursor")
    return value
