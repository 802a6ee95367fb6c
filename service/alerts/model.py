"""The alert model: plain, immutable values. No I/O and no protobuf here."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from service.core.errors import shown
from service.teams.model import DEFAULT_TEAM


class Priority(enum.IntEnum):
    P1 = 1
    P2 = 2
    P3 = 3
    P4 = 4
    P5 = 5

    @classmethod
    def parse(cls, text: str) -> Priority:
        """Accepts `P1`..`P5` (any case) or `1`..`5`."""
        cleaned = text.strip().upper().removeprefix("P")
        if cleaned in {"1", "2", "3", "4", "5"}:
            return cls(int(cleaned))
        raise ValueError(f"priority must be one of P1..P5, not {text!r}")


class Status(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class Responder:
    """Someone else to notify: a team, user, escalation or schedule, by name."""

    type: str
    name: str


@dataclass(frozen=True)
class NewAlert:
    """What a caller asks to create, before validation and storage."""

    message: str
    alias: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()
    details: Mapping[str, str] = field(default_factory=dict)
    entity: str = ""
    source: str = ""
    priority: Priority = Priority.P3
    responders: tuple[Responder, ...] = ()
    actions: tuple[str, ...] = ()
    owner_team: str = ""
    integration: str = ""


@dataclass(frozen=True)
class Alert:
    id: str
    tiny_id: int
    alias: str
    message: str
    description: str
    tags: tuple[str, ...]
    details: Mapping[str, str]
    entity: str
    source: str
    priority: Priority
    responders: tuple[Responder, ...]
    actions: tuple[str, ...]
    status: Status
    acknowledged: bool
    snoozed_until: datetime | None
    count: int
    created_at: datetime
    updated_at: datetime
    last_occurred_at: datetime
    owner_team_id: str
    owner_team: str
    integration: str
    acknowledged_by: str
    closed_by: str


def named_fields(alert: NewAlert | Alert) -> dict[str, str]:
    """The fields conditions and templates name, as text: integration rules read them from a
    delivery's alert, routing conditions from the stored one."""
    return {
        "message": alert.message,
        "alias": alert.alias,
        "description": alert.description,
        "entity": alert.entity,
        "source": alert.source,
        "priority": alert.priority.name,
        "tags": ",".join(alert.tags),
    }


@dataclass(frozen=True)
class Actor:
    """Who made a change, and the note they left with it."""

    user: str
    note: str = ""


@dataclass(frozen=True)
class Change:
    """One activity entry in the making: the fields that changed, before and after."""

    action: str
    before: Mapping[str, object] = field(default_factory=dict)
    after: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Transition:
    """The outcome of a pure lifecycle step: the new alert and what happened."""

    alert: Alert
    changes: tuple[Change, ...]

    @property
    def changed(self) -> bool:
        return bool(self.changes)


@dataclass(frozen=True)
class ActivityEntry:
    seq: int
    alert_id: str
    at: datetime
    actor: str
    action: str
    note: str
    before: Mapping[str, object]
    after: Mapping[str, object]


@dataclass(frozen=True)
class PlannedStep:
    """A rule of a new alert's escalation: `after` its start it pages `users` (usernames, as
    resolved when the alert was created; schedules may say otherwise by then)."""

    after: timedelta
    users: tuple[str, ...]


@dataclass(frozen=True)
class PagingPlan:
    """Who a new alert will page, worked out in the transaction that created it from the
    policy it snapshotted: `nobody` says why, when no step pages anyone (or nobody it pages
    can be reached); `unreachable`, whom it names that have no contact method."""

    policy: str
    steps: tuple[PlannedStep, ...]
    nobody: str = ""
    unreachable: tuple[str, ...] = ()


@dataclass(frozen=True)
class CreateResult:
    alert: Alert
    deduplicated: bool
    paging: PagingPlan | None = None  # None when deduplicated: it pages nobody anew


class RefKind(enum.Enum):
    ID = "id"
    TINY_ID = "tiny_id"
    ALIAS = "alias"


@dataclass(frozen=True)
class AlertRef:
    """Names one alert: by id, tiny id, or alias within a team."""

    kind: RefKind
    value: str
    team: str = ""

    def describe(self) -> str:
        if self.kind is RefKind.ALIAS:
            return f"alias {shown(self.value)} in team {shown(self.team or DEFAULT_TEAM)}"
        return f"{self.kind.value} {shown(self.value)}"


class SortField(enum.Enum):
    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"
    LAST_OCCURRED_AT = "last_occurred_at"
    TINY_ID = "tiny_id"
    PRIORITY = "priority"
    COUNT = "count"


@dataclass(frozen=True)
class AlertFilter:
    statuses: frozenset[Status] = frozenset()
    acknowledged: bool | None = None
    snoozed: bool | None = None
    priorities: frozenset[Priority] = frozenset()
    tags: tuple[str, ...] = ()
    team: str = ""
    text: str = ""
    created_after: datetime | None = None
    created_before: datetime | None = None


@dataclass(frozen=True)
class AlertQuery:
    filter: AlertFilter = AlertFilter()
    sort: SortField = SortField.CREATED_AT
    descending: bool = True
    page_size: int = 50
    page_token: str = ""


@dataclass(frozen=True)
class AlertEvent:
    """One change, as streamed to watchers."""

    entry: ActivityEntry
    alert: Alert
