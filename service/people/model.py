"""People as values: users, their contact methods and notification rules, team membership."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

# The word a schedule's participant list uses for an empty slot: no user may be called it.
EMPTY_SLOT = "none"


class Channel(enum.Enum):
    EMAIL = "email"
    SMS = "sms"
    VOICE = "voice"
    PUSH = "push"
    WEBHOOK = "webhook"  # a signed JSON POST: chat tools, ticketing, anything with a URL


class Role(enum.Enum):
    """A user's role in the organisation."""

    ADMIN = "admin"
    USER = "user"


class MemberRole(enum.Enum):
    """A user's role in one team."""

    ADMIN = "admin"
    MEMBER = "member"


@dataclass(frozen=True)
class ContactMethod:
    """Where to reach a user: an email address, an E.164 number, or a push device token.
    The id is stable, so a notification ledger can name it; the name is what people type."""

    id: str
    name: str
    channel: Channel
    address: str


@dataclass(frozen=True)
class NotificationStep:
    """Notify through `contact_method` (its name) `delay_minutes` after the page starts."""

    contact_method: str
    delay_minutes: int


@dataclass(frozen=True)
class NotificationRule:
    """Ordered steps, then optionally the same steps again every `repeat_minutes`, up to
    `repeat_times` more times, until the alert is acknowledged."""

    steps: tuple[NotificationStep, ...] = ()
    repeat_minutes: int = 0
    repeat_times: int = 0


@dataclass(frozen=True)
class NotificationRules:
    """How a user is paged for a new alert, and for high priority (P1-P2) alerts. A rule left
    as None uses the defaults built from the user's contact methods."""

    new_alert: NotificationRule | None = None
    high_priority: NotificationRule | None = None


@dataclass(frozen=True)
class User:
    id: str
    username: str
    full_name: str = ""
    time_zone: str = "UTC"
    role: Role = Role.USER
    contact_methods: tuple[ContactMethod, ...] = ()
    notification_rules: NotificationRules = field(default_factory=NotificationRules)
    created_at: datetime | None = None


@dataclass(frozen=True)
class TeamMember:
    user_id: str
    username: str
    role: MemberRole


# Paging order of the default rule: what reaches a person fastest and quietest first.
_DEFAULT_DELAYS = {
    Channel.WEBHOOK: 0,
    Channel.PUSH: 0,
    Channel.EMAIL: 0,
    Channel.SMS: 1,
    Channel.VOICE: 5,
}
_CHANNEL_ORDER = {channel: i for i, channel in enumerate(_DEFAULT_DELAYS)}


def default_rule(user: User) -> NotificationRule:
    """Push and email at once, SMS after a minute, voice after five: every method the user
    has, fastest and quietest first."""
    methods = sorted(user.contact_methods, key=lambda m: _CHANNEL_ORDER[m.channel])
    return NotificationRule(
        tuple(NotificationStep(m.name, _DEFAULT_DELAYS[m.channel]) for m in methods)
    )


def effective_rule(user: User, high_priority: bool) -> NotificationRule:
    """The rule that pages this user: their own for the alert's priority, else the default.
    High priority falls back to the new-alert rule before the default."""
    rules = user.notification_rules
    chosen = rules.high_priority if high_priority else None
    return chosen or rules.new_alert or default_rule(user)
