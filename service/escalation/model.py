"""Escalation policies and team routing, as values.

A policy says who is paged and when while an alert is left alone; routing says which of a
team's policies an alert follows. When an alert fires, the policy it routes to is copied
whole into the alert's escalation (a snapshot): editing the policy later changes only the
alerts that fire after.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from service.oncall.model import Restriction


class Condition(enum.Enum):
    """When a rule still pages: while the alert is not acknowledged, or not closed."""

    NOT_ACKNOWLEDGED = "not-acknowledged"
    NOT_CLOSED = "not-closed"


class TargetKind(enum.Enum):
    USER = "user"
    SCHEDULE = "schedule"  # who is on call now
    SCHEDULE_NEXT = "schedule-next"
    SCHEDULE_PREVIOUS = "schedule-previous"
    TEAM = "team"  # its on-call: its default schedule, else all its schedules, else members
    TEAM_MEMBERS = "team-members"


@dataclass(frozen=True)
class Target:
    kind: TargetKind
    ref: str  # a user, schedule or team id
    name: str = ""  # what it was called when the policy was saved, for the activity log

    def describe(self) -> str:
        return f"{self.kind.value} {self.name or self.ref}"


@dataclass(frozen=True)
class EscalationRule:
    delay: timedelta  # from the start of the cycle
    targets: tuple[Target, ...]
    condition: Condition = Condition.NOT_ACKNOWLEDGED


@dataclass(frozen=True)
class Repeat:
    """After the last rule, wait `after`, then run the rules again, up to `times` more times."""

    after: timedelta
    times: int
    reset_acknowledgement: bool = False
    close_after_last: bool = False


@dataclass(frozen=True)
class Policy:
    id: str
    name: str
    team_id: str
    rules: tuple[EscalationRule, ...]
    repeat: Repeat | None = None
    description: str = ""


@dataclass(frozen=True)
class RoutingRule:
    """Alerts matching `when` (an integration-rule condition over the alert's fields; empty
    matches all) inside the windows (in the team's zone; none means always) go to `policy`."""

    name: str
    policy_id: str
    when: Mapping[str, Any] = field(default_factory=dict)
    windows: tuple[Restriction, ...] = ()


@dataclass(frozen=True)
class Routing:
    """A team's routing: rules in order, the first match wins; else the default policy; with
    none, the team's on-call (or members) is paged at once."""

    team_id: str
    time_zone: str = "UTC"
    rules: tuple[RoutingRule, ...] = ()
    default_policy_id: str = ""
    default_schedule_id: str = ""
