"""The tamper-evident chain of audit records (docs/api.md §6).

``hash = SHA-256(prev_hash ‖ canonical JSON of the record)``; the first record chains to
``GENESIS``. Changing, inserting or deleting a record breaks every later link, which
``user-service audit verify`` detects. (Cutting off the newest records is not detectable from
the table alone; ship the head hash to an external log if that matters.)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from typing import Any

GENESIS = "0" * 64


def canonical_record(
    *,
    occurred_at: dt.datetime,
    event_type: str,
    user_id: uuid.UUID | None,
    actor: str,
    ip_masked: str | None,
    user_agent: str | None,
    risk_score: int,
    details: dict[str, Any],
) -> bytes:
    record = {
        "occurred_at": occurred_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "event_type": event_type,
        "user_id": str(user_id) if user_id else None,
        "actor": actor,
        "ip_masked": ip_masked,
        "user_agent": user_agent,
        "risk_score": risk_score,
        "details": details,
    }
    return json.dumps(record, sort_keys=True, separators=(",", ":"), default=str).encode()


def chain_hash(prev_hash: str, record: bytes) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + record).hexdigest()
