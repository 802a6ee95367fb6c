"""Who a rule's target means at an instant, and which policy an alert follows: pure, over
the little a store loads for them (a `Directory`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from service.alerts.model import Alert, named_fields
from service.core.wallclock import zone
from service.escalation.model import EscalationRule, Policy, Routing, Target, TargetKind
from service.ingest import rules as conditions
from service.oncall import shifts as oncall
from service.oncall.model import Override, Schedule
from service.oncall.shifts import allowed


@dataclass(frozen=True)
class Directory:
    """Look-ups by id, bound to a store's open transaction."""

    schedule: Callable[[str, datetime], tuple[Schedule, Sequence[Override]] | None]
    team_schedules: Callable[[str], Sequence[str]]
    team_members: Callable[[str], Sequence[str]]
    default_schedule: Callable[[str], str]


@dataclass(frozen=True)
class Found:
    users: tuple[str, ...]
    why_nobody: str = ""  # for the activity log when `users` is empty


def _on_schedule(kind: TargetKind, schedule_id: str, now: datetime, d: Directory) -> Found:
    loaded = d.schedule(schedule_id, now)
    if loaded is None:
        return Found((), f"schedule {schedule_id} no longer exists")
    schedule, overrides = loaded
    if kind is TargetKind.SCHEDULE_NEXT:
        change = oncall.next_on_call(schedule, overrides, now)
        users = change.users if change else ()
    elif kind is TargetKind.SCHEDULE_PREVIOUS:
        change = oncall.previous_on_call(schedule, overrides, now)
        users = change.users if change else ()
    else:
        users = tuple(
            dict.fromkeys(c.user for c in oncall.who_is_on_call(schedule, overrides, now))
        )
    if not users:
        which = {TargetKind.SCHEDULE_NEXT: "next ", TargetKind.SCHEDULE_PREVIOUS: "previous "}
        return Found((), f"nobody {which.get(kind, '')}on call in schedule {schedule.name}")
    return Found(users)


def recipients(target: Target, now: datetime, directory: Directory) -> Found:
    """The users `target` names at `now`, in order, without repeats."""
    if target.kind is TargetKind.USER:
        return Found((target.ref,))
    if target.kind in (TargetKind.SCHEDULE, TargetKind.SCHEDULE_NEXT, TargetKind.SCHEDULE_PREVIOUS):
        return _on_schedule(target.kind, target.ref, now, directory)
    if target.kind is TargetKind.TEAM:
        chosen = directory.default_schedule(target.ref)
        if chosen and directory.schedule(chosen, now) is None:
            chosen = ""  # deleted since routing named it: the team's other schedules
        schedules = [chosen] if chosen else list(directory.team_schedules(target.ref))
        if schedules:
            users: list[str] = []
            for schedule_id in schedules:
                users.extend(_on_schedule(TargetKind.SCHEDULE, schedule_id, now, directory).users)
            if users:
                return Found(tuple(dict.fromkeys(users)))
            return Found((), f"nobody on call for team {target.name or target.ref}")
    members = tuple(directory.team_members(target.ref))
    if not members:
        return Found((), f"team {target.name or target.ref} has no members")
    return Found(members)


def plan(
    policy: Policy, now: datetime, directory: Directory
) -> tuple[list[tuple[timedelta, tuple[str, ...]]], list[str]]:
    """Whom each rule of an escalation starting `now` pages (user ids, each rule resolved
    at its own time), and why each target that names nobody does."""
    steps: list[tuple[timedelta, tuple[str, ...]]] = []
    why: list[str] = []
    for rule in policy.rules:
        users: list[str] = []
        for target in rule.targets:
            found = recipients(target, now + rule.delay, directory)
            users.extend(found.users)
            if found.why_nobody and found.why_nobody not in why:
                why.append(found.why_nobody)
        steps.append((rule.delay, tuple(dict.fromkeys(users))))
    return steps, why


def team_on_call(team_id: str, team_name: str) -> Policy:
    """The policy of a team that has none: its on-call (or its members), at once."""
    target = Target(TargetKind.TEAM, team_id, team_name)
    return Policy("", f"{team_name} on-call", team_id, (EscalationRule(timedelta(), (target,)),))


def alert_fields(alert: Alert) -> dict[str, str]:
    """The fields routing conditions read: those integration rules know, plus tags and
    details by key."""
    fields = {
        **named_fields(alert),
        "team": alert.owner_team,
        "integration": alert.integration,
    }
    for key, value in alert.details.items():
        fields.setdefault(key, value)
    return fields


def route(
    alert: Alert, routing: Routing | None, policies: Mapping[str, Policy], now: datetime
) -> tuple[Policy, str]:
    """The policy the alert follows, and the routing rule that chose it ('' for the
    default)."""
    if routing is not None:
        fields = alert_fields(alert)
        tz = zone(routing.time_zone)
        for rule in routing.rules:
            if rule.when and not conditions.matches(rule.when, fields):
                continue
            if rule.windows and not allowed(rule.windows, tz, now):
                continue
            if rule.policy_id in policies:
                return policies[rule.policy_id], rule.name
        if routing.default_policy_id in policies:
            return policies[routing.default_policy_id], ""
    return team_on_call(alert.owner_team_id, alert.owner_team), ""
