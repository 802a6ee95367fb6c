"""The `Notifier` protocol: one page to one contact, through one channel's provider.

The engine decides who is paged, when and through what; a notifier only delivers. Its result
says whether the page was delivered, whether trying again later can help, or whether it never
will (a bad number, an unknown device), so the engine can retry or move on.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from service.people.model import Channel


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    RETRYABLE = "retryable"  # the provider was down, slow or throttling: try again later
    PERMANENT = "permanent"  # it will never work: record it and move on


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    provider_id: str = ""  # the provider's id for the message, call or request
    detail: str = ""  # why it failed, for the activity log (never a secret)


@dataclass(frozen=True)
class Notification:
    """One notification about one alert, for one user, through one contact method.

    `key` is the ledger key: the same page sent twice carries the same key, so providers that
    accept an idempotency key can drop the repeat. `ack_url` is a signed, expiring one-click
    acknowledge link (empty when the service has no public URL); `reply_hint` says how to
    answer an SMS.
    """

    key: str
    channel: Channel
    address: str
    username: str
    alert_id: str
    tiny_id: int
    message: str
    priority: str
    team: str
    description: str = ""
    status: str = "open"
    source: str = ""
    entity: str = ""
    tags: tuple[str, ...] = ()
    details: Mapping[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    ack_url: str = ""
    reply_hint: str = ""
    repeat: int = 0  # 0 for the first page, then which "notify me again" round


class Notifier(Protocol):
    async def send(self, page: Notification) -> SendResult:
        """Delivers `page`; never raises for a provider's refusal or outage (that is the
        result's job), only for bugs."""
