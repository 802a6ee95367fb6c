"""How often one number may be texted or called, and what a claim of due pages does about it.
Pure.

A storm of alerts must not become a storm of calls to one phone: per address, at most one SMS
a minute and four calls an hour. A page held back waits, and is sent when the window allows,
unless the alert is acknowledged first.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from service.people.model import Channel

THROTTLES: dict[Channel, tuple[int, timedelta]] = {
    Channel.SMS: (1, timedelta(minutes=1)),
    Channel.VOICE: (4, timedelta(hours=1)),
}

Send = tuple[str, datetime]  # a page's key, and when it was handed to its provider


def throttled_until(channel: Channel, recent: Sequence[datetime], now: datetime) -> datetime | None:
    """When a send to an address may go, given its recent sends on that channel; None: now."""
    limit = THROTTLES.get(channel)
    if limit is None:
        return None
    count, window = limit
    inside = sorted(t for t in recent if t > now - window)
    if len(inside) < count:
        return None
    return inside[-count] + window


class Verdict(enum.Enum):
    SEND = "send"
    HOLD = "hold"  # held back from now on: every page due to the address waits with it
    HELD = "held"  # the address was held back earlier in this claim


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    until: datetime  # when the page may go: the claim's time when it is sent now


class ClaimHolds:
    """The throttles' decisions over one claim of due pages, in the order it takes them.

    Each address's recent sends are asked for once (`recent`, called the first time a page
    due to that address is decided), then kept up to date here as the claim sends to it. Once
    an address is held back, every later page due to it in the claim is too, until the same
    time, without asking again.
    """

    def __init__(self, now: datetime) -> None:
        self._now = now
        self._sends: dict[tuple[Channel, str], list[Send]] = {}
        self._holds: dict[tuple[Channel, str], datetime] = {}

    def decide(
        self, key: str, channel: Channel, address: str, recent: Callable[[], Sequence[Send]]
    ) -> Decision:
        """Whether the page `key`, due to `address` on `channel`, goes now."""
        if channel not in THROTTLES:
            return Decision(Verdict.SEND, self._now)
        where = (channel, address)
        held = self._holds.get(where)
        if held is not None:
            return Decision(Verdict.HELD, held)
        sends = self._sends.get(where)
        if sends is None:
            sends = self._sends[where] = list(recent())
        # A page sent before and being sent again (its sender died) does not count itself.
        others = [at for sent, at in sends if sent != key]
        until = throttled_until(channel, others, self._now)
        if until is not None:
            self._holds[where] = until
            return Decision(Verdict.HOLD, until)
        sends.append((key, self._now))
        return Decision(Verdict.SEND, self._now)
