"""What every monitoring tool's event shares before its own reader takes it: pure.

A body is read once here (its size, its text, its JSON depth through `service.core.loader`, and
that it is an object), and each reader refuses what it cannot take with `InvalidEventError`,
every field at fault named in one answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from service.alerts.model import Priority
from service.core import loader
from service.core.errors import InvalidArgument

# How monitoring tools name their severities, as priorities: PagerDuty's four, and the
# "high" that Prometheus rules often use instead of "error".
SEVERITIES: Mapping[str, Priority] = {
    "critical": Priority.P1,
    "error": Priority.P2,
    "high": Priority.P2,
    "warning": Priority.P3,
    "info": Priority.P5,
}


class InvalidEventError(Exception):
    """The event will never be taken: `errors` says why, one message per field."""

    def __init__(self, errors: Sequence[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = tuple(errors)


def document(body: bytes, limit: int) -> dict[str, object]:
    """The JSON object in `body`, at most `limit` bytes; raises `InvalidEventError`."""
    if len(body) > limit:
        raise InvalidEventError([f"the event is larger than {limit // 1024} KiB"])
    try:
        data = loader.json_document("event", body.decode())
    except UnicodeDecodeError:
        raise InvalidEventError(["the event is not UTF-8 text"]) from None
    except InvalidArgument as exc:
        raise InvalidEventError([str(exc)]) from None
    if not isinstance(data, dict):
        raise InvalidEventError(["the event must be a JSON object"])
    return data
