"""Time, injected. Only the composition root constructs `SystemClock`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def to_micros(instant: datetime) -> int:
    """Microseconds since the epoch: how instants are stored, exactly and sortably."""
    if instant.tzinfo is None:
        raise ValueError("naive datetime: every instant in Tocsin carries a time zone")
    delta = instant - EPOCH  # integer parts: exact, and faster than dividing timedeltas
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)
