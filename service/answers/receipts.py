"""What makes an answer to a page happen once: the used acknowledge link, or the Twilio
request (its MessageSid or CallSid) answered, is written in the transaction of the change it
asked for. A second try of the same link, or Twilio's request replayed byte for byte, finds
it there and changes nothing more: the link is refused, the request gets the first answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from service.alerts.model import Transition

# Twilio retries within minutes; a day outlasts any retry, as a link's lifetime does.
TWILIO_RETENTION = timedelta(hours=24)
SID_MAX = 64  # Twilio's ids are 34 characters; a longer one is not Twilio's


@dataclass(frozen=True)
class LinkUse:
    """An acknowledge link redeemed: kept (as its digest) until it would expire anyway."""

    digest: str
    alert_id: str
    user_id: str
    expires_at: datetime


@dataclass(frozen=True)
class Answered:
    """What the first request with a Twilio id was answered (`outcome` for a call)."""

    outcome: str
    answer: str


@dataclass(frozen=True)
class Receipt:
    """A Twilio request to answer once: `answer` says, from what the change did, what the
    person hears; `outcome` is the voice outcome ("" for an SMS)."""

    sid: str
    outcome: str
    answer: Callable[[Transition], str]


def sid(value: str) -> str:
    """The Twilio id a request names, or "" when it names none fit to key answers by."""
    value = value.strip()
    return value if 0 < len(value) <= SID_MAX and value.isascii() and value.isalnum() else ""
