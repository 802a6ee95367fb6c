"""Page tokens of alert and activity lists: where the next page starts, bound to its query.

A token is opaque to the caller and input like any other: it is checked before any of it
reaches the SQL.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from service.alerts.model import AlertQuery
from service.core.clock import to_micros
from service.core.errors import InvalidArgument
from service.core.validation import INT64_MAX


def query_fingerprint(query: AlertQuery) -> str:
    """The same for the same query in any process: sets are sorted, instants are numbers."""
    f = query.filter
    canonical = [
        sorted(status.value for status in f.statuses),
        f.acknowledged,
        f.snoozed,
        sorted(int(priority) for priority in f.priorities),
        list(f.tags),
        f.team,
        f.text,
        None if f.created_after is None else to_micros(f.created_after),
        None if f.created_before is None else to_micros(f.created_before),
        query.sort.value,
        query.descending,
    ]
    return hashlib.sha256(json.dumps(canonical).encode()).hexdigest()[:16]


def encode(position: list[Any], scope: str) -> str:
    raw = json.dumps({"p": position, "s": scope}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str, scope: str, shape: tuple[type, ...]) -> list[Any]:
    """The position a page token holds, checked value by value against `shape`: a token is
    input like any other, and a forged one must not reach the SQL."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        position = data["p"]
        if data["s"] != scope or not isinstance(position, list) or len(position) != len(shape):
            raise ValueError(scope)
        for value, kind in zip(position, shape, strict=True):
            if type(value) is not kind or (isinstance(value, int) and abs(value) > INT64_MAX):
                raise ValueError(value)
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidArgument(
            "page_token", "is not a token this service issued for this query"
        ) from exc
    return position
