"""Pages: a "notify this user" turned into sends over time, by the user's notification rules;
and the rule for retrying a send (throttling one is `service.paging.throttle`). Pure.

Every send has a ledger key naming the alert, the escalation's run and cycle, the rule, the
user, the contact method and the "notify me again" round: the same page is never recorded
twice, so it is sent at most once however often it is planned.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from service.alerts.model import Alert, Priority
from service.people.model import Channel, User, effective_rule

MAX_ATTEMPTS = 6
# How long a claimed page is its sender's before another engine may take it (a default; the
# configuration's page_lease_seconds sets it).
LEASE = timedelta(seconds=60)
RETRY_FIRST = timedelta(seconds=10)
RETRY_MAX = timedelta(minutes=5)


class PageState(enum.Enum):
    PENDING = "pending"  # planned, due at due_at
    SENDING = "sending"  # handed to the provider; a crash here means it may go twice
    RETRY = "retry"  # the provider failed in a way that may pass; due again at due_at
    DELIVERED = "delivered"
    FAILED = "failed"  # permanently, or out of attempts
    CANCELLED = "cancelled"  # acknowledged, closed or snoozed before it was sent


@dataclass(frozen=True)
class PlannedPage:
    key: str
    alert_id: str
    user_id: str
    contact_method_id: str
    channel: Channel
    address: str
    due_at: datetime
    round: int


def page_key(
    alert_id: str,
    run: int,
    cycle: int,
    rule: int,
    user_id: str,
    method_id: str,
    round_: int,
    step: int,
) -> str:
    """A rule may use one method at two steps (SMS now, SMS again in 5 minutes): the step is
    part of the key, so both are planned."""
    return f"{alert_id}/{run}.{cycle}.{rule}/{user_id}/{method_id}/{round_}.{step}"


def plan(
    user: User, alert: Alert, run: int, cycle: int, rule: int, now: datetime
) -> list[PlannedPage]:
    """Every send of the user's rule for the alert's priority, from `now`, repeats included."""
    chosen = effective_rule(user, high_priority=alert.priority <= Priority.P2)
    methods = {m.name.lower(): m for m in user.contact_methods}
    pages = []
    for round_ in range(chosen.repeat_times + 1):
        offset = timedelta(minutes=chosen.repeat_minutes * round_)
        for index, step in enumerate(chosen.steps):
            method = methods.get(step.contact_method.lower())
            if method is None:  # a rule names methods checked when it was set
                continue
            pages.append(
                PlannedPage(
                    key=page_key(alert.id, run, cycle, rule, user.id, method.id, round_, index),
                    alert_id=alert.id,
                    user_id=user.id,
                    contact_method_id=method.id,
                    channel=method.channel,
                    address=method.address,
                    due_at=now + offset + timedelta(minutes=step.delay_minutes),
                    round=round_,
                )
            )
    return pages


def retry_delay(attempt: int, rng: random.Random) -> timedelta:
    """Exponential from 10 s, capped at 5 minutes, with +-20% jitter so many failed sends do
    not all come back at once."""
    base = min(RETRY_FIRST * (1 << min(max(0, attempt - 1), 20)), RETRY_MAX)
    return base * rng.uniform(0.8, 1.2)


@dataclass(frozen=True)
class ClaimedPage:
    """A page handed to the engine to send, with what the message needs."""

    key: str
    alert: Alert
    user_id: str
    username: str
    channel: Channel
    address: str
    round: int
    attempt: int


@dataclass(frozen=True)
class PageRecord:
    key: str
    alert_id: str
    username: str
    channel: Channel
    address: str
    state: PageState
    due_at: datetime
    attempts: int
    provider_id: str
    detail: str
    sent_at: datetime | None = None  # the last hand-over to its provider


@dataclass(frozen=True)
class Claims:
    """Pages claimed for sending, and how many due rows the claim looked at (throttled ones
    are moved on, not claimed): fewer than asked means nothing more is due."""

    pages: list[ClaimedPage]
    examined: int
