"""How the CLI shows things: readable tables for people, JSON for programs."""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, TextIO

from clients.cli.arguments import duration_text
from service.alerts.model import ActivityEntry, Alert, AlertEvent, CreateResult
from service.ingest.model import Integration
from service.oncall.model import Schedule
from service.teams.model import Team
from service.tokens.model import TokenInfo

MESSAGE_WIDTH = 60
CHANGES_WIDTH = 70  # an activity entry's changes, unless the table is asked for wide
# Server-side models the client fills from the API, as JSON: what the API does not send is left
# out (None), and a field holding something other than its name says is shown under a true
# name (a schedule's `team_id` holds its team's name).
_SHOWN_AS: dict[type, Mapping[str, str | None]] = {
    Schedule: {"team_id": "team", "ical_secret": None},
    Integration: {"owner_team_id": None, "assignee_team_id": None},
}

if TYPE_CHECKING:
    from clients.client import IntegrationInfo


def plain(value: object) -> object:
    """Domain values as JSON-ready data: datetimes in ISO 8601, enums by name, durations in
    seconds under a key that says so (a policy rule's `delay` is `delay_seconds`)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        shown = _SHOWN_AS.get(type(value), {})
        fields: dict[str, object] = {}
        for field in dataclasses.fields(value):
            name = shown.get(field.name, field.name)
            if name is not None:
                fields[name] = getattr(value, field.name)
        return _object(fields)
    if isinstance(value, datetime | date | time):  # a restriction's times of day, too
        return value.isoformat()
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
        return int(seconds) if seconds.is_integer() else seconds
    if isinstance(value, enum.Enum):
        return value.name if isinstance(value, int) else value.value
    if isinstance(value, Mapping):
        return _object({str(k): v for k, v in value.items()})
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(item) for item in value]
    return value


def _object(items: Mapping[str, object]) -> dict[str, object]:
    return {
        f"{key}_seconds" if isinstance(value, timedelta) else key: plain(value)
        for key, value in items.items()
    }


def write_json(out: TextIO, value: object) -> None:
    out.write(json.dumps(plain(value), ensure_ascii=False, sort_keys=True) + "\n")


def deleted(out: TextIO, as_json: bool, kind: str, name: str) -> None:
    """What a delete command prints: the name it was given, as JSON or in a line."""
    if as_json:
        write_json(out, {"deleted": name})
    else:
        out.write(f"deleted {kind} {name}\n")


def when(instant: datetime | None) -> str:
    if instant is None:
        return "-"
    return instant.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def table(out: TextIO, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    for row in (headers, *rows):
        line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        out.write(line.rstrip() + "\n")


def _short(text: str, width: int = MESSAGE_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def state(alert: Alert) -> str:
    parts = [alert.status.value]
    if alert.acknowledged:
        parts.append("acked")
    if alert.snoozed_until is not None:
        parts.append("snoozed")
    return ",".join(parts)


def alert_rows(alerts: Sequence[Alert]) -> list[list[str]]:
    return [
        [
            str(a.tiny_id),
            state(a),
            a.priority.name,
            str(a.count),
            a.owner_team,
            when(a.created_at),
            _short(a.message),
        ]
        for a in alerts
    ]


def alerts_table(out: TextIO, alerts: Sequence[Alert]) -> None:
    headers = ["TINY", "STATE", "P", "COUNT", "TEAM", "CREATED", "MESSAGE"]
    table(out, headers, alert_rows(alerts))


def paging(result: CreateResult) -> str:
    """One line: whom a new alert will page and when, or that nobody will, and why."""
    plan = result.paging
    if plan is None:
        return "paging: nobody anew (counted into the open alert, whose escalation goes on)"
    if plan.nobody:
        return f"paging: nobody will be paged: {plan.nobody}"
    steps = [
        f"{', '.join(s.users)} {'now' if not s.after else 'after ' + duration_text(s.after)}"
        for s in plan.steps
        if s.users
    ]
    unreachable = f"; no contact methods: {', '.join(plan.unreachable)}" if plan.unreachable else ""
    return f"paging: {'; '.join(steps)} (policy: {plan.policy}){unreachable}"


def alert_detail(out: TextIO, alert: Alert) -> None:
    fields: list[tuple[str, str]] = [
        ("Tiny id", str(alert.tiny_id)),
        ("Id", alert.id),
        ("Message", alert.message),
        ("State", state(alert)),
        ("Priority", alert.priority.name),
        ("Count", str(alert.count)),
        ("Team", alert.owner_team),
        ("Alias", alert.alias),
        ("Created", when(alert.created_at)),
        ("Updated", when(alert.updated_at)),
        ("Last occurred", when(alert.last_occurred_at)),
    ]
    optional = [
        ("Snoozed until", when(alert.snoozed_until) if alert.snoozed_until else ""),
        ("Acknowledged by", alert.acknowledged_by),
        ("Closed by", alert.closed_by),
        ("Entity", alert.entity),
        ("Source", alert.source),
        ("Integration", alert.integration),
        ("Tags", ", ".join(alert.tags)),
        ("Actions", ", ".join(alert.actions)),
        ("Responders", ", ".join(f"{r.type}:{r.name}" for r in alert.responders)),
    ]
    fields += [(label, value) for label, value in optional if value]
    width = max(len(label) for label, _ in fields)
    for label, value in fields:
        out.write(f"{label + ':':<{width + 1}} {value}\n")
    if alert.details:
        out.write("Details:\n")
        for key, value in sorted(alert.details.items()):
            out.write(f"  {key} = {value}\n")
    if alert.description:
        out.write("Description:\n")
        for line in alert.description.splitlines():
            out.write(f"  {line}\n")


def _changes(entry: ActivityEntry) -> str:
    keys = list(dict.fromkeys([*entry.before, *entry.after]))
    parts = []
    for key in keys:
        if key in entry.before:
            parts.append(f"{key}: {entry.before[key]!r} -> {entry.after.get(key)!r}")
        else:
            parts.append(f"{key}={entry.after[key]!r}")
    return "; ".join(parts)


def activity_table(out: TextIO, entries: Sequence[ActivityEntry], wide: bool = False) -> None:
    def changes(entry: ActivityEntry) -> str:
        text = _changes(entry)
        return text if wide else _short(text, CHANGES_WIDTH)

    rows = [[when(e.at), e.actor, e.action, changes(e), e.note.replace("\n", " ")] for e in entries]
    table(out, ["AT", "ACTOR", "ACTION", "CHANGES", "NOTE"], rows)


def event_line(out: TextIO, event: AlertEvent) -> None:
    entry, alert = event.entry, event.alert
    out.write(
        f"{when(entry.at)}  #{alert.tiny_id}  {entry.action:<16} by {entry.actor}: "
        f"{_short(alert.message)}  [--resume {entry.seq}]\n"
    )
    out.flush()


def teams_table(out: TextIO, teams: Sequence[Team]) -> None:
    rows = [[t.name, t.id, when(t.created_at), _short(t.description)] for t in teams]
    table(out, ["NAME", "ID", "CREATED", "DESCRIPTION"], rows)


def team_detail(out: TextIO, team: Team) -> None:
    teams_table(out, [team])


def _topics(integration: Integration) -> str:
    if integration.topic_arns:
        return ",".join(integration.topic_arns)
    return integration.pinned_topic_arn or "(the first to confirm)"


def integrations_table(out: TextIO, integrations: Sequence[IntegrationInfo]) -> None:
    rows = [
        [
            i.integration.name,
            i.integration.type.value,
            i.integration.owner_team,
            i.integration.assignee_team,
            "enabled" if i.integration.enabled else "disabled",
            _topics(i.integration),
            i.url,
        ]
        for i in integrations
    ]
    headers = ["NAME", "TYPE", "OWNER", "ASSIGNEE", "STATE", "TOPICS", "URL"]
    table(out, headers, rows)


def tokens_table(out: TextIO, tokens: Sequence[TokenInfo]) -> None:
    rows = [
        [
            t.id,
            t.name,
            when(t.created_at),
            "revoked " + when(t.revoked_at) if t.revoked_at else "active",
        ]
        for t in tokens
    ]
    table(out, ["ID", "NAME", "CREATED", "STATE"], rows)
