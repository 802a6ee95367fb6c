"""Instants and spans between protobuf's Timestamp and Duration and datetime and timedelta,
both ways: every other codec, the servicers and the Python client share these."""

from __future__ import annotations

from datetime import datetime, timedelta

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from service.core.clock import from_micros, to_micros
from service.core.errors import InvalidArgument


def timestamp(instant: datetime) -> Timestamp:
    # Straight from microseconds: Timestamp.FromDatetime is several times slower, and every
    # reply carries a few of these.
    seconds, micros = divmod(to_micros(instant), 1_000_000)
    return Timestamp(seconds=seconds, nanos=micros * 1_000)


DURATION_MAX = timedelta(days=3650)


def instant(stamp: Timestamp, field: str = "timestamp") -> datetime:
    try:
        return from_micros(stamp.seconds * 1_000_000 + stamp.nanos // 1_000)
    except OverflowError:
        raise InvalidArgument(field, "is outside the years 1 to 9999") from None


def span(message: Duration, field: str, maximum: timedelta = DURATION_MAX) -> timedelta:
    """A Duration of at most `maximum` either way, as a timedelta (which cannot hold 1e14 s
    and, added to a time, overflows long before that)."""
    if abs(message.seconds) > maximum.total_seconds():
        raise InvalidArgument(
            field, f"must be at most {_spoken(maximum)} (got {message.seconds:,} seconds)"
        )
    # What google.protobuf.Duration allows: nanos under a second, of the seconds' sign.
    if abs(message.nanos) >= 1_000_000_000 or message.seconds * message.nanos < 0:
        raise InvalidArgument(
            field,
            "must be a valid Duration: nanos from -999,999,999 to 999,999,999, of the same sign "
            f"as seconds (got {message.seconds:,} seconds and {message.nanos:,} nanos)",
        )
    return message.ToTimedelta()


def _spoken(delta: timedelta) -> str:
    if delta.days and not delta.seconds:
        return f"{delta.days:,} day{'s' if delta.days > 1 else ''}"
    return f"{delta.total_seconds() / 3600:g} hours"


def optional_instant(message: object, field: str) -> datetime | None:
    """A Timestamp field that may be unset, as a datetime or None."""
    if message.HasField(field):  # type: ignore[attr-defined]
        return instant(getattr(message, field), field)
    return None


def duration(delta: timedelta) -> Duration:
    message = Duration()
    message.FromTimedelta(delta)
    return message
